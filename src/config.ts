import { isLoopback, parseUrl } from './lib/url.ts';

/**
 * The environment, described in one place: the gateway's (`loadConfig`) and the standalone
 * sandbox's (`loadSandboxConfig`, `npm run sandbox`). Both are pure: they read the given
 * variables, apply defaults, and throw a `ConfigError` naming the first bad variable. Messages
 * never include a variable's value, so a secret set in the wrong place is not printed.
 */

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly variable: string, problem: string) {
    super(`${variable} ${problem}`);
  }
}

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

export interface Limits {
  maxAliases: number;
  maxDepth: number;
  maxTokens: number;
  maxDirectives: number;
  maxBodyBytes: number;
  /** Distinct Didit sessions one operation may read, across all its aliases and fields. */
  maxSessionsPerOperation: number;
  /** Subscriptions one caller may hold open at once (per instance). */
  maxSubscriptionsPerCaller: number;
}

/** How Didit's per-minute limits are shared out among callers and gateway instances. */
export interface BudgetConfig {
  /** The most of a minute's Didit calls (per endpoint) one caller may cause, as a fraction (0.2). */
  callerShare: number;
  /** The part of a minute's Didit calls only reviewers may use, as a fraction (0.5). */
  reviewerReserve: number;
  /** Instances in the fleet: without Redis (or while it is away) each takes limit / instances. */
  instances: number;
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
    /** Which Didit API: v3 with `DIDIT_API_KEY`, v1 with client credentials (and in sandbox mode unless `SANDBOX_API_VERSION=v3`). */
    api: 'v1' | 'v3';
    /** v1: client credentials and the token origin. */
    clientId: string;
    clientSecret: string;
    authUrl: string;
    /** v3: the API key, and the workflow `createSession` runs when the caller names none. */
    apiKey: string;
    defaultWorkflowId?: string;
    apiUrl: string;
    connectTimeoutMs: number;
    headersTimeoutMs: number;
    bodyTimeoutMs: number;
    maxRetries: number;
    /** Didit's published limits: our own pace, for the whole fleet with Redis (see `budget`). */
    decisionsPerMinute: number;
    pdfsPerMinute: number;
    /** Upstream calls in flight at once; more wait in a bounded queue. */
    maxConcurrentCalls: number;
  };
  decisionCache: {
    /** Freshness in this process: sessions still moving, and finished ones. */
    ttlActiveMs: number;
    ttlFinalMs: number;
    max: number;
    /** How long Didit's "no such session" is believed (0: never). */
    notFoundTtlMs: number;
    /** Freshness of a finished session in the shared level (Redis); webhooks drop it on change. */
    sharedTtlMs: number;
    /** How old a copy may be and still answer while Didit is down or limiting us (0: never). */
    staleIfErrorMs: number;
    /** Longest a decision with media links of unreadable lifetime is kept (Didit's presigned links live about an hour). */
    mediaTtlMs: number;
    /** AES-256-GCM key of the shared level; without it the shared level is off. */
    key?: SecretKey;
  };
  /**
   * Query answers kept per caller for repeated reads (0: off); they live no longer than their
   * decisions. Kept and served by the JSON fast path only.
   */
  responseCacheMax: number;
  /**
   * `POST /graphql` with a JSON body answered by the JSON fast path (fast-path.ts); false: every
   * request goes through Yoga, without the answer cache (for comparing both, or if the path is suspect).
   */
  graphqlFastPath: boolean;
  sandboxServer: { port: number; clientId: string; clientSecret: string; apiKey: string };
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
  /** Put in front of every Redis key and channel the gateway uses, so that several deployments can share one Redis. */
  redisKeyPrefix: string;
  budget: BudgetConfig;
  limits: Limits;
  /** Only the documents in the persisted-operations manifests may run. */
  trustedDocuments: boolean;
  /**
   * The manifests (`{ "<hash>": "<document>" }`, as GraphQL Code Generator's client preset writes
   * them) whose documents may run; undefined: the repository's own. Read at start, not here.
   */
  trustedDocumentManifests?: string[];
  /** GraphQL operations one caller may run per minute (Didit calls are budgeted apart, see `budget`). */
  rateLimitPerMinute: number;
  /** When set, `/metrics` answers only `Authorization: Bearer <this>`. */
  metricsToken?: string;
}

type Env = Record<string, string | undefined>;

/** Key bytes that print as `[secret]` in logs, JSON and `util.inspect`, never as their value. */
export class SecretKey {
  readonly #bytes: Buffer;
  constructor(bytes: Buffer) {
    this.#bytes = bytes;
  }
  bytes(): Buffer {
    return this.#bytes;
  }
  toJSON() {
    return '[secret]';
  }
  [Symbol.for('nodejs.util.inspect.custom')]() {
    return '[secret]';
  }
}

/**
 * Readers of one environment's variables, shared by the gateway's and the sandbox's schema.
 * A variable that is empty or only whitespace counts as unset and takes its default (a compose
 * file's `FOO=` or an emptied `.env` line should not stop a process), and values are trimmed.
 */
function variables(env: Env) {
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

  const httpUrl = (name: string, fallback?: string): URL | undefined => {
    const raw = read(name) ?? fallback;
    if (raw === undefined) return undefined;
    const url = parseUrl(raw);
    if (url?.protocol !== 'http:' && url?.protocol !== 'https:') throw new ConfigError(name, 'must be an http(s) URL');
    return url;
  };

  const origin = (name: string, fallback?: string): string | undefined => {
    const url = httpUrl(name, fallback);
    if (url?.username || url?.password) throw new ConfigError(name, 'must be an http(s) URL without credentials');
    return url?.origin;
  };

  const secret = (name: string, minLength: number): string | undefined => {
    const value = read(name);
    if (value !== undefined && value.length < minLength) {
      throw new ConfigError(name, `must be at least ${minLength} characters long`);
    }
    return value;
  };

  /** 32 bytes written as 64 hex digits or as base64 (standard or URL-safe). */
  const key32 = (name: string): SecretKey | undefined => {
    const raw = read(name);
    if (raw === undefined) return undefined;
    const bytes = /^[0-9a-f]{64}$/i.test(raw) ? Buffer.from(raw, 'hex') : /^[A-Za-z0-9+/_-]{43}=?$/.test(raw) ? Buffer.from(raw, 'base64') : undefined;
    if (bytes?.length !== 32) throw new ConfigError(name, 'must be 32 bytes written as 64 hex digits or as base64 (e.g. openssl rand -base64 32)');
    return new SecretKey(bytes);
  };

  /** A whole percentage such as `20` or `20%`, returned as a fraction. */
  const percent = (name: string, fallback: number, min: number, max: number): number => {
    const raw = read(name)?.replace(/\s*%$/, '');
    if (raw === undefined) return fallback / 100;
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      throw new ConfigError(name, `must be a whole percentage from ${min} to ${max}`);
    }
    return Number(raw) / 100;
  };

  const bool = (name: string): boolean => {
    const raw = read(name)?.toLowerCase();
    if (raw === undefined) return false;
    if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
    if (['0', 'false', 'no', 'off'].includes(raw)) return false;
    throw new ConfigError(name, 'must be true or false');
  };

  return { read, int, httpUrl, origin, secret, key32, percent, bool };
}

type Variables = ReturnType<typeof variables>;

/** `TRUSTED_DOCUMENTS_MANIFESTS`: file paths, comma-separated; only with `TRUSTED_DOCUMENTS=true`. */
function manifestList(raw: string | undefined, trustedDocuments: boolean): string[] | undefined {
  if (raw === undefined) return undefined;
  const name = 'TRUSTED_DOCUMENTS_MANIFESTS';
  if (!trustedDocuments) throw new ConfigError(name, 'is set but TRUSTED_DOCUMENTS is not true: the manifests would not be used');
  const paths = raw.split(',').map((path) => path.trim());
  if (paths.some((path) => path === '')) throw new ConfigError(name, 'must be a comma-separated list of file paths, with no empty entry');
  return paths;
}

/** The simulator's port and credentials, read alike by the gateway (which embeds it) and `npm run sandbox`. */
function readSandboxServer({ read, int }: Variables): Config['sandboxServer'] {
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

export function loadConfig(env: Env = process.env): Config {
  const vars = variables(env);
  const { read, int, origin, secret, key32, percent, bool } = vars;

  const port = int('PORT', 4000, 0, 65535);
  const trustedDocuments = bool('TRUSTED_DOCUMENTS');
  const trustedDocumentManifests = manifestList(read('TRUSTED_DOCUMENTS_MANIFESTS'), trustedDocuments);
  const host = read('HOST') ?? '0.0.0.0';
  const publicUrl = origin('PUBLIC_URL', `http://localhost:${port}`)!;
  const production = read('NODE_ENV') === 'production';

  const clientId = read('DIDIT_CLIENT_ID');
  const clientSecret = read('DIDIT_CLIENT_SECRET');
  if ((clientId === undefined) !== (clientSecret === undefined)) {
    const missing = clientId === undefined ? 'DIDIT_CLIENT_ID' : 'DIDIT_CLIENT_SECRET';
    throw new ConfigError(missing, 'must be set together with the other Didit credential (set both, or neither for sandbox mode)');
  }
  const apiKey = secret('DIDIT_API_KEY', 16);
  if (apiKey !== undefined && clientId !== undefined) {
    throw new ConfigError('DIDIT_API_KEY', 'and DIDIT_CLIENT_ID/DIDIT_CLIENT_SECRET are both set: set the API key for Didit v3, or the client credentials for v1, not both');
  }
  const sandbox = clientId === undefined && apiKey === undefined;
  const sandboxApi = read('SANDBOX_API_VERSION') ?? 'v1';
  if (sandboxApi !== 'v1' && sandboxApi !== 'v3') throw new ConfigError('SANDBOX_API_VERSION', 'must be v1 or v3');
  const defaultWorkflowId = read('DIDIT_WORKFLOW_ID');
  if (defaultWorkflowId !== undefined && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(defaultWorkflowId)) {
    throw new ConfigError('DIDIT_WORKFLOW_ID', 'must be a workflow id (a UUID)');
  }
  // A production deployment that lost its credentials must not quietly serve made-up decisions.
  if (sandbox && production) {
    throw new ConfigError(
      'DIDIT_CLIENT_ID',
      'is not set: Didit credentials (DIDIT_API_KEY, or DIDIT_CLIENT_ID and DIDIT_CLIENT_SECRET) must be set in production; sandbox mode is for development',
    );
  }

  const sandboxServer = readSandboxServer(vars);

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
  const redisKeyPrefix = read('REDIS_KEY_PREFIX') ?? 'didit-gateway:';
  if (!/^[\w:.{}-]{1,100}$/.test(redisKeyPrefix)) {
    throw new ConfigError('REDIS_KEY_PREFIX', 'must be 1 to 100 letters, digits or _ : . - { }');
  }

  return {
    port,
    host,
    publicUrl,
    production,
    logLevel,
    sandbox,
    didit: {
      api: apiKey !== undefined || (sandbox && sandboxApi === 'v3') ? 'v3' : 'v1',
      clientId: clientId ?? sandboxServer.clientId,
      clientSecret: clientSecret ?? sandboxServer.clientSecret,
      apiKey: apiKey ?? sandboxServer.apiKey,
      defaultWorkflowId,
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
      notFoundTtlMs: int('NOT_FOUND_TTL_MS', 30_000, 0, 3_600_000),
      sharedTtlMs: int('DECISION_CACHE_SHARED_TTL_MS', 86_400_000, 0, 7 * 86_400_000),
      staleIfErrorMs: int('DECISION_CACHE_STALE_IF_ERROR_MS', 86_400_000, 0, 7 * 86_400_000),
      mediaTtlMs: int('DECISION_CACHE_MEDIA_TTL_MS', 50 * 60_000, 0, 86_400_000),
      key: key32('DECISION_CACHE_KEY'),
    },
    responseCacheMax: int('RESPONSE_CACHE_MAX', 10_000, 0, 1_000_000),
    graphqlFastPath: read('GRAPHQL_FAST_PATH') === undefined || bool('GRAPHQL_FAST_PATH'),
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
    redisKeyPrefix,
    budget: {
      callerShare: percent('DIDIT_CALLER_SHARE', 20, 1, 100),
      reviewerReserve: percent('DIDIT_REVIEWER_RESERVE', 50, 0, 99),
      instances: int('DIDIT_INSTANCES', 1, 1, 1000),
    },
    limits: {
      maxAliases: int('MAX_ALIASES', 15, 1, 1000),
      maxDepth: int('MAX_DEPTH', 8, 1, 100),
      maxTokens: int('MAX_TOKENS', 2000, 10, 100_000),
      maxDirectives: int('MAX_DIRECTIVES', 50, 1, 1000),
      maxBodyBytes: int('MAX_BODY_BYTES', 100_000, 1000, 10_000_000),
      maxSubscriptionsPerCaller: int('MAX_SUBSCRIPTIONS_PER_CALLER', 20, 1, 10_000),
      maxSessionsPerOperation: int('MAX_SESSIONS_PER_OPERATION', 100, 1, 10_000),
    },
    trustedDocuments,
    trustedDocumentManifests,
    rateLimitPerMinute: int('RATE_LIMIT_PER_MINUTE', 600, 1, 1_000_000),
    metricsToken: secret('METRICS_TOKEN', 16),
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
