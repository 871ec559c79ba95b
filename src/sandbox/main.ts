/**
 * `npm run sandbox`: the Didit sandbox alone, configured from the environment.
 * A bad value stops it with one line on stderr naming the variable (never its value: some are
 * secrets); once listening it prints one line with its URL on stdout, and logs go to stderr.
 */
import { ConfigError } from '../config/env.ts';
import { loadSandboxConfig, type SandboxConfig } from '../config/sandbox.ts';
import { createSandbox } from './server.ts';

let config: SandboxConfig;
try {
  config = loadSandboxConfig(process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`sandbox: ${error.message}\n`);
  process.exit(1);
}

const logger = {
  info: (message: string) => process.stderr.write(`sandbox: ${message}\n`),
  warn: (message: string) => process.stderr.write(`sandbox: warning: ${message}\n`),
};
if (config.options.webhookUrl && !config.options.webhookSecret) {
  logger.warn('SANDBOX_WEBHOOK_URL is set without SANDBOX_WEBHOOK_SECRET: webhooks go out unsigned');
}

const sandbox = createSandbox({ ...config.options, logger });
try {
  const { url } = await sandbox.listen(config.port, config.host);
  process.stdout.write(`Didit sandbox listening on ${url}\n`);
} catch (error) {
  process.stderr.write(`sandbox: cannot listen on ${config.host}:${config.port}: ${(error as Error).message}\n`);
  process.exit(1);
}

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    // Like Didit, finish delivering the webhooks already owed (for a few seconds at most) first,
    // answering 503 meanwhile: a status change accepted now might never be announced.
    const owed = Promise.race([sandbox.drain(), new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
    void owed.then(() => sandbox.close()).then(() => process.exit(0));
  });
}
