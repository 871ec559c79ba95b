import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { ConfigError } from '../src/config/env.ts';
import { loadSandboxConfig } from '../src/config/sandbox.ts';

const DIDIT = { DIDIT_CLIENT_ID: 'id', DIDIT_CLIENT_SECRET: 'super-secret-value', AUTH_JWT_SECRET: 'j'.repeat(40) };
/** What production requires besides Didit: the audit trail's and the pseudonyms' keys. */
const KEYS = { AUDIT_KEY: 'c'.repeat(64), PSEUDONYM_KEY: 'd'.repeat(64) };

function refusal(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('runs in sandbox mode with nothing set, with the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      sandbox: true,
      port: 4000,
      host: '0.0.0.0',
      publicUrl: 'http://localhost:4000',
      production: false,
      didit: { authUrl: 'https://apx.didit.me', apiUrl: 'https://verification.didit.me', clientId: 'sandbox-client' },
      sandboxServer: { port: 4010 },
      auth: { rolesClaim: 'roles' },
      limits: { maxAliases: 15, maxDepth: 8, maxTokens: 2000, maxDirectives: 50, maxBodyBytes: 100_000 },
      pdfLinkTtlSeconds: 300,
      trustedDocuments: false,
      graphqlFastPath: true,
    });
    expect(loadConfig({ GRAPHQL_FAST_PATH: 'false' }).graphqlFastPath).toBe(false);
  });

  it('shares Didit out by the documented defaults, and takes percentages with or without %', () => {
    expect(loadConfig({})).toMatchObject({
      budget: { reviewerReserve: 0.5, instances: 1, queueWaitMs: 5000, queuePerCaller: 100 },
      pdfLinkMaxDownloads: 3,
      redisKeyPrefix: 'didit-gateway:',
      limits: { maxSessionsPerOperation: 100 },
      didit: { decisionsPerMinute: 100, pdfsPerMinute: 50 },
    });
    const set = loadConfig({ DIDIT_REVIEWER_RESERVE: '25%', DIDIT_INSTANCES: '3', DIDIT_QUEUE_WAIT_MS: '0', DIDIT_QUEUE_PER_CALLER: '7', REDIS_KEY_PREFIX: 'staging:' });
    expect(set).toMatchObject({ budget: { reviewerReserve: 0.25, instances: 3, queueWaitMs: 0, queuePerCaller: 7 }, redisKeyPrefix: 'staging:' });
    expect(loadConfig({ DIDIT_REVIEWER_RESERVE: '0' }).budget.reviewerReserve).toBe(0);
  });

  it('talks to Didit when both credentials are set', () => {
    const config = loadConfig({ ...DIDIT, CALLBACK_ALLOWED_ORIGINS: 'https://app.example.com, https://admin.example.com:8443', DIDIT_WEBHOOK_SECRET: 'new,old' });
    expect(config.sandbox).toBe(false);
    expect(config.callbackAllowedOrigins).toEqual(['https://app.example.com', 'https://admin.example.com:8443']);
    expect(config.webhookSecrets).toEqual(['new', 'old']);
  });

  it('picks the Didit API from the credentials: an API key speaks v3, client credentials v1, sandbox mode v3 unless told', () => {
    const key = { DIDIT_API_KEY: 'k'.repeat(32), AUTH_JWT_SECRET: 'x'.repeat(32) };
    expect(loadConfig(key).didit).toMatchObject({ api: 'v3', apiKey: key.DIDIT_API_KEY });
    expect(loadConfig(key).sandbox).toBe(false);
    expect(loadConfig({ ...DIDIT, AUTH_JWT_SECRET: 'x'.repeat(32) }).didit.api).toBe('v1');
    expect(loadConfig({}).didit).toMatchObject({ api: 'v3', apiKey: 'sandbox-api-key-0123456789' });
    expect(loadConfig({ SANDBOX_API_VERSION: 'v1' }).didit).toMatchObject({ api: 'v1', clientId: 'sandbox-client' });
    expect(loadConfig({ ...key, DIDIT_WORKFLOW_ID: 'A2B4C6D8-1234-4ABC-8DEF-0123456789AB' }).didit.defaultWorkflowId).toBe('A2B4C6D8-1234-4ABC-8DEF-0123456789AB');
  });

  it.each([
    [{ DIDIT_API_KEY: 'k'.repeat(32), DIDIT_CLIENT_ID: 'id', DIDIT_CLIENT_SECRET: 'secret-value' }, 'DIDIT_API_KEY'],
    [{ DIDIT_API_KEY: 'short' }, 'DIDIT_API_KEY'],
    [{ SANDBOX_API_VERSION: 'v2' }, 'SANDBOX_API_VERSION'],
    [{ DIDIT_WORKFLOW_ID: 'kyc-basic' }, 'DIDIT_WORKFLOW_ID'],
  ])('refuses %j naming %s in one line', (env, variable) => {
    const { message } = refusal(env);
    expect(message).toMatch(new RegExp(`^${variable}[^\\n]*$`));
    for (const value of Object.values(env)) if (value.length > 8) expect(message).not.toContain(value);
  });

  it('reads the decision cache settings, and never shows the key', () => {
    expect(loadConfig({}).decisionCache).toMatchObject({ notFoundTtlMs: 30_000, sharedTtlMs: 86_400_000, staleIfErrorMs: 86_400_000, key: undefined });
    expect(loadConfig({}).redisKeyPrefix).toBe('didit-gateway:');
    const bytes = randomBytes(32);
    for (const written of [bytes.toString('hex'), bytes.toString('base64'), bytes.toString('base64url')]) {
      const config = loadConfig({ DECISION_CACHE_KEY: written, REDIS_KEY_PREFIX: 'staging:' });
      expect(config.decisionCache.key!.bytes()).toEqual(bytes);
      expect(config.redisKeyPrefix).toBe('staging:');
      for (const shown of [JSON.stringify(config), inspect(config, { depth: 10 })]) {
        expect(shown).not.toContain(written);
        expect(shown).toContain('[secret]');
      }
    }
  });

  it('lets browsers on any origin call while developing, none in production unless listed', () => {
    expect(loadConfig({}).corsOrigins).toBe('*');
    const production = { ...DIDIT, ...KEYS, NODE_ENV: 'production', AUTH_JWT_SECRET: 'x'.repeat(32), METRICS_PORT: '9464' };
    expect(loadConfig(production).corsOrigins).toEqual([]);
    expect(loadConfig({ ...production, CORS_ORIGINS: 'https://app.example.com' }).corsOrigins).toEqual(['https://app.example.com']);
    expect(loadConfig({ ...production, CORS_ORIGINS: '*' }).corsOrigins).toBe('*');
  });

  it.each([
    [{ DIDIT_CLIENT_ID: 'id' }, 'DIDIT_CLIENT_SECRET'],
    [{ DIDIT_CLIENT_SECRET: 'super-secret-value' }, 'DIDIT_CLIENT_ID'],
    [{ DIDIT_CLIENT_ID: 'id', DIDIT_CLIENT_SECRET: 'super-secret-value' }, 'AUTH_JWT_SECRET'],
    [{ NODE_ENV: 'production', AUTH_JWT_SECRET: 'x'.repeat(40), CALLBACK_ALLOWED_ORIGINS: 'https://app.example.com' }, 'DIDIT_CLIENT_ID'],
    [{ PORT: '99999' }, 'PORT'],
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PUBLIC_URL: 'ftp://x' }, 'PUBLIC_URL'],
    [{ DIDIT_API_URL: 'https://user:super-secret-value@x.com' }, 'DIDIT_API_URL'],
    [{ AUTH_JWT_SECRET: 'super-secret-value' }, 'AUTH_JWT_SECRET'],
    [{ AUTH_JWKS_URL: 'http://idp.example.com/jwks' }, 'AUTH_JWKS_URL'],
    [{ CALLBACK_ALLOWED_ORIGINS: 'https://ok.com/path' }, 'CALLBACK_ALLOWED_ORIGINS'],
    [{ CORS_ORIGINS: 'app.example.com' }, 'CORS_ORIGINS'],
    [{ REDIS_URL: 'http://localhost' }, 'REDIS_URL'],
    [{ PDF_LINK_SECRET: 'short' }, 'PDF_LINK_SECRET'],
    [{ TRUSTED_DOCUMENTS: 'maybe' }, 'TRUSTED_DOCUMENTS'],
    [{ GRAPHQL_FAST_PATH: 'fast' }, 'GRAPHQL_FAST_PATH'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ MAX_DEPTH: '0' }, 'MAX_DEPTH'],
    [{ SANDBOX_CLIENT_ID: 'has:colon' }, 'SANDBOX_CLIENT_ID'],
    [{ DECISION_CACHE_KEY: 'super-secret-value' }, 'DECISION_CACHE_KEY'],
    [{ DECISION_CACHE_KEY: `super-secret-value${'0'.repeat(46)}` }, 'DECISION_CACHE_KEY'],
    [{ DECISION_CACHE_KEY: Buffer.alloc(31).toString('base64') }, 'DECISION_CACHE_KEY'],
    [{ REDIS_KEY_PREFIX: 'has space:' }, 'REDIS_KEY_PREFIX'],
    [{ NOT_FOUND_TTL_MS: '-1' }, 'NOT_FOUND_TTL_MS'],
    [{ DECISION_CACHE_STALE_IF_ERROR_MS: 'long' }, 'DECISION_CACHE_STALE_IF_ERROR_MS'],
    [{ MAX_SESSIONS_PER_OPERATION: '0' }, 'MAX_SESSIONS_PER_OPERATION'],
    [{ DIDIT_REVIEWER_RESERVE: '0.2' }, 'DIDIT_REVIEWER_RESERVE'],
    [{ DIDIT_QUEUE_WAIT_MS: '60001' }, 'DIDIT_QUEUE_WAIT_MS'],
    [{ DIDIT_QUEUE_PER_CALLER: '0' }, 'DIDIT_QUEUE_PER_CALLER'],
    [{ PDF_LINK_MAX_DOWNLOADS: '0' }, 'PDF_LINK_MAX_DOWNLOADS'],
    [{ DIDIT_REVIEWER_RESERVE: '100' }, 'DIDIT_REVIEWER_RESERVE'],
    [{ DIDIT_INSTANCES: '0' }, 'DIDIT_INSTANCES'],
    [{ REDIS_KEY_PREFIX: 'has space:' }, 'REDIS_KEY_PREFIX'],
  ])('refuses %j naming %s, without printing any value', (env, variable) => {
    const error = refusal(env as Record<string, string>);
    expect(error.variable).toBe(variable);
    expect(error.message.startsWith(variable)).toBe(true);
    expect(error.message).not.toContain('super-secret-value');
  });
});

describe('loadSandboxConfig', () => {
  it('uses the documented defaults when nothing is set', () => {
    expect(loadSandboxConfig({})).toEqual({
      port: 4010,
      host: '127.0.0.1',
      options: {
        clientId: 'sandbox-client',
        clientSecret: 'sandbox-secret',
        apiKey: 'sandbox-api-key-0123456789',
        tokenTtlSeconds: 3600,
        webhookRetries: 3,
        webhookRetryDelayMs: 1000,
      },
    });
  });

  it('reads every variable', () => {
    const config = loadSandboxConfig({
      SANDBOX_PORT: '0',
      SANDBOX_HOST: '0.0.0.0',
      SANDBOX_CLIENT_ID: 'id',
      SANDBOX_CLIENT_SECRET: 'se:cret',
      SANDBOX_API_KEY: 'key-1',
      SANDBOX_RATE_LIMITS: 'true',
      SANDBOX_TOKEN_TTL_SECONDS: '60',
      SANDBOX_WEBHOOK_URL: 'http://localhost:4000/webhooks/didit',
      SANDBOX_WEBHOOK_SECRET: 'wh',
      SANDBOX_WEBHOOK_RETRIES: '0',
      SANDBOX_WEBHOOK_RETRY_DELAY_MS: '250',
      SANDBOX_PUBLIC_URL: 'https://sandbox.example.com/',
      SANDBOX_STATE_FILE: '/tmp/sandbox-state.json',
    });
    expect(config).toEqual({
      port: 0,
      host: '0.0.0.0',
      options: {
        clientId: 'id',
        clientSecret: 'se:cret',
        apiKey: 'key-1',
        rateLimits: true,
        tokenTtlSeconds: 60,
        webhookUrl: 'http://localhost:4000/webhooks/didit',
        webhookSecret: 'wh',
        webhookRetries: 0,
        webhookRetryDelayMs: 250,
        publicUrl: 'https://sandbox.example.com',
        stateFile: '/tmp/sandbox-state.json',
      },
    });
  });

  it('takes an empty or blank variable as unset, as the gateway does', () => {
    const blank = ['SANDBOX_PORT', 'SANDBOX_HOST', 'SANDBOX_CLIENT_ID', 'SANDBOX_CLIENT_SECRET', 'SANDBOX_TOKEN_TTL_SECONDS', 'SANDBOX_WEBHOOK_URL',
      'SANDBOX_WEBHOOK_SECRET', 'SANDBOX_WEBHOOK_RETRIES', 'SANDBOX_WEBHOOK_RETRY_DELAY_MS', 'SANDBOX_PUBLIC_URL', 'SANDBOX_STATE_FILE', 'SANDBOX_API_KEY',
      'SANDBOX_RATE_LIMITS'];
    expect(loadSandboxConfig(Object.fromEntries(blank.map((name, i) => [name, i % 2 ? '' : ' \t'])))).toEqual(loadSandboxConfig({}));
    // The gateway embeds the same simulator and reads its variables by the same rule.
    expect(loadConfig({ SANDBOX_PORT: ' ', SANDBOX_CLIENT_ID: '', SANDBOX_CLIENT_SECRET: ' ', SANDBOX_API_KEY: '' }).sandboxServer).toEqual({
      port: 4010,
      clientId: 'sandbox-client',
      clientSecret: 'sandbox-secret',
      apiKey: 'sandbox-api-key-0123456789',
    });
  });

  it.each([
    ['SANDBOX_PORT', 'eighty'],
    ['SANDBOX_PORT', '70000'],
    ['SANDBOX_PORT', '-1'],
    ['SANDBOX_TOKEN_TTL_SECONDS', '0'],
    ['SANDBOX_TOKEN_TTL_SECONDS', '1.5'],
    ['SANDBOX_WEBHOOK_RETRIES', '101'],
    ['SANDBOX_WEBHOOK_RETRY_DELAY_MS', '0'],
    ['SANDBOX_WEBHOOK_URL', 'ftp://example.com/hook'],
    ['SANDBOX_WEBHOOK_URL', 'not a url'],
    ['SANDBOX_PUBLIC_URL', 'https://example.com/prefix'],
    ['SANDBOX_PUBLIC_URL', 'https://example.com/?q=1'],
    ['SANDBOX_CLIENT_ID', 'has:colon'],
    ['SANDBOX_RATE_LIMITS', 'sometimes'],
  ])('refuses %s=%j, naming the variable and not the value', (name, value) => {
    let error: unknown;
    try {
      loadSandboxConfig({ SANDBOX_CLIENT_SECRET: 'do-not-print-me', [name]: value });
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(name);
    expect((error as Error).message).not.toContain('do-not-print-me');
  });
});

it('refuses sandbox mode in production, naming the credentials to set', () => {
  expect(refusal({ NODE_ENV: 'production' }).message).toBe(
    'DIDIT_CLIENT_ID is not set: Didit credentials (DIDIT_API_KEY, or DIDIT_CLIENT_ID and DIDIT_CLIENT_SECRET) must be set in production; sandbox mode is for development',
  );
  expect(loadConfig({ ...DIDIT, ...KEYS, NODE_ENV: 'production', METRICS_PORT: '9464' }).sandbox).toBe(false);
});

it('refuses production without a way to protect /metrics (METRICS_TOKEN or METRICS_PORT)', () => {
  const production = { ...DIDIT, ...KEYS, NODE_ENV: 'production' };
  expect(refusal(production).message).toBe('METRICS_TOKEN or METRICS_PORT must be set in production: /metrics is not served to anyone who asks');
  expect(loadConfig({ ...production, METRICS_TOKEN: 'm'.repeat(16) })).toMatchObject({ metricsToken: 'm'.repeat(16), metricsPort: undefined });
  expect(loadConfig({ ...production, METRICS_PORT: '9464' })).toMatchObject({ metricsToken: undefined, metricsPort: 9464 });
  expect(refusal({ ...production, METRICS_PORT: '4000' }).variable).toBe('METRICS_PORT');
  expect(refusal({ ...production, METRICS_PORT: 'x' }).variable).toBe('METRICS_PORT');
  expect(loadConfig({}).metricsPort).toBeUndefined();
});

describe('the audit trail settings', () => {
  it('keeps the trail in an embedded database in ./data by default, for five years', () => {
    expect(loadConfig({}).audit).toEqual({ databaseUrl: undefined, dataDir: './data', key: undefined, pseudonymKey: undefined, retentionDays: 1827, auditorRole: 'auditor' });
    const audit = loadConfig({ DATABASE_URL: 'postgres://gw:pw@db.internal:5432/audit', ...KEYS, AUDIT_RETENTION_DAYS: '3650', AUTH_AUDITOR_ROLE: 'compliance' }).audit;
    expect(audit).toMatchObject({ databaseUrl: 'postgres://gw:pw@db.internal:5432/audit', retentionDays: 3650, auditorRole: 'compliance' });
    expect(audit.key?.bytes()).toEqual(Buffer.alloc(32, 0xcc));
  });

  it.each([
    [{ DATABASE_URL: 'mysql://user:do-not-print-me@host/db' }, 'DATABASE_URL'],
    [{ DATABASE_URL: 'postgres://user:do-not-print-me@/db' }, 'DATABASE_URL'],
    [{ DATABASE_URL: 'postgres://user:do-not-print-me@host' }, 'DATABASE_URL'],
    [{ DATABASE_URL: 'do-not-print-me' }, 'DATABASE_URL'],
    [{ AUDIT_KEY: 'do-not-print-me' }, 'AUDIT_KEY'],
    [{ AUDIT_KEY: 'ab'.repeat(31) + 'do-not-print-me' }, 'AUDIT_KEY'],
    [{ PSEUDONYM_KEY: 'do-not-print-me' }, 'PSEUDONYM_KEY'],
    [{ AUDIT_RETENTION_DAYS: '0' }, 'AUDIT_RETENTION_DAYS'],
    [{ AUTH_AUDITOR_ROLE: 'reviewer' }, 'AUTH_AUDITOR_ROLE'],
    // A fleet keeps one trail: Redis without PostgreSQL is refused.
    [{ REDIS_URL: 'redis://127.0.0.1:6379' }, 'DATABASE_URL'],
    [{ ...DIDIT, NODE_ENV: 'production', METRICS_PORT: '9464', PSEUDONYM_KEY: 'd'.repeat(64) }, 'AUDIT_KEY'],
    [{ ...DIDIT, NODE_ENV: 'production', METRICS_PORT: '9464', AUDIT_KEY: 'c'.repeat(64) }, 'PSEUDONYM_KEY'],
  ])('refuses %j naming %s, never the value', (env, name) => {
    const error = refusal(env as Record<string, string>);
    expect(error.variable).toBe(name);
    expect(error.message).not.toContain('do-not-print-me');
  });

  it('npm start stops with one line naming DATABASE_URL, not its value', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/index.ts'], {
      env: { PATH: process.env.PATH, DATABASE_URL: 'postgres://gw:do-not-print-me@' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^Configuration error: DATABASE_URL /)]);
    expect(run.stderr).not.toContain('do-not-print-me');
  });

  it('npm start stops with one line when the database cannot be reached, naming DATABASE_URL only', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/index.ts'], {
      env: { PATH: process.env.PATH, PORT: '0', SANDBOX_PORT: '0', DATABASE_URL: 'postgres://gw:do-not-print-me@127.0.0.1:1/audit' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr.trim().split('\n')).toEqual(['Configuration error: DATABASE_URL leads to an audit database that cannot be opened (ECONNREFUSED)']);
  });
});

it('npm start stops with one line naming the variable, and exit code 1', () => {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/index.ts'], {
    env: { PATH: process.env.PATH, DIDIT_CLIENT_ID: 'id', DIDIT_CLIENT_SECRET: 'super-secret-value' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  expect(run.status).toBe(1);
  expect(run.stdout).toBe('');
  expect(run.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^Configuration error: AUTH_JWT_SECRET /)]);
  expect(run.stderr).not.toContain('super-secret-value');
});
