/**
 * `npm run soak [-- --seconds 120 --clients 40]`: the gateway under faults and load.
 *
 * Two gateway instances share one Redis (a redis-server of the soak's own, on a free port) in
 * front of the Didit sandbox with fault injection: a share of 503s, dropped connections, 429
 * bursts and latency spikes. Virtual applicants create sessions, follow them over SSE on a random
 * instance, finish them on the sandbox, read them over and over; a reviewer approves or declines.
 * Redis is killed and restarted at 30% of the run, the sandbox at 60%.
 *
 * It prints operations by outcome, client-visible errors on idempotent reads (target 0), status
 * events expected / delivered / duplicated (target: all, once), gateway RSS at start and end, and
 * unhandled rejections (target 0). `runSoak` is also what the CI's short soak test calls.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { freePort } from '../src/lib/free-port.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { SignJWT } from 'jose';
import { subscribeSse, type LiveSubscription } from '../test/support/subscriptions.ts';

export interface SoakOptions {
  seconds: number;
  clients: number;
  /** Print progress and the table (the CLI); the test only reads the result. */
  verbose?: boolean;
}

export interface SoakResult {
  operations: Record<string, Record<string, number>>;
  /** Reads answered with an error while Didit was up and the gateways' breakers closed. */
  idempotentReadErrors: number;
  /** Reads that failed while Didit was down or a breaker open: sessions with no copy to serve. */
  outageReadErrors: number;
  events: { expected: number; delivered: number; duplicated: number; missing: number };
  rss: Record<string, { startMb: number; endMb: number }>;
  unhandledRejections: number;
}

const JWT_SECRET = 'soak-jwt-secret-that-is-long-enough-1234';
const WEBHOOK_SECRET = 'soak-webhook-secret';
const ROOT = new URL('..', import.meta.url).pathname;
const FAULT_RATES = { errorRate: 0.05, dropRate: 0.02, rateLimitRate: 0.03, retryAfter: 1, latencyRate: 0.05, latencyMs: 400 };
/** Each session moves In Progress -> outcome -> review: three status events. */
const EVENTS_PER_SESSION = 3;
const REVIEW = { Approved: 'DECLINED', Declined: 'APPROVED', 'In Review': 'APPROVED' } as const;
const OUTCOMES = Object.keys(REVIEW) as Array<keyof typeof REVIEW>;

interface Proc {
  child: ChildProcess;
  lines: string[];
}

/** Starts a process and resolves once a line of its output matches `ready`. */
function start(command: string, args: string[], env: Record<string, string>, ready: RegExp): Promise<Proc> {
  const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')} did not start: ${lines.slice(-5).join(' | ')}`)), 30_000);
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

async function stop(proc: Proc | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!proc || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.child.once('exit', resolve));
  proc.child.kill(signal);
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
  if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const say = (message: string) => options.verbose && process.stderr.write(`soak: ${message}\n`);
  const [redisPort, sandboxPort, portA, portB] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const gatewayUrls = [`http://127.0.0.1:${portA}`, `http://127.0.0.1:${portB}`];
  const sandboxUrl = `http://127.0.0.1:${sandboxPort}`;
  const stateFile = join(mkdtempSync(join(tmpdir(), 'soak-')), 'sandbox.json');
  const procs: Record<string, Proc | undefined> = {};

  const startRedis = async () => {
    procs.redis = await start('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {}, /Ready to accept/);
  };
  const startSandbox = async () => {
    procs.sandbox = await start(process.execPath, ['--import', 'tsx', 'src/sandbox/main.ts'], {
      SANDBOX_PORT: String(sandboxPort),
      SANDBOX_WEBHOOK_URL: `${gatewayUrls[0]}/webhooks/didit`,
      SANDBOX_WEBHOOK_SECRET: WEBHOOK_SECRET,
      SANDBOX_STATE_FILE: stateFile,
      // Like Didit, keep retrying a delivery for a while (here 10 s) while the gateway answers 503.
      SANDBOX_WEBHOOK_RETRIES: '20',
      SANDBOX_WEBHOOK_RETRY_DELAY_MS: '500',
    }, /listening on/);
    await fetch(`${sandboxUrl}/sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ rates: FAULT_RATES }) });
  };
  const startGateway = (port: number) =>
    start(process.execPath, ['--import', 'tsx', 'src/index.ts'], {
      PORT: String(port),
      HOST: '127.0.0.1',
      DIDIT_CLIENT_ID: 'sandbox-client',
      DIDIT_CLIENT_SECRET: 'sandbox-secret',
      DIDIT_AUTH_URL: sandboxUrl,
      DIDIT_API_URL: sandboxUrl,
      DIDIT_WEBHOOK_SECRET: WEBHOOK_SECRET,
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      AUTH_JWT_SECRET: JWT_SECRET,
      CALLBACK_ALLOWED_ORIGINS: 'https://app.example.com',
      PDF_LINK_SECRET: 'soak-pdf-link-secret-that-is-long-enough-99',
      // The sandbox has no rate limits of its own; Didit's pacing is tested elsewhere.
      DIDIT_DECISIONS_PER_MINUTE: '1000000',
      RATE_LIMIT_PER_MINUTE: '1000000',
      LOG_LEVEL: 'info',
    }, /gateway started/);

  const key = new TextEncoder().encode(JWT_SECRET);
  const token = (sub: string, roles: string[] = []) => new SignJWT({ roles }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('2h').sign(key);
  const operations: SoakResult['operations'] = {};
  const count = (operation: string, outcome: string) => {
    const outcomes = (operations[operation] ??= {});
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  };
  /** When Didit was unavailable to the gateways (the sandbox restarting, a breaker open), and the reads that failed. */
  const outages: Array<{ from: number; to: number }> = [];
  const failedReads: Array<{ startedAt: number; endedAt: number }> = [];
  const gql = async (operation: string, bearer: string, query: string, variables: Record<string, unknown>) => {
    const gateway = gatewayUrls[Math.floor(Math.random() * gatewayUrls.length)]!;
    const startedAt = Date.now();
    const failed = () => {
      if (operation.startsWith('read')) failedReads.push({ startedAt, endedAt: Date.now() });
    };
    try {
      const response = await fetch(`${gateway}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
        body: JSON.stringify({ query, variables }),
        signal: AbortSignal.timeout(20_000),
      });
      const body = (await response.json()) as { data?: any; errors?: Array<{ extensions?: { code?: string } }> };
      const outcome = body.errors?.[0]?.extensions?.code ?? (response.ok ? 'ok' : `HTTP ${response.status}`);
      count(operation, outcome);
      if (outcome !== 'ok') failed();
      return outcome === 'ok' ? body.data : undefined;
    } catch (error) {
      count(operation, `transport: ${(error as Error).name}`);
      failed();
      return undefined;
    }
  };
  const rss = async (gateway: string) => {
    const text = await (await fetch(`${gateway}/metrics`)).text();
    return Number(/^gateway_process_resident_memory_bytes (\d+)/m.exec(text)?.[1] ?? 0) / 2 ** 20;
  };

  const events = { expected: 0, delivered: 0, duplicated: 0, missing: 0 };
  const subscriptions: Array<{ live: LiveSubscription; expected: number }> = [];
  const statusesOf = (live: LiveSubscription) => live.results.flatMap((r) => r.data?.sessionStatusChanged?.status ?? []);

  /** Follows one session over SSE on a random instance; resolves once the stream is open. */
  async function follow(id: string, bearer: string) {
    const gateway = gatewayUrls[Math.floor(Math.random() * gatewayUrls.length)]!;
    const live = subscribeSse(gateway, bearer, 'subscription($id: ID!) { sessionStatusChanged(sessionId: $id) { status } }', { id });
    // The stream starts once the gateway has checked access; it listens from its first read on.
    await live.opened;
    await sleep(50);
    const subscription = { live, expected: EVENTS_PER_SESSION };
    subscriptions.push(subscription);
    return subscription;
  }

  let running = true;
  async function applicant(index: number) {
    const sub = `soak-applicant-${index}`;
    const bearer = await token(sub);
    const reviewer = await token(`soak-reviewer-${index}`, ['reviewer']);
    while (running) {
      const created = await gql('createSession', bearer, 'mutation { createSession(input: { callback: "https://app.example.com/done", features: [OCR, FACE, AML] }) { session { id } } }', {});
      const id: string | undefined = created?.createSession?.session?.id;
      if (!id) {
        await sleep(200);
        continue;
      }
      const subscription = await follow(id, bearer);
      for (let i = 0; i < 3 && running; i++) await gql('readSession', bearer, 'query($id: ID!) { session(id: $id) { status decision { kyc { fullName } } } }', { id });
      const outcome = OUTCOMES[Math.floor(Math.random() * OUTCOMES.length)]!;
      let finished = false;
      for (let attempt = 0; attempt < 20 && !finished; attempt++) {
        const answer = await fetch(`${sandboxUrl}/sandbox/sessions/${id}/complete`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: outcome }) }).catch(() => undefined);
        finished = answer?.status === 200;
        if (!finished) await sleep(250); // the sandbox is restarting
      }
      // A session the sandbox never finished (it was restarting all along) moves no status at all.
      if (!finished) subscription.expected = 0;
      for (let i = 0; i < 5 && running; i++) await gql('readSession', bearer, 'query($id: ID!) { session(id: $id) { status decision { kyc { fullName } } } }', { id });
      await gql('readDecision', reviewer, 'query($id: ID!) { session(id: $id) { decision { aml { totalHits } location { ipCountry } } } }', { id });
      const reviewed = await gql('updateSessionStatus', reviewer, 'mutation($id: ID!, $s: ReviewDecision!) { updateSessionStatus(input: { sessionId: $id, status: $s }) { session { status } } }', { id, s: REVIEW[outcome] });
      // A review that failed moves nothing: one event fewer to expect.
      if (!reviewed && subscription.expected > 0) subscription.expected -= 1;
    }
  }

  try {
    say('starting Redis, the sandbox and two gateways');
    await startRedis();
    await startSandbox();
    [procs.gatewayA, procs.gatewayB] = await Promise.all([startGateway(portA), startGateway(portB)]);
    const rssStart = await Promise.all(gatewayUrls.map(rss));

    say(`${options.clients} clients for ${options.seconds} s`);
    const clients = Array.from({ length: options.clients }, (_, i) => applicant(i));
    const ms = options.seconds * 1000;
    await sleep(ms * 0.3);
    say('restarting Redis');
    await stop(procs.redis, 'SIGKILL');
    await sleep(500);
    await startRedis();
    await sleep(ms * 0.3);
    say('restarting the sandbox');
    const down = Date.now();
    await stop(procs.sandbox);
    await startSandbox();
    outages.push({ from: down, to: Date.now() });
    await sleep(ms * 0.4);
    running = false;
    await Promise.all(clients);

    say('waiting for the last status events');
    const deadline = Date.now() + 15_000;
    const refused = (s: (typeof subscriptions)[number]) => s.live.results.find((r) => r.errors);
    const pending = (s: (typeof subscriptions)[number]) => !refused(s) && new Set(statusesOf(s.live)).size < s.expected;
    while (Date.now() < deadline && subscriptions.some(pending)) await sleep(200);
    for (const s of subscriptions) {
      await s.live.close();
      // A subscription refused at subscribe time (Didit unavailable then) has nothing to deliver.
      const failure = refused(s);
      count('subscribe', failure ? String(failure.errors![0]?.extensions?.code ?? 'error') : 'ok');
      if (failure) continue;
      const seen = statusesOf(s.live);
      const distinct = new Set(seen).size;
      events.expected += s.expected;
      events.delivered += Math.min(distinct, s.expected);
      events.duplicated += seen.length - distinct;
      events.missing += Math.max(0, s.expected - distinct);
    }
    const rssEnd = await Promise.all(gatewayUrls.map(rss));
    const gatewayLines = [...(procs.gatewayA?.lines ?? []), ...(procs.gatewayB?.lines ?? [])];
    for (const lines of [procs.gatewayA?.lines ?? [], procs.gatewayB?.lines ?? []]) {
      let openedAt: number | undefined;
      for (const line of lines) {
        const breaker = /"time":(\d+).*"msg":"circuit breaker around Didit is (open|closed)"/.exec(line);
        if (breaker?.[2] === 'open') openedAt ??= Number(breaker[1]);
        if (breaker?.[2] === 'closed' && openedAt !== undefined) {
          outages.push({ from: openedAt, to: Number(breaker[1]) });
          openedAt = undefined;
        }
      }
      if (openedAt !== undefined) outages.push({ from: openedAt, to: Infinity });
    }
    const duringOutage = (read: { startedAt: number; endedAt: number }) => outages.some((o) => read.endedAt >= o.from && read.startedAt <= o.to);
    const problems = new Map<string, number>();
    for (const line of gatewayLines) {
      const entry = /"level":(\d+).*"msg":"([^"]+)"/.exec(line);
      if (entry && Number(entry[1]) >= 40) problems.set(entry[2]!, (problems.get(entry[2]!) ?? 0) + 1);
    }
    for (const [message, n] of problems) say(`gateway log: ${n} × ${message}`);
    return {
      operations,
      // A read while Didit is down, or while a breaker still holds it off, fails when the gateway has
      // no copy of the session (new, or dropped by a webhook): nothing could answer it.
      idempotentReadErrors: failedReads.filter((read) => !duringOutage(read)).length,
      outageReadErrors: failedReads.filter(duringOutage).length,
      events,
      rss: { A: { startMb: rssStart[0]!, endMb: rssEnd[0]! }, B: { startMb: rssStart[1]!, endMb: rssEnd[1]! } },
      unhandledRejections: gatewayLines.filter((line) => line.includes('unhandled rejection')).length,
    };
  } finally {
    running = false;
    await Promise.all([stop(procs.gatewayA), stop(procs.gatewayB)]);
    await stop(procs.sandbox);
    await stop(procs.redis, 'SIGKILL');
  }
}

export function formatSoak(result: SoakResult, options: SoakOptions): string {
  const rows = [`Soak: ${options.clients} clients, ${options.seconds} s, faults ${JSON.stringify(FAULT_RATES)}; Redis restarted at 30%, sandbox at 60%`, ''];
  rows.push('operation             outcome                       count');
  for (const [operation, outcomes] of Object.entries(result.operations)) {
    for (const [outcome, n] of Object.entries(outcomes)) rows.push(`${operation.padEnd(22)}${outcome.padEnd(30)}${String(n).padStart(6)}`);
  }
  const { events } = result;
  rows.push(
    '',
    `client-visible errors on idempotent reads: ${result.idempotentReadErrors} while Didit was up (target 0), ${result.outageReadErrors} while it was down or a breaker open (sessions with no copy)`,
    `status events: expected ${events.expected}, delivered ${events.delivered}, duplicated ${events.duplicated}, missing ${events.missing} (target: all, once)`,
    ...Object.entries(result.rss).map(([name, r]) => `gateway ${name} RSS: ${r.startMb.toFixed(1)} MB at start, ${r.endMb.toFixed(1)} MB at end`),
    `unhandled rejections: ${result.unhandledRejections} (target 0)`,
  );
  return rows.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string, fallback: number) => {
    const at = process.argv.indexOf(`--${name}`);
    return at > 0 ? Number(process.argv[at + 1]) : fallback;
  };
  const options = { seconds: arg('seconds', 120), clients: arg('clients', 40), verbose: true };
  const result = await runSoak(options);
  process.stdout.write(`${formatSoak(result, options)}\n`);
}
