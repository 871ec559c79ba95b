/**
 * The benchmark's child processes (stub, load generator, gateway): starting them, talking to
 * them, sampling their memory and CPU from /proc, and making sure none outlives the run.
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { freePort } from '../src/lib/free-port.ts';
import type { DownloadJob, DownloadResult, HttpJob, HttpResult, JobMessage, JobReply } from './common.ts';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TSX = ['--import', 'tsx'];

const children = new Set<ChildProcess>();

/** Kills every child still running. Synchronous, so it also works from an `exit` handler. */
export function killChildren(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Resolves with the first IPC message of a forked child, or rejects if it dies first. */
function firstMessage<T>(child: ChildProcess, name: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`${name} exited (${code}) before it was ready`));
    child.once('exit', onExit);
    child.once('message', (message) => {
      child.off('exit', onExit);
      resolve(message as T);
    });
  });
}

export interface Stub {
  origin: string;
  pid: number;
  stats(): Promise<StubStats>;
  reset(): Promise<void>;
}

type StubCounters = Record<'token' | 'decision' | 'create' | 'pdf' | 'traces' | 'unauthorized' | 'notFound', number>;
export interface StubStats {
  counts: StubCounters;
  totals: StubCounters;
}

/** Forks one of the benchmark's servers and waits for the port it listens on. */
async function forkServer(file: string, name: string, env: Record<string, string>): Promise<{ pid: number; origin: string }> {
  const child = track(
    fork(fileURLToPath(new URL(file, import.meta.url)), [], {
      execArgv: TSX,
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  const { port } = await firstMessage<{ port: number }>(child, name);
  return { pid: child.pid!, origin: `http://127.0.0.1:${port}` };
}

export async function startStub(accessToken: string): Promise<Stub> {
  const { pid, origin } = await forkServer('./stub.ts', 'stub', { STUB_ACCESS_TOKEN: accessToken });
  return {
    origin,
    pid,
    stats: async () => (await fetch(`${origin}/stats`)).json() as Promise<StubStats>,
    async reset() {
      await (await fetch(`${origin}/stats/reset`, { method: 'POST' })).text();
    },
  };
}

/** The bare TCP relay to the stub (see relay.ts). */
export function startRelay(stubOrigin: string): Promise<{ pid: number; origin: string }> {
  return forkServer('./relay.ts', 'relay', { RELAY_TARGET_PORT: new URL(stubOrigin).port });
}

/** The least GraphQL server reading the stub (see floor.ts), of one kind. */
export function startFloor(stubOrigin: string, accessToken: string, kind: 'yoga' | 'yoga-jit' | 'jit' | 'hop'): Promise<{ pid: number; origin: string }> {
  return forkServer('./floor.ts', `floor (${kind})`, { FLOOR_STUB_ORIGIN: stubOrigin, FLOOR_ACCESS_TOKEN: accessToken, FLOOR_KIND: kind, NODE_ENV: 'production' });
}

export interface LoadGenerator {
  pid: number;
  run(job: HttpJob): Promise<HttpResult>;
  run(job: DownloadJob): Promise<DownloadResult>;
}

export async function startLoadGenerator(): Promise<LoadGenerator> {
  const child = track(
    fork(fileURLToPath(new URL('./load.ts', import.meta.url)), [], { execArgv: TSX, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  );
  await firstMessage(child, 'load generator');
  let nextId = 0;
  const pending = new Map<number, { resolve: (value: never) => void; reject: (error: Error) => void }>();
  child.on('message', (reply: JobReply) => {
    const waiter = pending.get(reply.id);
    pending.delete(reply.id);
    if (reply.error !== undefined) waiter?.reject(new Error(`load generator: ${reply.error}`));
    else waiter?.resolve(reply.result as never);
  });
  child.once('exit', (code) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`load generator exited (${code})`));
  });
  return {
    pid: child.pid!,
    run: (job: HttpJob | DownloadJob) =>
      new Promise<never>((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        child.send({ id, job } satisfies JobMessage);
      }),
  };
}

export interface GatewayProcess {
  origin: string;
  pid: number;
  /** SIGTERM, then the gateway drains and exits (which is also when `--cpu-prof` writes). */
  stop(): Promise<void>;
}

/**
 * Starts the built gateway, `node dist/index.js` (what the Dockerfile runs), with `env` alone (plus PATH/HOME, so nothing from the
 * caller's shell such as REDIS_URL leaks in), and waits until `/health` answers. Its log lines
 * (warnings and worse) are forwarded to stderr, prefixed.
 */
export async function startGateway(env: Record<string, string>, nodeFlags: string[] = [], entry = 'dist/index.js'): Promise<GatewayProcess> {
  const child = track(
    spawn(process.execPath, [...nodeFlags, entry], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.setEncoding('utf8');
    let partial = '';
    stream.on('data', (text: string) => {
      const lines = (partial + text).split('\n');
      partial = lines.pop()!;
      for (const line of lines) if (line) process.stderr.write(`[gateway] ${line}\n`);
    });
  }
  const origin = `http://127.0.0.1:${env.PORT}`;
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`gateway exited (${code}) during start`))));
  exited.catch(() => {});
  const deadline = Date.now() + 30_000;
  for (;;) {
    const healthy = await Promise.race([
      fetch(`${origin}/health`).then((response) => response.ok, () => false),
      exited,
    ]);
    if (healthy) break;
    if (Date.now() > deadline) throw new Error('gateway did not answer /health within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    origin,
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await gone;
      clearTimeout(timer);
    },
  };
}

export interface BenchRedis {
  url: string;
  pid: number;
  /** Commands Redis has run since it started, those run inside scripts included (INFO commandstats), less our own INFOs. */
  commands(): Promise<number>;
  close(): Promise<void>;
}

/**
 * A Redis of the benchmark's own on a free port (no persistence), so that its command counts are
 * the gateway's alone: another job's on a shared Redis would mix with them.
 */
export async function startRedis(): Promise<BenchRedis> {
  const port = await freePort();
  const child = track(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] }));
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}) before it was ready`)));
    child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('Ready to accept connections') && resolve());
  });
  child.stdout!.resume();
  const url = `redis://127.0.0.1:${port}`;
  const client = new Redis(url);
  let infos = 0;
  return {
    url,
    pid: child.pid!,
    async commands() {
      const text = await client.info('commandstats');
      infos += 1;
      const total = [...text.matchAll(/^cmdstat_[^:]+:calls=(\d+)/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
      // INFO is counted once it has answered: every earlier one of ours is in the total.
      return total - (infos - 1);
    },
    async close() {
      client.disconnect();
      child.kill('SIGTERM');
    },
  };
}

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU time (user + system) a process has used, in seconds, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at ") "; utime and stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/**
 * CPU time the whole machine spent busy, in seconds, from /proc/stat: user, nice, system, irq,
 * softirq and steal (time the hypervisor gave to other guests).
 */
function machineBusySeconds(): number {
  const [, user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) / CLOCK_TICKS;
}

/** Resident memory of a process in bytes, from /proc/<pid>/status (VmRSS). */
function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

interface Window {
  /** RSS of the watched process when the window opened, and the highest seen inside it. */
  rssStart: number;
  rssPeak: number;
  /**
   * CPU used by each named process over the window, in % of one core, and by everything else on
   * the machine as `other` (another job on a shared machine makes the numbers unreliable).
   */
  cpu: Record<string, number>;
}

/**
 * Samples the RSS of one watched process (the gateway) every 100 ms, and measures windows (one per
 * timed run): its RSS peak, and how much CPU each process used, which tells who was the bottleneck.
 */
export function createSampler() {
  let pid: number | undefined;
  /** Highest RSS since `watch`, and since the current window opened. */
  let processPeak = 0;
  let windowPeak = 0;
  const sample = () => {
    if (pid === undefined) return 0;
    try {
      const rss = rssBytes(pid);
      processPeak = Math.max(processPeak, rss);
      windowPeak = Math.max(windowPeak, rss);
      return rss;
    } catch {
      return 0; // The process exited between two samples.
    }
  };
  const timer = setInterval(sample, 100);
  timer.unref();
  return {
    /** Follows another process (a new gateway); returns the previous one's peak RSS. */
    watch(next: number | undefined): number {
      const previous = processPeak;
      pid = next;
      processPeak = 0;
      return previous;
    },
    /** Opens a window over the named processes; the returned function closes it. */
    open(pids: Record<string, number>): () => Window {
      windowPeak = 0;
      const rssStart = sample();
      // This process counts as ours too, not as `other`.
      const ours = { ...pids, runner: process.pid };
      const started = performance.now();
      const machineBefore = machineBusySeconds();
      const before = Object.fromEntries(Object.entries(ours).map(([name, id]) => [name, cpuSeconds(id)]));
      return () => {
        sample();
        const seconds = (performance.now() - started) / 1000;
        const used = Object.fromEntries(Object.entries(ours).map(([name, id]) => [name, cpuSeconds(id) - before[name]!]));
        const other = machineBusySeconds() - machineBefore - Object.values(used).reduce((a, b) => a + b, 0);
        const cpu = Object.fromEntries(Object.keys(pids).map((name) => [name, (used[name]! / seconds) * 100]));
        return { rssStart, rssPeak: windowPeak, cpu: { ...cpu, other: Math.max(0, (other / seconds) * 100) } };
      };
    },
    stop: () => clearInterval(timer),
  };
}
