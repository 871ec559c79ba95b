/** `npm run sandbox`: configuration from the environment, the URL line, and a clean stop. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, type TestContext } from 'vitest';
import { basic, requestToken } from './helpers.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Runs main.ts under tsx with only the given SANDBOX_* variables; killed when the test ends. */
function run({ onTestFinished }: TestContext, vars: Record<string, string>) {
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

// Each test is a separate process, so they run side by side.
describe.concurrent('src/sandbox/main.ts', () => {
  it.for([
    ['SANDBOX_PORT', 'eighty'],
    ['SANDBOX_PORT', '70000'],
    ['SANDBOX_TOKEN_TTL_SECONDS', '0'],
    ['SANDBOX_WEBHOOK_URL', 'ftp://example.com/hook'],
    ['SANDBOX_PUBLIC_URL', 'https://example.com/prefix'],
    ['SANDBOX_CLIENT_ID', 'has:colon'],
    ['SANDBOX_CLIENT_SECRET', ''],
  ] as const)('refuses %s=%j with one line naming it, never printing the secret', async ([name, value], context) => {
    const { exited } = run(context, { SANDBOX_CLIENT_SECRET: 'do-not-print-me', [name]: value });
    const { code, stderr } = await exited;
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([expect.stringContaining(name)]);
    expect(stderr).not.toContain('do-not-print-me');
  });

  it('prints its URL, serves the configured credentials and stops cleanly on SIGTERM', async (context) => {
    const { child, exited } = run(context, { SANDBOX_PORT: '0', SANDBOX_CLIENT_ID: 'cli', SANDBOX_CLIENT_SECRET: 'cli-secret' });
    const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
    const url = /^Didit sandbox listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line)?.[1];
    expect(url).toBeDefined();
    expect((await requestToken(url!, basic('cli', 'cli-secret'))).status).toBe(200);
    child.kill('SIGTERM');
    expect((await exited).code).toBe(0);
  });
});
