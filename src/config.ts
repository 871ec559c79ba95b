import { isLoopback, parseUrl } from './lib/url.ts';

/**
 * The gateway's whole environment, described in one place. `loadConfig(env)` is pure: it reads
 * the given variables, applies defaults, and throws a `ConfigError` naming the first bad variable.
 * Messages never include a variable's value, so a secret set in the wrong place is not printed.
 */

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly variable: string, problem: string) {
    super(`${variable} ${problem}`);
  }
}

export interface Limits {
  maxAliases: number;
  maxDepth: number;
  maxTokens: number;
  maxDirectives: number;
  maxBodyBytes: number;
}

export interface Config {
  port: number;
  host: string;
  publicUrl: string;
  production: boolean;
  logLevel: string;
  /** No Didit credentials: the simulator runs in-process and the gateway talks to it. */
  sandbox: boolean;
  didit: {
    clientId: string;
    clientSecret: string;
    authUrl: string;
    apiUrl: string;
    connectTimeoutMs: number;
    headersTimeoutMs: number;
    bodyTimeoutMs: number;
    maxRetries: number;
    /** Our own pace, per instance, so as not to trip Didit's published limits. */
    decisionsPerMinute: number;
    pdfsPerMinute: number;
    /** Upstream calls in flight at once; more wait in a bounded queue. */
    maxConcurrentCalls: number;
  };
  decisionCache: { ttlActiveMs: number; ttlFinalMs: number; max: number };
  /** Query answers kept per caller for repeated reads (0: off); they live no longer than their decisions. */
  responseCacheMax: number;
  sandboxServer: { port: number; clientId: string; clientSecret: string };
  /** Secrets that may sign Didit webhooks; several during a rotation. Empty: webhooks are refused. */
  webhookSecrets: string[];
  auth: {
    jwtSecret?: string;
    jwksUrl?: string;
    issuer?: string;
    audience?: string;
    rolesClaim: string;
  };
  /** Origins (`scheme://host[:port]`) that `createSession.callback` may point to. */
  callbackAllowedOrigins: string[];
  /** Origins whose pages may call the gateway from a browser: a list, or '*' for any. */
  corsOrigins: string[] | '*';
  pdfLinkSecret?: string;
  pdfLinkTtlSeconds: number;
  redisUrl?: string;
  limits: Limits;
  /** Only the documents in the persisted-operations manifest may run. */
  trustedDocuments: boolean;
  /** GraphQL operations one caller may run per minute. */
  rateLimitPerMinute: number;
  /** When set, `/metrics` answers only `Authorization: Bearer <this>`. */
  metricsToken?: string;
}

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env): Config {
  const read = (name: string) => {
    const value = env[name]?.trim();
    return value === '' ? undefined : value;
  };

  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = read(name);
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      throw new ConfigError(name, `must be a whole number from ${min} to ${max}`);
    }
    return Number(raw);
  };

  const origin = (name: string, fallback?: string): string | undefined => {
    const raw = read(name) ?? fallback;
    if (raw === undefined) return undefined;
    const url = parseUrl(raw);
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password) {
      throw new ConfigError(name, 'must be an http(s) URL without credentials');
    }
    return url.origin;
  };

  const secret = (name: string, minLength: number): string | undefined => {
    const value = read(name);
    if (value !== undefined && value.length < minLength) {
      throw new ConfigError(name, `must be at least ${minLength} characters long`);
    }
    return value;
  };

  const bool = (name: string): boolean => {
    const raw = read(name)?.toLowerCase();
    if (raw === undefined) return false;
    if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
    if (['0', 'false', 'no', 'off'].includes(raw)) return false;
    throw new ConfigError(name, 'must be true or false');
  };

  const port = int('PORT', 4000, 0, 65535);
  const host = read('HOST') ?? '0.0.0.0';
  const publicUrl = origin('PUBLIC_URL', `http://localhost:${port}`)!;
  const production = read('NODE_ENV') === 'production';

  const clientId = read('DIDIT_CLIENT_ID');
  const clientSecret = read('DIDIT_CLIENT_SECRET');
  if ((clientId === undefined) !== (clientSecret === undefined)) {
    const missing = clientId === undefined ? 'DIDIT_CLIENT_ID' : 'DIDIT_CLIENT_SECRET';
    throw new ConfigError(missing, 'must be set together with the other Didit credential (set both, or neither for sandbox mode)');
  }
  const sandbox = clientId === undefined;
  // A production deployment that lost its credentials must not quietly serve made-up decisions.
  if (sandbox && production) {
    throw new ConfigError(
      'DIDIT_CLIENT_ID',
      'is not set: Didit credentials (DIDIT_API_KEY, or DIDIT_CLIENT_ID and DIDIT_CLIENT_SECRET) must be set in production; sandbox mode is for development',
    );
  }

  const sandboxServer = {
    port: int('SANDBOX_PORT', 4010, 0, 65535),
    clientId: read('SANDBOX_CLIENT_ID') ?? 'sandbox-client',
    clientSecret: read('SANDBOX_CLIENT_SECRET') ?? 'sandbox-secret',
  };

  const logLevel = read('LOG_LEVEL') ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new ConfigError('LOG_LEVEL', 'must be one of fatal, error, warn, info, debug, trace, silent');
  }

  const jwtSecret = secret('AUTH_JWT_SECRET', 32);
  const jwksUrl = read('AUTH_JWKS_URL');
  if (jwksUrl !== undefined) {
    const url = parseUrl(jwksUrl);
    if (!url || (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname)))) {
      throw new ConfigError('AUTH_JWKS_URL', 'must be an https URL (http only on localhost)');
    }
  }
  if (!sandbox && !jwtSecret && !jwksUrl) {
    throw new ConfigError('AUTH_JWT_SECRET', 'or AUTH_JWKS_URL must be set outside sandbox mode: callers cannot be verified otherwise');
  }
  const rolesClaim = read('AUTH_ROLES_CLAIM') ?? 'roles';

  /** A comma-separated list of exact origins (scheme, host, port and nothing more). */
  const origins = (name: string) =>
    (read(name) ?? '')
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean)
      .map((entry) => {
        const url = parseUrl(entry);
        // An origin and nothing more: a path, query or credentials would make "exact match" ambiguous.
        if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.origin !== entry.replace(/\/$/, '')) {
          throw new ConfigError(name, 'must be a comma-separated list of origins such as https://app.example.com');
        }
        return url.origin;
      });
  const callbackAllowedOrigins = origins('CALLBACK_ALLOWED_ORIGINS');
  // Browsers on other origins: any while developing, none in production unless listed.
  const corsSetting = read('CORS_ORIGINS')?.trim();
  const corsOrigins = corsSetting === '*' || (corsSetting === undefined && !production) ? '*' : origins('CORS_ORIGINS');

  const webhookSecrets = (read('DIDIT_WEBHOOK_SECRET') ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);

  const redisUrl = read('REDIS_URL');
  if (redisUrl !== undefined && !/^rediss?:$/.test(parseUrl(redisUrl)?.protocol ?? '')) {
    throw new ConfigError('REDIS_URL', 'must be a redis:// or rediss:// URL');
  }

  return {
    port,
    host,
    publicUrl,
    production,
    logLevel,
    sandbox,
    didit: {
      clientId: clientId ?? sandboxServer.clientId,
      clientSecret: clientSecret ?? sandboxServer.clientSecret,
      authUrl: origin('DIDIT_AUTH_URL', 'https://apx.didit.me')!,
      apiUrl: origin('DIDIT_API_URL', 'https://verification.didit.me')!,
      connectTimeoutMs: int('DIDIT_CONNECT_TIMEOUT_MS', 5000, 1, 120_000),
      headersTimeoutMs: int('DIDIT_HEADERS_TIMEOUT_MS', 15_000, 1, 300_000),
      bodyTimeoutMs: int('DIDIT_BODY_TIMEOUT_MS', 30_000, 1, 300_000),
      maxRetries: int('DIDIT_MAX_RETRIES', 4, 0, 10),
      decisionsPerMinute: int('DIDIT_DECISIONS_PER_MINUTE', 100, 1, 10_000_000),
      pdfsPerMinute: int('DIDIT_PDFS_PER_MINUTE', 50, 1, 10_000_000),
      maxConcurrentCalls: int('DIDIT_MAX_CONCURRENT_CALLS', 64, 1, 10_000),
    },
    decisionCache: {
      ttlActiveMs: int('DECISION_CACHE_TTL_ACTIVE_MS', 2000, 0, 3_600_000),
      ttlFinalMs: int('DECISION_CACHE_TTL_FINAL_MS', 60_000, 0, 86_400_000),
      max: int('DECISION_CACHE_MAX', 5000, 1, 1_000_000),
    },
    responseCacheMax: int('RESPONSE_CACHE_MAX', 10_000, 0, 1_000_000),
    sandboxServer,
    webhookSecrets,
    auth: {
      jwtSecret,
      jwksUrl,
      issuer: read('AUTH_ISSUER'),
      audience: read('AUTH_AUDIENCE'),
      rolesClaim,
    },
    callbackAllowedOrigins,
    corsOrigins,
    pdfLinkSecret: secret('PDF_LINK_SECRET', 32),
    pdfLinkTtlSeconds: int('PDF_LINK_TTL_SECONDS', 300, 10, 3600),
    redisUrl,
    limits: {
      maxAliases: int('MAX_ALIASES', 15, 1, 1000),
      maxDepth: int('MAX_DEPTH', 8, 1, 100),
      maxTokens: int('MAX_TOKENS', 2000, 10, 100_000),
      maxDirectives: int('MAX_DIRECTIVES', 50, 1, 1000),
      maxBodyBytes: int('MAX_BODY_BYTES', 100_000, 1000, 10_000_000),
    },
    trustedDocuments: bool('TRUSTED_DOCUMENTS'),
    rateLimitPerMinute: int('RATE_LIMIT_PER_MINUTE', 600, 1, 1_000_000),
    metricsToken: secret('METRICS_TOKEN', 16),
  };
}
