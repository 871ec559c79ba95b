/**
 * `npm run sandbox`: a bad variable stops it, the URL line, and a clean stop. What each variable
 * means is tested with `loadSandboxConfig` in test/config.test.ts.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { basic, requestToken } from '../support/sandbox.ts';

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
    expect(line).toMatch(/^Didit sandbox listening on http:\/\/127\.0\.0\.1:\d+$/);
    const url = line.slice('Didit sandbox listening on '.length);
    expect((await requestToken(url, basic('cli', 'cli-secret'))).status).toBe(200);
    child.kill('SIGTERM');
    expect((await exited).code).toBe(0);
  });
});
