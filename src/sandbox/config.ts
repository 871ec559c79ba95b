/**
 * The sandbox's configuration from SANDBOX_* environment variables, for `npm run sandbox`.
 * Every variable is checked; unset ones take the defaults of `createSandbox`.
 */
import type { SandboxOptions } from './server.ts';

/** A variable with a value the sandbox cannot use; the message names it, never its value. */
export class ConfigError extends Error {}

export interface SandboxConfig {
  port: number;
  host: string;
  options: SandboxOptions;
}

/** Reads the SANDBOX_* variables; throws a `ConfigError` for the first bad one. */
export function readSandboxConfig(env: NodeJS.ProcessEnv): SandboxConfig {
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
      stateFile: text('SANDBOX_STATE_FILE'),
      webhookRetries: integer('SANDBOX_WEBHOOK_RETRIES', 0, 100),
      webhookRetryDelayMs: integer('SANDBOX_WEBHOOK_RETRY_DELAY_MS', 1, 600_000),
    },
  };
}
