/** `npm run sandbox`: configuration from the environment, the URL line, and a clean stop. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ConfigError, readSandboxConfig } from '../../src/sandbox/config.ts';
import { basic, requestToken } from '../support/sandbox.ts';

describe('readSandboxConfig', () => {
  it('uses the defaults when nothing is set', () => {
    expect(readSandboxConfig({})).toEqual({
      port: 4010,
      host: '127.0.0.1',
      options: {
        clientId: undefined,
        clientSecret: undefined,
        tokenTtlSeconds: undefined,
        webhookUrl: undefined,
        webhookSecret: undefined,
        publicUrl: undefined,
      },
    });
  });

  it('reads every variable', () => {
    const config = readSandboxConfig({
      SANDBOX_PORT: '0',
      SANDBOX_HOST: '0.0.0.0',
      SANDBOX_CLIENT_ID: 'id',
      SANDBOX_CLIENT_SECRET: 'se:cret',
      SANDBOX_TOKEN_TTL_SECONDS: '60',
      SANDBOX_WEBHOOK_URL: 'http://localhost:4000/webhooks/didit',
      SANDBOX_WEBHOOK_SECRET: 'wh',
      SANDBOX_PUBLIC_URL: 'https://sandbox.example.com/',
    });
    expect(config).toEqual({
      port: 0,
      host: '0.0.0.0',
      options: {
        clientId: 'id',
        clientSecret: 'se:cret',
        tokenTtlSeconds: 60,
        webhookUrl: 'http://localhost:4000/webhooks/didit',
        webhookSecret: 'wh',
        publicUrl: 'https://sandbox.example.com',
      },
    });
  });

  it.each([
    ['SANDBOX_PORT', 'eighty'],
    ['SANDBOX_PORT', '70000'],
    ['SANDBOX_PORT', '-1'],
    ['SANDBOX_HOST', ' '],
    ['SANDBOX_TOKEN_TTL_SECONDS', '0'],
    ['SANDBOX_TOKEN_TTL_SECONDS', '1.5'],
    ['SANDBOX_WEBHOOK_URL', 'ftp://example.com/hook'],
    ['SANDBOX_WEBHOOK_URL', 'not a url'],
    ['SANDBOX_PUBLIC_URL', 'https://example.com/prefix'],
    ['SANDBOX_CLIENT_ID', 'has:colon'],
    ['SANDBOX_CLIENT_SECRET', ''],
    ['SANDBOX_WEBHOOK_SECRET', ''],
  ])('refuses %s=%j, naming the variable and not the value', (name, value) => {
    let error: unknown;
    try {
      readSandboxConfig({ SANDBOX_CLIENT_SECRET: 'do-not-print-me', [name]: value });
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(name);
    expect((error as Error).message).not.toContain('do-not-print-me');
  });
});

describe('src/sandbox/main.ts', () => {
  const root = fileURLToPath(new URL('../../', import.meta.url));

  /** Runs main.ts under tsx with only the given SANDBOX_* variables; killed if the test ends first. */
  function run(vars: Record<string, string>) {
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SANDBOX_')));
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/sandbox/main.ts'], { cwd: root, env: { ...env, ...vars } });
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = once(child, 'exit').then(([code]) => ({ code: code as number | null, stderr }));
    return { child, exited };
  }

  it('exits 1 with one line naming a bad variable, never printing the secret', async () => {
    const { code, stderr } = await run({ SANDBOX_CLIENT_SECRET: 'do-not-print-me', SANDBOX_PORT: 'eighty' }).exited;
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([expect.stringContaining('SANDBOX_PORT')]);
    expect(stderr).not.toContain('do-not-print-me');
  });

  it('prints its URL, serves the configured credentials and stops cleanly on SIGTERM', async () => {
    const { child, exited } = run({ SANDBOX_PORT: '0', SANDBOX_CLIENT_ID: 'cli', SANDBOX_CLIENT_SECRET: 'cli-secret' });
    const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
    const url = /^Didit sandbox listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line)?.[1];
    expect(url).toBeDefined();
    expect((await requestToken(url!, basic('cli', 'cli-secret'))).status).toBe(200);
    child.kill('SIGTERM');
    expect((await exited).code).toBe(0);
  });
});
