/**
 * `npm run sandbox`: the Didit sandbox alone, configured from the environment.
 * A bad value stops it with one line on stderr naming the variable (never its value: some are
 * secrets); once listening it prints one line with its URL on stdout, and logs go to stderr.
 */
import { createSandbox, type SandboxOptions } from './server.ts';

class ConfigError extends Error {}

function readConfig(env: NodeJS.ProcessEnv): { port: number; host: string; options: SandboxOptions } {
  const text = (name: string): string | undefined => {
    const value = env[name];
    if (value === undefined) return undefined;
    if (value.trim() === '') throw new ConfigError(`${name} must not be empty`);
    return value;
  };
  const integer = (name: string, min: number, max: number): number | undefined => {
    const value = text(name);
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < min || n > max) throw new ConfigError(`${name} must be an integer from ${min} to ${max}`);
    return n;
  };
  const httpUrl = (name: string): URL | undefined => {
    const value = text(name);
    if (value === undefined) return undefined;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new ConfigError(`${name} must be an http(s) URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`${name} must be an http(s) URL`);
    return url;
  };

  const clientId = text('SANDBOX_CLIENT_ID');
  // Basic credentials are split at the first colon, so an id with one could never log in.
  if (clientId?.includes(':')) throw new ConfigError('SANDBOX_CLIENT_ID must not contain ":"');
  const publicUrl = httpUrl('SANDBOX_PUBLIC_URL');
  // Session URLs are built as `${origin}/session/...`: a path or query would be lost or mangled.
  if (publicUrl && (publicUrl.pathname !== '/' || publicUrl.search || publicUrl.hash)) {
    throw new ConfigError('SANDBOX_PUBLIC_URL must be an origin only, such as https://sandbox.example.com');
  }
  return {
    port: integer('SANDBOX_PORT', 0, 65535) ?? 4010,
    host: text('SANDBOX_HOST') ?? '127.0.0.1',
    options: {
      clientId,
      clientSecret: text('SANDBOX_CLIENT_SECRET'),
      tokenTtlSeconds: integer('SANDBOX_TOKEN_TTL_SECONDS', 1, 31_536_000),
      webhookUrl: httpUrl('SANDBOX_WEBHOOK_URL')?.href,
      webhookSecret: text('SANDBOX_WEBHOOK_SECRET'),
      publicUrl: publicUrl?.origin,
    },
  };
}

let config: ReturnType<typeof readConfig>;
try {
  config = readConfig(process.env);
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
    void sandbox.close().then(() => process.exit(0));
  });
}
