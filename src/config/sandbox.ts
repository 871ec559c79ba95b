import { ConfigError, variables, type Env, type Variables } from './env.ts';

/** `npm run sandbox`: where the simulator listens and the options it is created with. */
export interface SandboxConfig {
  port: number;
  host: string;
  /** Options of `createSandbox` (sandbox/server.ts); the unset optional ones stay off. */
  options: {
    clientId: string;
    clientSecret: string;
    apiKey: string;
    tokenTtlSeconds: number;
    webhookUrl?: string;
    webhookSecret?: string;
    webhookRetries: number;
    webhookRetryDelayMs: number;
    /** An origin only, e.g. 'https://sandbox.example.com'. */
    publicUrl?: string;
    stateFile?: string;
    /** `SANDBOX_RATE_LIMITS`: Didit's per-key limits on the v3 API. */
    rateLimits?: boolean;
  };
}

/** The simulator's port and credentials: the gateway's sandbox mode embeds it with them. */
export interface SandboxServerConfig {
  port: number;
  clientId: string;
  clientSecret: string;
  apiKey: string;
}

/** The simulator's port and credentials, read alike by the gateway (which embeds it) and `npm run sandbox`. */
export function readSandboxServer({ read, int }: Variables): SandboxServerConfig {
  const clientId = read('SANDBOX_CLIENT_ID') ?? 'sandbox-client';
  // Basic credentials are split at the first colon, so an id with one could never log in.
  if (clientId.includes(':')) throw new ConfigError('SANDBOX_CLIENT_ID', 'must not contain ":"');
  return {
    port: int('SANDBOX_PORT', 4010, 0, 65535),
    clientId,
    clientSecret: read('SANDBOX_CLIENT_SECRET') ?? 'sandbox-secret',
    apiKey: read('SANDBOX_API_KEY') ?? 'sandbox-api-key-0123456789',
  };
}

/** The standalone sandbox's SANDBOX_* variables, with the same rules as the gateway's. */
export function loadSandboxConfig(env: Env = process.env): SandboxConfig {
  const vars = variables(env);
  const { read, int, httpUrl, bool } = vars;
  const { port, clientId, clientSecret, apiKey } = readSandboxServer(vars);
  const publicUrl = httpUrl('SANDBOX_PUBLIC_URL');
  // Session URLs are built as `${origin}/session/...`: a path or query would be lost or mangled.
  if (publicUrl && (publicUrl.pathname !== '/' || publicUrl.search || publicUrl.hash)) {
    throw new ConfigError('SANDBOX_PUBLIC_URL', 'must be an origin only, such as https://sandbox.example.com');
  }
  return {
    port,
    host: read('SANDBOX_HOST') ?? '127.0.0.1',
    options: {
      clientId,
      clientSecret,
      apiKey,
      tokenTtlSeconds: int('SANDBOX_TOKEN_TTL_SECONDS', 3600, 1, 31_536_000),
      webhookUrl: httpUrl('SANDBOX_WEBHOOK_URL')?.href,
      webhookSecret: read('SANDBOX_WEBHOOK_SECRET'),
      webhookRetries: int('SANDBOX_WEBHOOK_RETRIES', 3, 0, 100),
      webhookRetryDelayMs: int('SANDBOX_WEBHOOK_RETRY_DELAY_MS', 1000, 1, 600_000),
      publicUrl: publicUrl?.origin,
      stateFile: read('SANDBOX_STATE_FILE'),
      // Didit's per-key limits on the v3 API; off unless asked for, like the other optional options.
      rateLimits: bool('SANDBOX_RATE_LIMITS') || undefined,
    },
  };
}
