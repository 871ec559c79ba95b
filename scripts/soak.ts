/**
 * `npm run soak [-- --seconds 120 --clients 12 --sessions-per-minute 8 --attackers 3 --attacker-accounts 1 --lone-seconds 60 --api v1|v3]`:
 * the gateway under faults, load and
 * a starvation attack.
 *
 * Three gateway instances share one Redis (a redis-server of the soak's own, on a free port), with
 * the encrypted shared decision level on (one DECISION_CACHE_KEY) and Didit's documented 100
 * decision reads a minute as the fleet's pace, in front of the Didit sandbox (in this process, so
 * every request it receives is recorded) with fault injection: 503s, dropped connections, 429
 * bursts and latency spikes. Applicants and reviewers go about their business (see
 * soak/traffic.ts) beside attackers. Redis is killed and restarted at 30% of the run, the sandbox
 * at 60%; the last 25% is a quiet phase in which sessions no longer change and are only re-read.
 * Then a lone reviewer reads with sustained demand for `--lone-seconds`, nothing else running.
 * `--attacker-accounts` spreads the attack loops over several applicant accounts (one attacker
 * with many accounts).
 * `--api v3` has the fleet talk Didit v3 (x-api-key, workflows) to the sandbox instead of v1.
 * `--truth [--seconds 40 --max-age-ms 10000]` runs the truth phase instead (soak/truth.ts): webhooks
 * never sent while sessions change and are deleted at Didit, and how long answers stay wrong.
 *
 * The report (soak/report.ts) says what each figure means and its target. `runSoak` is also what
 * the CI's short soak test calls.
 */
import { randomBytes } from 'node:crypto';
import { freePort } from '../src/lib/free-port.ts';
import { KYC_BASIC_WORKFLOW_ID } from '../src/sandbox/server.ts';
import { FAULT_RATES, startSoakDidit, type SoakDidit } from './soak/didit.ts';
import { answered, breakerOpenIntervals, busiestWindow, overlaps, quietReads, type Interval, type QuietReads } from './soak/figures.ts';
import { startGateway, startRedis, stop, type Proc } from './soak/processes.ts';
import { formatSoak } from './soak/report.ts';
import { createTraffic, statusesOf } from './soak/traffic.ts';
import { scratchDatabase } from './scratch-database.ts';
import { formatTruth, runTruthPhase } from './soak/truth.ts';

export { formatSoak };

export interface SoakOptions {
  seconds: number;
  /** Applicants, each with a reviewer of their own. */
  clients: number;
  /** Which Didit API the gateways talk to the sandbox. Default v1. */
  api?: 'v1' | 'v3';
  /**
   * New sessions a minute across the applicants. Default 8: each costs Didit about two reads charged
   * to applicants, and applicants together may cause 50 a minute (37.5 sustained), the attacker 20 of them.
   */
  sessionsPerMinute?: number;
  /** Attack loops. Default 3. */
  attackers?: number;
  /** Applicant accounts the attack loops share out (loop i uses account i mod this). Default 1: one attacker. */
  attackerAccounts?: number;
  /** Seconds of the last phase, a lone reviewer's sustained demand with nothing else running. Default 60; 0: none. */
  loneSeconds?: number;
  /** Print progress and the table (the CLI); the test only reads the result. */
  verbose?: boolean;
}

export interface SoakResult {
  api: 'v1' | 'v3';
  operations: Record<string, Record<string, number>>;
  /** Normal callers' reads (applicants' own sessions, reviewers'). */
  normalReads: {
    total: number;
    ok: number;
    /** Failed while Didit was unavailable (restarting, or a breaker open), for a session no caller had read before: nothing could answer. */
    outageNeverSeen: number;
    /** Failed while Didit was unavailable, for a session some caller had read before. */
    outageSeenBefore: number;
    /** Failed while Didit was up. */
    whileUp: number;
    /** Of those, while Redis was away (each instance counting a third of Didit's limit alone). */
    whileRedisAway: number;
    /** ok / (total - outageNeverSeen). */
    successRate: number;
    /** 99th percentile of their durations (queue wait for a turn included), ms. */
    p99Ms: number;
  };
  /** The last phase: a lone reviewer's sustained demand; Didit reads it was served, and refused. */
  lone?: { seconds: number; served: number; refused: number; perMinute: number; limitPerMinute: number };
  /** Reads answered with an error while Didit was up and the gateways' breakers closed (normalReads.whileUp). */
  idempotentReadErrors: number;
  /** Reads that failed while Didit was down or a breaker open (both kinds). */
  outageReadErrors: number;
  writes: Record<'createSession' | 'updateSessionStatus', { total: number; failed: number; failedWhileUp: number }>;
  upstream: {
    decisionLimitPerMinute: number;
    /** Decision requests the sandbox received (every attempt), and those it answered itself (not a fault). */
    decisionRequests: number;
    decisionAnswered: number;
    /** Of the answered ones: for sessions the applicants created, and for ids nobody created (the attack). */
    answeredForSessions: number;
    answeredForUnknownIds: number;
    /** The most decision requests in any 60 s window (or the whole run when shorter: windowMs). */
    busiestWindow: { requests: number; answered: number; windowMs: number };
    quiet: QuietReads;
  };
  events: { expected: number; delivered: number; duplicated: number; missing: number };
  rss: Record<string, { startMb: number; endMb: number }>;
  unhandledRejections: number;
  /** Warnings from the gateways' logs (level warn and above), by message. */
  gatewayProblems: Record<string, number>;
}

const JWT_SECRET = 'soak-jwt-secret-that-is-long-enough-1234';
const WEBHOOK_SECRET = 'soak-webhook-secret';
const SANDBOX_API_KEY = 'sandbox-api-key-0123456789';
/** Didit's documented limit on decision reads: the fleet's pace, and the report's target. */
const DECISIONS_PER_MINUTE = 100;
const INSTANCES = ['A', 'B', 'C'];
/** How long the sandbox stays down between saving its sessions and listening again (a process starting). */
const SANDBOX_DOWN_MS = 1500;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const say = (message: string) => options.verbose && process.stderr.write(`soak: ${message}\n`);
  const api = options.api ?? 'v1';
  const [redisPort, sandboxPort, ...ports] = await Promise.all([freePort(), freePort(), ...INSTANCES.map(() => freePort())]);
  const gatewayUrls = ports.map((port) => `http://127.0.0.1:${port}`);
  const sandboxUrl = `http://127.0.0.1:${sandboxPort}`;
  const gatewayEnv: Record<string, string> = {
    DIDIT_API_URL: sandboxUrl,
    ...(api === 'v1'
      ? { DIDIT_CLIENT_ID: 'sandbox-client', DIDIT_CLIENT_SECRET: 'sandbox-secret', DIDIT_AUTH_URL: sandboxUrl, DIDIT_API_KEY: '' }
      : { DIDIT_API_KEY: SANDBOX_API_KEY, DIDIT_WORKFLOW_ID: KYC_BASIC_WORKFLOW_ID, DIDIT_CLIENT_ID: '', DIDIT_CLIENT_SECRET: '' }),
    DIDIT_WEBHOOK_SECRET: WEBHOOK_SECRET,
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    // One key for the fleet: the shared decision level is on.
    DECISION_CACHE_KEY: randomBytes(32).toString('hex'),
    DIDIT_DECISIONS_PER_MINUTE: String(DECISIONS_PER_MINUTE),
    // While Redis is away each instance paces itself at a third of the limit.
    DIDIT_INSTANCES: String(INSTANCES.length),
    AUTH_JWT_SECRET: JWT_SECRET,
    CALLBACK_ALLOWED_ORIGINS: 'https://app.example.com',
    PDF_LINK_SECRET: 'soak-pdf-link-secret-that-is-long-enough-99',
  };
  // The fleet's audit trail: a database of the soak's own.
  const database = await scratchDatabase('soak');
  Object.assign(gatewayEnv, database.env);
  const procs: { redis?: Proc; gateways: Proc[] } = { gateways: [] };
  let didit: SoakDidit | undefined;
  const traffic = createTraffic({ gatewayUrls, sandboxUrl, api, jwtSecret: JWT_SECRET, sessionsPerMinute: options.sessionsPerMinute ?? 8 });
  const budgetShared = async (gateway: string) => /^gateway_budget_shared 1$/m.test(await fetch(`${gateway}/metrics`).then((r) => r.text(), () => ''));
  const rss = async (gateway: string) => {
    const text = await (await fetch(`${gateway}/metrics`)).text();
    return Number(/^gateway_process_resident_memory_bytes (\d+)/m.exec(text)?.[1] ?? 0) / 2 ** 20;
  };

  try {
    say(`starting Redis, the sandbox and ${INSTANCES.length} gateways (Didit ${api})`);
    procs.redis = await startRedis(redisPort);
    didit = await startSoakDidit({ port: sandboxPort, webhookUrl: `${gatewayUrls[0]}/webhooks/didit`, webhookSecret: WEBHOOK_SECRET });
    // Kept as they start, so that one that fails to start does not leave the others running.
    const started = await Promise.allSettled(ports.map((port) => startGateway(port, gatewayEnv)));
    procs.gateways = started.flatMap((g) => (g.status === 'fulfilled' ? [g.value] : []));
    for (const g of started) if (g.status === 'rejected') throw g.reason;
    const rssStart = await Promise.all(gatewayUrls.map(rss));

    say(`${options.clients} applicants and reviewers, ${options.attackers ?? 3} attackers, for ${options.seconds} s`);
    const startedAt = Date.now();
    const clients = [
      ...Array.from({ length: options.clients }, (_, i) => traffic.applicant(i)),
      ...Array.from({ length: options.attackers ?? 3 }, (_, i) => traffic.attacker(i % (options.attackerAccounts ?? 1))),
    ];
    const at = (share: number) => sleep(startedAt + options.seconds * 1000 * share - Date.now());
    const outages: Interval[] = [];
    await at(0.3);
    say('restarting Redis');
    const redisAway: Interval = { from: Date.now(), to: Infinity };
    await stop(procs.redis, 'SIGKILL');
    await sleep(500);
    procs.redis = await startRedis(redisPort);
    // Away until every gateway counts in it again (or the run ends: the soak must not outlive it).
    void (async () => {
      while (traffic.state.phase !== 'done' && !(await Promise.all(gatewayUrls.map(budgetShared))).every(Boolean)) await sleep(100);
      redisAway.to = Date.now();
    })();
    await at(0.6);
    say('restarting the sandbox');
    const down = Date.now();
    await didit.restart(SANDBOX_DOWN_MS);
    outages.push({ from: down, to: Date.now() });
    await at(0.75);
    const quietSessions = traffic.quiet();
    const quiet = { from: Date.now(), to: Infinity };
    say(`quiet: ${quietSessions.size} finished sessions only re-read`);
    await at(1);
    quiet.to = Date.now();
    traffic.state.phase = 'done';
    await Promise.all(clients);

    say('waiting for the last status events');
    const events = await settleEvents(traffic);
    const loneSeconds = options.loneSeconds ?? 60;
    let lone: SoakResult['lone'];
    if (loneSeconds > 0) {
      // Once the earlier phases' calls have left Didit's window, so that the figure is the lone caller's own.
      const lastCall = Math.max(0, ...didit.requests.map((r) => r.at));
      say(`waiting ${Math.max(0, Math.round((lastCall + 61_000 - Date.now()) / 1000))} s for Didit's window to empty`);
      await sleep(lastCall + 61_000 - Date.now());
      say(`a lone reviewer reads for ${loneSeconds} s, nothing else running`);
      const { served, refused, seconds } = await traffic.loneReviewer(loneSeconds);
      lone = { seconds, served, refused, perMinute: (served * 60) / seconds, limitPerMinute: DECISIONS_PER_MINUTE };
    }
    const rssEnd = await Promise.all(gatewayUrls.map(rss));
    outages.push(...breakerOpenIntervals(procs.gateways.map((g) => g.lines)));

    const reads = traffic.reads;
    const failed = reads.filter((r) => !r.ok);
    const duringOutage = (r: { startedAt: number; endedAt: number }) => overlaps({ from: r.startedAt, to: r.endedAt }, outages);
    const outageNeverSeen = failed.filter((r) => duringOutage(r) && !r.seenBefore).length;
    const outageSeenBefore = failed.filter((r) => duringOutage(r) && r.seenBefore).length;
    const whileRedisAway = failed.filter((r) => !duringOutage(r) && overlaps({ from: r.startedAt, to: r.endedAt }, [redisAway])).length;
    const ok = reads.length - failed.length;
    const writes = (operation: 'createSession' | 'updateSessionStatus') => {
      const mine = traffic.writes.filter((w) => w.operation === operation);
      const failures = mine.filter((w) => !w.ok);
      return { total: mine.length, failed: failures.length, failedWhileUp: failures.filter((w) => !duringOutage(w)).length };
    };
    const decisions = didit.requests.filter((r) => r.endpoint === 'decision');
    const decisionsAnswered = decisions.filter(answered);
    const minute = busiestWindow(
      decisions.map((r) => r.at),
      60_000,
    );
    const gatewayLines = procs.gateways.flatMap((g) => g.lines);
    return {
      api,
      operations: traffic.operations,
      normalReads: {
        total: reads.length,
        ok,
        outageNeverSeen,
        outageSeenBefore,
        whileUp: failed.length - outageNeverSeen - outageSeenBefore,
        whileRedisAway,
        successRate: ok / Math.max(1, reads.length - outageNeverSeen),
        p99Ms: percentile(reads.map((r) => r.endedAt - r.startedAt), 0.99),
      },
      lone,
      idempotentReadErrors: failed.length - outageNeverSeen - outageSeenBefore,
      outageReadErrors: outageNeverSeen + outageSeenBefore,
      writes: { createSession: writes('createSession'), updateSessionStatus: writes('updateSessionStatus') },
      upstream: {
        decisionLimitPerMinute: DECISIONS_PER_MINUTE,
        decisionRequests: decisions.length,
        decisionAnswered: decisionsAnswered.length,
        answeredForSessions: decisionsAnswered.filter((r) => traffic.created.has(r.sessionId!)).length,
        answeredForUnknownIds: decisionsAnswered.filter((r) => !traffic.created.has(r.sessionId!)).length,
        busiestWindow: { requests: minute.count, answered: busiestWindow(decisionsAnswered.map((r) => r.at), 60_000).count, windowMs: minute.windowMs },
        quiet: quietReads(didit.requests, quietSessions, quiet),
      },
      events,
      rss: Object.fromEntries(INSTANCES.map((name, i) => [name, { startMb: rssStart[i]!, endMb: rssEnd[i]! }])),
      unhandledRejections: gatewayLines.filter((line) => line.includes('unhandled rejection')).length,
      gatewayProblems: problems(gatewayLines),
    };
  } finally {
    traffic.state.phase = 'done';
    await Promise.all(procs.gateways.map((g) => stop(g)));
    await didit?.close();
    await stop(procs.redis, 'SIGKILL');
    await database.drop();
  }
}

/** Waits (15 s at most) for every subscription's expected events, closes them all and counts. */
async function settleEvents(traffic: ReturnType<typeof createTraffic>): Promise<SoakResult['events']> {
  const events = { expected: 0, delivered: 0, duplicated: 0, missing: 0 };
  const refused = (s: (typeof traffic.subscriptions)[number]) => s.live.results.find((r) => r.errors);
  const pending = (s: (typeof traffic.subscriptions)[number]) => !refused(s) && new Set(statusesOf(s)).size < s.expected;
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && traffic.subscriptions.some(pending)) await sleep(200);
  for (const s of traffic.subscriptions) {
    await s.live.close();
    // A subscription refused at subscribe time (Didit unavailable then) has nothing to deliver.
    const failure = refused(s);
    traffic.count('subscribe', failure ? String(failure.errors![0]?.extensions?.code ?? 'error') : 'ok');
    if (failure) continue;
    const seen = statusesOf(s);
    const distinct = new Set(seen).size;
    events.expected += s.expected;
    events.delivered += Math.min(distinct, s.expected);
    events.duplicated += seen.length - distinct;
    events.missing += Math.max(0, s.expected - distinct);
  }
  return events;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** Gateway log entries at warn level or above, by message. */
function problems(lines: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of lines) {
    const entry = /"level":(\d+).*"msg":"([^"]+)"/.exec(line);
    if (entry && Number(entry[1]) >= 40) counts[entry[2]!] = (counts[entry[2]!] ?? 0) + 1;
  }
  return counts;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string) => {
    const at = process.argv.indexOf(`--${name}`);
    return at > 0 ? process.argv[at + 1] : undefined;
  };
  const number = (name: string, fallback: number) => Number(arg(name) ?? fallback);
  if (process.argv.includes('--truth')) {
    // The truth phase alone: webhooks never sent, sessions changed and deleted at Didit (soak/truth.ts).
    const result = await runTruthPhase({ seconds: number('seconds', 40), maxAgeMs: number('max-age-ms', 10_000), verbose: true });
    process.stdout.write(`${formatTruth(result)}\n`);
    process.exit(0);
  }
  const api = arg('api') ?? 'v1';
  if (api !== 'v1' && api !== 'v3') throw new Error('--api must be v1 or v3');
  const options: SoakOptions = {
    seconds: number('seconds', 120),
    clients: number('clients', 12),
    sessionsPerMinute: number('sessions-per-minute', 8),
    attackers: number('attackers', 3),
    attackerAccounts: number('attacker-accounts', 1),
    loneSeconds: number('lone-seconds', 60),
    api,
    verbose: true,
  };
  const result = await runSoak(options);
  process.stdout.write(`${formatSoak(result, options)}\n`);
}
