import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';

const DIDIT = { DIDIT_CLIENT_ID: 'id', DIDIT_CLIENT_SECRET: 'super-secret-value', AUTH_JWT_SECRET: 'j'.repeat(40) };

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
    });
  });

  it('talks to Didit when both credentials are set', () => {
    const config = loadConfig({ ...DIDIT, CALLBACK_ALLOWED_ORIGINS: 'https://app.example.com, https://admin.example.com:8443', DIDIT_WEBHOOK_SECRET: 'new,old' });
    expect(config.sandbox).toBe(false);
    expect(config.callbackAllowedOrigins).toEqual(['https://app.example.com', 'https://admin.example.com:8443']);
    expect(config.webhookSecrets).toEqual(['new', 'old']);
  });

  it('lets browsers on any origin call while developing, none in production unless listed', () => {
    expect(loadConfig({}).corsOrigins).toBe('*');
    const production = { ...DIDIT, NODE_ENV: 'production', AUTH_JWT_SECRET: 'x'.repeat(32) };
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
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ MAX_DEPTH: '0' }, 'MAX_DEPTH'],
  ])('refuses %j naming %s, without printing any value', (env, variable) => {
    const error = refusal(env as Record<string, string>);
    expect(error.variable).toBe(variable);
    expect(error.message.startsWith(variable)).toBe(true);
    expect(error.message).not.toContain('super-secret-value');
  });
});

it('refuses sandbox mode in production, naming the credentials to set', () => {
  expect(refusal({ NODE_ENV: 'production' }).message).toBe(
    'DIDIT_CLIENT_ID is not set: Didit credentials (DIDIT_API_KEY, or DIDIT_CLIENT_ID and DIDIT_CLIENT_SECRET) must be set in production; sandbox mode is for development',
  );
  expect(loadConfig({ ...DIDIT, NODE_ENV: 'production' }).sandbox).toBe(false);
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
