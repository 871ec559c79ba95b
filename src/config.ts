import { ConfigError, SecretKey, variables, type Env, type Variables } from './config/env.ts';
import { readSandboxServer, type SandboxServerConfig } from './config/sandbox.ts';
import { isLoopback, parseUrl } from './lib/url.ts';

/**
 * The gateway's environment, described in one place (`loadConfig`). Pure: it reads the given
 * variables, applies defaults, and throws a `ConfigError` naming the first bad variable, never its
 * value. The readers are in `config/env.ts`; the simulator's own variables in `config/sandbox.ts`.
 */

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
  /** Authenticated WebSockets one caller may hold open at once (per instance). */
  maxSocketsPerCaller: number;
}

/** How Didit's per-minute limits are shared out among callers and gateway instances. */
export interface BudgetConfig {
  /** The part of a minute's Didit calls guaranteed to reviewers, as a fraction (0.5); applicants borrow it while reviewers leave it unused. */
  reviewerReserve: number;
  /** Longest a call waits for its turn before RATE_LIMITED (`DIDIT_QUEUE_WAIT_MS`). */
  queueWaitMs: number;
  /** Calls one caller may have waiting per endpoint on one instance (`DIDIT_QUEUE_PER_CALLER`). */
  queuePerCaller: number;
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
    /** Which Didit API: v3 with `DIDIT_API_KEY`, v1 with client credentials; in sandbox mode `SANDBOX_API_VERSION` (v3 unless told v1). */
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
    /** `DECISION_MAX_AGE_MS`: no answer rests on a copy Didit has not confirmed for longer (bounded trust). */
    maxAgeMs: number;
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
   * `POST /graphql` with a JSON body answered by the JSON fast path (http/graphql/fast-path/); false: every
   * request goes through Yoga, without the answer cache (for comparing both, or if the path is suspect).
   */
  graphqlFastPath: boolean;
  sandboxServer: SandboxServerConfig;
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
  /** Downloads one PDF link allows in its life (each is charged to whoever made it). */
  pdfLinkMaxDownloads: number;
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
  /** When set, `/metrics` is served on this port only (0: a free one), not on `port`. */
  metricsPort?: number;
  /** The audit trail (src/audit/): where it is kept, its keys, how long. */
  audit: AuditConfig;
}

export interface AuditConfig {
  /** PostgreSQL for a fleet; unset: an embedded PGlite in `dataDir`. */
  databaseUrl?: string;
  /** PGlite's folder, and where a generated AUDIT_KEY is kept outside production. */
  dataDir: string;
  /** Wraps the per-session keys of the free text and keys the hash chain; unset: generated and kept in `dataDir` (not in production). */
  key?: SecretKey;
  /** Keys the caller pseudonyms (Redis keys, PDF links, logs, applicants' records). */
  pseudonymKey?: SecretKey;
  retentionDays: number;
  /** The role (in AUTH_ROLES_CLAIM) that may read the whole trail. */
  auditorRole: string;
}

/** `TRUSTED_DOCUMENTS_MANIFESTS`: file paths, comma-separated; only with `TRUSTED_DOCUMENTS=true`. */
function manifestList(raw: string | undefined, trustedDocuments: boolean): string[] | undefined {
  if (raw === undefined) return undefined;
  const name = 'TRUSTED_DOCUMENTS_MANIFESTS';
  if (!trustedDocuments) throw new ConfigError(name, 'is set but TRUSTED_DOCUMENTS is not true: the manifests would not be used');
  const paths = raw.split(',').map((path) => path.trim());
  if (paths.some((path) => path === '')) throw new ConfigError(name, 'must be a comma-separated list of file paths, with no empty entry');
  return paths;
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
  const sandboxApi = read('SANDBOX_API_VERSION') ?? 'v3';
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
      maxAgeMs: int('DECISION_MAX_AGE_MS', 300_000, 1000, 86_400_000),
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
    pdfLinkMaxDownloads: int('PDF_LINK_MAX_DOWNLOADS', 3, 1, 100),
    redisUrl,
    redisKeyPrefix,
    budget: {
      reviewerReserve: percent('DIDIT_REVIEWER_RESERVE', 50, 0, 99),
      queueWaitMs: int('DIDIT_QUEUE_WAIT_MS', 5000, 0, 60_000),
      queuePerCaller: int('DIDIT_QUEUE_PER_CALLER', 100, 1, 10_000),
      instances: int('DIDIT_INSTANCES', 1, 1, 1000),
    },
    limits: {
      maxAliases: int('MAX_ALIASES', 15, 1, 1000),
      maxDepth: int('MAX_DEPTH', 8, 1, 100),
      maxTokens: int('MAX_TOKENS', 2000, 10, 100_000),
      maxDirectives: int('MAX_DIRECTIVES', 50, 1, 1000),
      maxBodyBytes: int('MAX_BODY_BYTES', 100_000, 1000, 10_000_000),
      maxSubscriptionsPerCaller: int('MAX_SUBSCRIPTIONS_PER_CALLER', 20, 1, 10_000),
      maxSocketsPerCaller: int('MAX_SOCKETS_PER_CALLER', 20, 1, 10_000),
      maxSessionsPerOperation: int('MAX_SESSIONS_PER_OPERATION', 100, 1, 10_000),
    },
    trustedDocuments,
    trustedDocumentManifests,
    rateLimitPerMinute: int('RATE_LIMIT_PER_MINUTE', 600, 1, 1_000_000),
    ...readMetricsAccess(vars, production, port),
    audit: readAuditConfig(vars, production, redisUrl !== undefined),
  };
}

/** DATABASE_URL, DATA_DIR, AUDIT_KEY, PSEUDONYM_KEY, AUDIT_RETENTION_DAYS, AUTH_AUDITOR_ROLE. */
function readAuditConfig({ read, int, key32 }: Variables, production: boolean, fleet: boolean): AuditConfig {
  const databaseUrl = read('DATABASE_URL');
  if (databaseUrl !== undefined) {
    const url = parseUrl(databaseUrl);
    if (!url || !/^postgres(ql)?:$/.test(url.protocol) || !url.hostname || url.pathname.length < 2) {
      throw new ConfigError('DATABASE_URL', 'must be a postgres://user@host[:port]/database URL');
    }
  } else if (fleet) {
    throw new ConfigError('DATABASE_URL', 'must be set with REDIS_URL: the instances of a fleet keep one audit trail in one PostgreSQL database');
  }
  const key = key32('AUDIT_KEY');
  if (!key && production) throw new ConfigError('AUDIT_KEY', 'must be set in production (32 random bytes, e.g. openssl rand -base64 32)');
  const pseudonymKey = key32('PSEUDONYM_KEY');
  if (!pseudonymKey && production) throw new ConfigError('PSEUDONYM_KEY', 'must be set in production (32 random bytes, the same on every instance)');
  const auditorRole = read('AUTH_AUDITOR_ROLE') ?? 'auditor';
  if (!/^[\w:.\/-]{1,100}$/.test(auditorRole) || auditorRole === 'reviewer') throw new ConfigError('AUTH_AUDITOR_ROLE', 'must be a role name (letters, digits, _ : . / -), not reviewer');
  return {
    databaseUrl,
    dataDir: read('DATA_DIR') ?? './data',
    key,
    pseudonymKey,
    retentionDays: int('AUDIT_RETENTION_DAYS', 1827, 1, 36_525),
    auditorRole,
  };
}

/**
 * Who may read `/metrics`: the bearer of `METRICS_TOKEN`, or whoever reaches `METRICS_PORT` (a
 * port of its own, kept off the public network), or both. Production needs one of them: the
 * metrics tell anyone how the gateway is used and how to hurt it.
 */
function readMetricsAccess({ read, int, secret }: Variables, production: boolean, port: number): Pick<Config, 'metricsToken' | 'metricsPort'> {
  const metricsToken = secret('METRICS_TOKEN', 16);
  const metricsPort = read('METRICS_PORT') === undefined ? undefined : int('METRICS_PORT', 0, 0, 65535);
  if (production && metricsToken === undefined && metricsPort === undefined) {
    throw new ConfigError('METRICS_TOKEN', 'or METRICS_PORT must be set in production: /metrics is not served to anyone who asks');
  }
  if (metricsPort !== undefined && metricsPort !== 0 && metricsPort === port) throw new ConfigError('METRICS_PORT', 'must differ from PORT');
  return { metricsToken, metricsPort };
}

