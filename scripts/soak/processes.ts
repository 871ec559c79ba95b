/**
 * The soak's child processes: its own redis-server and the gateway instances, started and stopped
 * by the soak, their output kept line by line (the report reads the gateways' logs).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

const ROOT = new URL('../..', import.meta.url).pathname;

export interface Proc {
  child: ChildProcess;
  lines: string[];
}

/** Starts a process and resolves once a line of its output matches `ready`. */
export function start(command: string, args: string[], env: Record<string, string>, ready: RegExp): Promise<Proc> {
  const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    // 90 s: on a machine shared with other work, three processes compiling TypeScript at once start slowly.
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')} did not start: ${lines.slice(-5).join(' | ')}`)), 90_000);
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        lines.push(line);
        if (ready.test(line)) {
          clearTimeout(timer);
          resolve({ child, lines });
        }
      });
    }
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}: ${lines.slice(-5).join(' | ')}`)));
  });
}

export async function stop(proc: Proc | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!proc || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.child.once('exit', resolve));
  proc.child.kill(signal);
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
  if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
}

/** A redis-server of the soak's own: no persistence, so a restart loses everything, as a crash would. */
export function startRedis(port: number): Promise<Proc> {
  return start('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {}, /Ready to accept/);
}

export function startGateway(port: number, env: Record<string, string>): Promise<Proc> {
  return start(process.execPath, ['--import', 'tsx', 'src/index.ts'], { ...env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' }, /gateway started/);
}
