import { loadConfig, type Config } from './config.ts';
import { ConfigError } from './config/env.ts';
import { startGateway } from './gateway.ts';
import { startTracing, type Tracing } from './tracing-sdk.ts';

/** How long in-flight requests may run on after SIGTERM before their connections are cut. */
const DRAIN_GRACE_MS = 10_000;

let config: Config;
let tracing: Tracing | undefined;
try {
  config = loadConfig(process.env);
  // Before the gateway is built, so that its parts see tracing on (OTEL_* variables; off without an endpoint).
  tracing = await startTracing(process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  // One line that names the variable; values are never printed.
  process.stderr.write(`Configuration error: ${error.message}\n`);
  process.exit(1);
}

const gateway = await startGateway(config).catch((error: NodeJS.ErrnoException) => {
  // What is read at start (trusted-document manifests) fails like the environment: one line.
  if (error instanceof ConfigError) {
    process.stderr.write(`Configuration error: ${error.message}\n`);
    process.exit(1);
  }
  if (error.code !== 'EADDRINUSE' && error.code !== 'EACCES') throw error;
  // Which of the two ports: the error names the one it could not take.
  const port = (error as { port?: number }).port;
  const variable =
    config.sandbox && port === config.sandboxServer.port && port !== config.port ? 'SANDBOX_PORT' : port === config.metricsPort && port !== config.port ? 'METRICS_PORT' : 'PORT';
  process.stderr.write(`Cannot listen on port ${port}: ${error.code === 'EADDRINUSE' ? 'already in use' : 'not allowed'} (set ${variable})\n`);
  process.exit(1);
});
const { log } = gateway;
log.info(
  { mode: config.sandbox ? 'sandbox' : 'didit', diditOrigin: config.sandbox ? gateway.sandbox?.url : config.didit.apiUrl, listening: gateway.url, redis: Boolean(config.redisUrl) },
  'gateway started',
);

if (gateway.sandbox) {
  const lines = [
    '',
    '  Didit gateway — SANDBOX MODE (no DIDIT_API_KEY or DIDIT_CLIENT_ID / DIDIT_CLIENT_SECRET set)',
    `  Didit API:       ${config.didit.api}${config.didit.api === 'v3' ? '   (SANDBOX_API_VERSION=v1 for v1)' : ''}`,
    `  GraphiQL:        ${config.publicUrl}/graphql${gateway.demoTokens ? '   (signed in as a reviewer)' : ''}`,
    `  Didit sandbox:   ${gateway.sandbox.url}   (create a session, open its url, pick an outcome)`,
    ...(gateway.demoTokens
      ? [
          `  Applicant token: ${gateway.demoTokens.applicant}`,
          `  Reviewer token:  ${gateway.demoTokens.reviewer}`,
          '  Send them as:    Authorization: Bearer <token>   (valid 24 h, this process only)',
        ]
      : ['  Callers:         tokens signed with your AUTH_JWT_SECRET or identity provider (none printed)']),
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

// Nothing should reach these; if something does, an operator must hear of it (soak runs count them).
process.on('unhandledRejection', (reason) => log.error({ err: reason }, 'unhandled rejection'));

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) {
      log.warn('second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'draining');
    // Whatever hangs (a connection, Redis), the process is gone shortly after the grace period.
    setTimeout(() => {
      log.error('drain deadline passed: exiting');
      log.flush();
      process.exit(1);
    }, DRAIN_GRACE_MS + 5000).unref();
    gateway.close(DRAIN_GRACE_MS).then(() => tracing?.shutdown()).then(
      () => {
        log.info('stopped');
        log.flush();
        process.exit(0);
      },
      (error: unknown) => {
        log.error({ err: error }, 'error while stopping');
        process.exit(1);
      },
    );
  });
}
