/**
 * `npm run bench`: the gateway against a fast Didit stub, under autocannon, each in its own
 * process on 127.0.0.1. Prints one table and writes it to bench/results/latest.json.
 *
 *   npm run bench                      every case at concurrency 1, 16, 64 (about 5 minutes)
 *   npm run bench -- --profile         the frontend query at 64 under `node --cpu-prof`, top functions
 *                                      (--cache=on: decisions and answers kept; --cache=decisions: decisions only)
 *   npm run bench -- --pdf             the 50 MB PDF case alone
 *   npm run bench -- --fast-path-compare   the frontend query through the JSON fast path (with and without
 *                                      the answer cache) and through Yoga alone (GRAPHQL_FAST_PATH=false), in
 *                                      alternating rounds (--rounds=3): what keeps the fast path (README)
 *   npm run bench -- --tracing-compare the frontend query (cache off) with tracing off and sampled at 0.01 and 1.0
 *                                      (OTLP to the stub, which drops it), in alternating rounds (--rounds=3)
 *   npm run bench -- --quick           the relay, the hop and the frontend query (--cache=off by default) at 1 and 64 connections,
 *                                      in turns, twice: for measuring a change to the gateway step by step
 *   npm run bench -- --ab=bench/results/dist-before   this build against an earlier copy of dist/, in alternating
 *                                      rounds (--cache=, --rounds=): whether a change pays, on a noisy machine
 *   npm run bench -- --tracing=0.01    any of the above with tracing on in every gateway (sampled at that ratio)
 *   npm run bench -- --ab=… --creates  a compare mode with createSession instead of the frontend query
 *   npm run bench -- --fleet           the cases of the gateway on Redis alone (with direct and relay before them)
 *   npm run bench -- --floor           as --quick (cache off), with the least GraphQL servers that answer the query by
 *                                      reading the stub beside it (floor.ts: Yoga, Yoga + graphql-jit, graphql-jit alone)
 *   npm run bench -- --duration=10     seconds per timed run (default 5)
 *
 * Targets not met are reported, not failures: the exit code is 0 unless the benchmark itself broke.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { freePort } from '../src/lib/free-port.ts';
import { MB, type HttpJob, type HttpResult } from './common.ts';
import { summarizeProfile } from './cpu-profile.ts';
import {
  BACK_OFFICE_QUERY,
  CALLBACK,
  CREATE_MUTATION,
  FRONTEND_QUERY,
  PDF_MUTATION,
  APPLICANT_SUB,
  checkBackOffice,
  checkCreated,
  checkFrontend,
  graphqlBody,
  postGraphql,
  signCallers,
} from './operations.ts';
import {
  ROOT,
  createSampler,
  killChildren,
  startGateway,
  startLoadGenerator,
  startRedis,
  startFloor,
  startRelay,
  startStub,
  type BenchRedis,
  type GatewayProcess,
  type StubStats,
} from './processes.ts';
import { formatCases, formatPdf, formatProfile, formatTargets, formatVariants, type VariantRow, type CaseRow, type GatewayRun, type PdfRow, type Report, type Target, type CacheMode } from './report.ts';
import { scratchDatabase } from '../scripts/scratch-database.ts';

const args = process.argv.slice(2);
const PROFILE = args.includes('--profile');
const PDF_ONLY = args.includes('--pdf');
const FAST_PATH_COMPARE = args.includes('--fast-path-compare');
const TRACING_COMPARE = args.includes('--tracing-compare');
/** `--quick [--cache=on|decisions|off]`: the relay, the hop and the frontend query at 1 and 64 connections, twice in turn, no profiler. */
const QUICK = args.includes('--quick');
/**
 * `--ab=<folder>`: this build against another (a copy of an earlier `dist/` inside the project, e.g.
 * bench/results/dist-before, so that it finds node_modules), the frontend query in alternating rounds.
 */
const AB = args.find((arg) => arg.startsWith('--ab='))?.slice('--ab='.length);
/** `--tracing=<ratio>`: every gateway of the run traces (OTLP to the stub, parentbased_traceidratio at that ratio). */
const TRACING_RATIO = args.find((arg) => arg.startsWith('--tracing='))?.slice('--tracing='.length);
/** `--creates`: the compare modes measure createSession instead of the frontend query. */
const CREATES = args.includes('--creates');
/** The fleet group alone (direct, relay, the gateway on a Redis of its own). */
const FLEET_ONLY = args.includes('--fleet');
/** `--floor`: the uncached path beside the least GraphQL servers on the same stack (floor.ts). */
const FLOOR = args.includes('--floor');
const ROUNDS = Number(args.find((arg) => arg.startsWith('--rounds='))?.split('=')[1] ?? 3);
if (!(Number.isInteger(ROUNDS) && ROUNDS >= 1 && ROUNDS <= 20)) throw new Error('--rounds must be a whole number from 1 to 20');
const SECONDS = Number(args.find((arg) => arg.startsWith('--duration='))?.split('=')[1] ?? 5);
if (!(SECONDS > 0 && SECONDS <= 60)) throw new Error('--duration must be a number of seconds from 1 to 60');
const WARMUP_SECONDS = 1;
const CONCURRENCIES = [1, 16, 64];
/** Distinct sessions per timed run: the cache (on) still misses on the first read of each. */
const POOL = 1000;
/** Sessions a polled-session run reads over and over (a page polling its status): answers kept after the first read. */
const POLLED = 10;
/** Warm-up uses other sessions, so it warms connections and JIT but not the run's cache entries. */
const WARM_POOL = 200;
/** Pause between a warm-up and its timed run, for requests still in flight to land. */
const SETTLE_MS = 250;
/** Downloads per round; each way (direct, relay, gateway) runs PDF_ROUNDS rounds, taking turns. */
const PDF_RUNS = [
  { count: 8, parallel: 1 },
  { count: 4, parallel: 4 },
];
const PDF_ROUNDS = 3;
const RESULTS = join(ROOT, 'bench/results');

const JWT_SECRET = randomBytes(32).toString('base64url');
const ACCESS_TOKEN = `bench-${randomUUID()}`;

// Children die with us however we end: normally, on an error, or on Ctrl-C.
process.on('exit', killChildren);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    process.stderr.write(`\n${signal}: stopping the benchmark\n`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

const uuids = (n: number) => Array.from({ length: n }, () => randomUUID());
const progress = (text: string) => process.stderr.write(`${text}\n`);

const startLoad = os.loadavg().map((value) => Number(value.toFixed(2)));
if (startLoad[0]! >= os.cpus().length) {
  progress(`warning: load average ${startLoad[0]} on ${os.cpus().length} cores before starting: other work will skew the numbers`);
}
mkdirSync(RESULTS, { recursive: true });
const stub = await startStub(ACCESS_TOKEN);
const relay = await startRelay(stub.origin);
/** "The hop" of the targets: the bare undici hop (floor.ts), the least an HTTP gateway in node costs. */
const hop = await startFloor(stub.origin, ACCESS_TOKEN, 'hop');
const load = await startLoadGenerator();
const sampler = createSampler();
const callers = await signCallers(JWT_SECRET);
let gateway: GatewayProcess | undefined;
/** The Redis of the gateway under test, when it has one: its commands are counted per answer. */
let gatewayRedis: BenchRedis | undefined;

/** The environment of the gateway under test. */
const auditDatabase = scratchDatabase('bench');

async function gatewayEnv(cache: CacheMode, extra: Record<string, string> = {}): Promise<Record<string, string>> {
  const port = await freePort();
  return {
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    DIDIT_CLIENT_ID: 'bench',
    DIDIT_CLIENT_SECRET: 'bench-secret',
    DIDIT_AUTH_URL: stub.origin,
    DIDIT_API_URL: stub.origin,
    AUTH_JWT_SECRET: JWT_SECRET,
    CALLBACK_ALLOWED_ORIGINS: 'https://app.example.com',
    LOG_LEVEL: 'warn',
    NODE_ENV: 'production',
    METRICS_TOKEN: 'bench-metrics-token-0123456789',
    // The highest values config.ts accepts (1e6 and 1e7): the limits must never be what we measure.
    RATE_LIMIT_PER_MINUTE: '1000000',
    DIDIT_DECISIONS_PER_MINUTE: '10000000',
    DIDIT_PDFS_PER_MINUTE: '10000000',
    DIDIT_MAX_CONCURRENT_CALLS: '1024',
    // The PDF case downloads one link 37 times (PDF_LINK_MAX_DOWNLOADS is 3 by default: 410 after that).
    PDF_LINK_MAX_DOWNLOADS: '100',
    ...(cache === 'on' ? {} : { RESPONSE_CACHE_MAX: '0' }),
    ...(cache === 'off' ? { DECISION_CACHE_TTL_ACTIVE_MS: '0', DECISION_CACHE_TTL_FINAL_MS: '0' } : {}),
    // The audit trail in a database of the run's own.
    ...(await auditDatabase).env,
    ...(TRACING_RATIO === undefined ? {} : tracing(TRACING_RATIO)),
    ...extra,
  };
}

/** A load job without its concurrency and duration, for a pool of session ids. */
type JobFor = (ids: string[]) => Omit<HttpJob, 'connections' | 'seconds'>;

const directDecision: JobFor = (ids) => ({
  type: 'http',
  url: stub.origin,
  method: 'GET',
  headers: { authorization: `Bearer ${ACCESS_TOKEN}`, accept: 'application/json' },
  paths: ids.map((id) => `/v1/session/${id}/decision/`),
  graphql: false,
});

/** The same reads through the bare TCP relay: the least any hop costs (see relay.ts). */
const relayDecision: JobFor = (ids) => ({ ...directDecision(ids), url: relay.origin });
/** The same reads through the bare undici hop: the baseline of the targets. */
const hopDecision: JobFor = (ids) => ({ ...directDecision(ids), url: hop.origin });

const directCreate: JobFor = () => ({
  type: 'http',
  url: `${stub.origin}/v1/session/`,
  method: 'POST',
  headers: { authorization: `Bearer ${ACCESS_TOKEN}`, 'content-type': 'application/json', accept: 'application/json' },
  bodies: [JSON.stringify({ callback: CALLBACK, features: 'OCR + FACE', vendor_data: APPLICANT_SUB })],
  graphql: false,
});

const graphqlJob =
  (token: string, bodyFor: (id: string) => string): JobFor =>
  (ids) => ({
    type: 'http',
    url: `${gateway!.origin}/graphql`,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    bodies: ids.map(bodyFor),
    graphql: true,
  });

const frontend = graphqlJob(callers.applicant, (id) => graphqlBody(FRONTEND_QUERY, { id }));
/** The frontend query on a few sessions, over and over: a page polling its session (answers kept). */
const polled: JobFor = (ids) => frontend(ids.slice(0, POLLED));
const backOffice = graphqlJob(callers.reviewer, (id) => graphqlBody(BACK_OFFICE_QUERY, { id }));
// The same mutation every time (each creates a new session): one body, not one per pool id.
const createSession: JobFor = (ids) => graphqlJob(callers.applicant, () => graphqlBody(CREATE_MUTATION))(ids.slice(0, 1));

/** The processes a run's CPU is reported for: the hop (gateway or relay, if any), the stub, the load generator. */
const processes = (hop: number | undefined) => ({ ...(hop ? { hop } : {}), stub: stub.pid, load: load.pid });

/**
 * One timed run: a warm-up on other sessions, the stub's counters reset, then `SECONDS` of load
 * on a fresh pool, with the gateway's RSS and every process's CPU measured over the run.
 */
async function measure(
  name: string,
  cache: CaseRow['cache'],
  upstream: 'decision' | 'create',
  jobFor: JobFor,
  connections: number,
  hop = gateway?.pid,
): Promise<{ row: CaseRow; run: HttpResult }> {
  await load.run({ ...jobFor(uuids(WARM_POOL)), connections, seconds: WARMUP_SECONDS });
  // Let the warm-up's last requests reach the stub before its counters are reset.
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  await stub.reset();
  const redisBefore = await gatewayRedis?.commands();
  const close = sampler.open(processes(hop));
  const run = await load.run({ ...jobFor(uuids(POOL)), connections, seconds: SECONDS });
  const window = close();
  const redisAfter = await gatewayRedis?.commands();
  const { counts } = await stub.stats();
  const row: CaseRow = {
    case: name,
    cache,
    connections,
    rps: run.rps,
    ok: run.ok,
    seconds: run.seconds,
    p50: run.p50,
    p99: run.p99,
    errors: run.errors,
    non2xx: run.non2xx,
    graphqlErrors: run.graphqlErrors,
    upstreamCalls: counts[upstream],
    upstreamPerOp: counts[upstream] / Math.max(1, run.ok),
    gatewayRssMb: gateway ? window.rssPeak / MB : undefined,
    cpu: window.cpu,
    cpuMsPerOp: window.cpu.hop === undefined ? undefined : ((window.cpu.hop / 100) * run.seconds * 1000) / Math.max(1, run.ok),
    redisPerOp: redisAfter === undefined ? undefined : (redisAfter - redisBefore!) / Math.max(1, run.ok),
  };
  progress(
    `  ${name} (cache ${cache}, ${connections} conn): ${run.rps.toFixed(0)} req/s, p50 ${run.p50.toFixed(3)} ms, ` +
      `p99 ${run.p99.toFixed(3)} ms, ${row.upstreamPerOp.toFixed(3)} upstream/op` +
      (row.cpuMsPerOp === undefined ? '' : `, ${row.cpuMsPerOp.toFixed(3)} ms CPU/op`) +
      (row.redisPerOp === undefined ? '' : `, ${row.redisPerOp.toFixed(3)} Redis commands/op`),
  );
  return { row, run };
}

/**
 * Fills in each gateway row's comparison with the direct row and the undici hop at the same
 * concurrency measured last before it (each gateway's rows follow their own: the machine's speed
 * drifts over a run, and a pair minutes apart would compare the drift too).
 */
function compare(rows: CaseRow[]): void {
  const lastDirect = new Map<string, CaseRow>();
  const lastHop = new Map<number, CaseRow>();
  for (const row of rows) {
    if (row.case.startsWith('direct')) {
      lastDirect.set(`${row.case} ${row.connections}`, row);
      continue;
    }
    const hopRow = lastHop.get(row.connections);
    if (row.case === 'undici hop') lastHop.set(row.connections, row);
    else if (hopRow && row.case !== 'createSession' && row.case !== 'relay decision') {
      row.vsHop = row.rps / hopRow.rps;
      row.addedP50Hop = row.p50 - hopRow.p50;
    }
    const direct = lastDirect.get(`${row.case === 'createSession' ? 'direct create' : 'direct decision'} ${row.connections}`);
    if (!direct) continue;
    row.vsDirect = row.rps / direct.rps;
    row.addedP50 = row.p50 - direct.p50;
  }
}

/** Starts a gateway and checks sample answers of every operation before anything is timed. */
async function startCheckedGateway(cache: CacheMode, nodeFlags: string[] = [], extraEnv: Record<string, string> = {}, entry?: string): Promise<{ tokensBefore: number }> {
  const { totals } = await stub.stats();
  gateway = await startGateway(await gatewayEnv(cache, extraEnv), nodeFlags, entry);
  sampler.watch(gateway.pid);
  for (const id of uuids(3)) {
    checkFrontend(await postGraphql(gateway.origin, callers.applicant, graphqlBody(FRONTEND_QUERY, { id })));
    checkBackOffice(await postGraphql(gateway.origin, callers.reviewer, graphqlBody(BACK_OFFICE_QUERY, { id })), id);
  }
  checkCreated(await postGraphql(gateway.origin, callers.applicant, graphqlBody(CREATE_MUTATION)));
  progress(`gateway (cache ${cache}) on ${gateway.origin}: sample answers checked`);
  return { tokensBefore: totals.token };
}

async function stopGateway(cache: CacheMode, tokensBefore: number): Promise<GatewayRun> {
  await gateway!.stop();
  gateway = undefined;
  const { totals } = await stub.stats();
  return { cache, tokenRequests: totals.token - tokensBefore, peakRssMb: sampler.watch(undefined) / MB };
}

async function checkDirect(): Promise<void> {
  const id = randomUUID();
  const decision = await fetch(`${stub.origin}/v1/session/${id}/decision/`, { headers: { authorization: `Bearer ${ACCESS_TOKEN}` } });
  const { headers, bodies } = directCreate([]);
  const created = await fetch(`${stub.origin}/v1/session/`, { method: 'POST', headers, body: bodies![0] });
  if (decision.status !== 200 || (await decision.json()).session_id !== id || created.status !== 201) {
    throw new Error(`the stub answers wrongly: decision ${decision.status}, create ${created.status}`);
  }
}

/**
 * The PDF case: the same report downloaded straight from the stub, through the bare TCP relay
 * (the least a hop costs) and through the gateway's signed link.
 */
async function measurePdf(): Promise<PdfRow[]> {
  const sessionId = randomUUID();
  const data = await postGraphql(gateway!.origin, callers.reviewer, graphqlBody(PDF_MUTATION(sessionId)));
  const link: string = data.generateSessionPdf?.url ?? '';
  if (!link.startsWith(`${gateway!.origin}/reports/`)) throw new Error(`generateSessionPdf answered an unexpected link: ${link}`);
  const path = `/v1/session/${sessionId}/generate-pdf/`;
  const bearer = { authorization: `Bearer ${ACCESS_TOKEN}` };
  const source = {
    direct: { url: `${stub.origin}${path}`, headers: bearer, hop: undefined },
    relay: { url: `${relay.origin}${path}`, headers: bearer, hop: relay.pid },
    gateway: { url: link, headers: {}, hop: gateway!.pid },
  };
  const vias = ['direct', 'relay', 'gateway'] as const;
  // One download each way first, as the other cases warm up: the first use of a code path
  // (compiling it, growing pools) is not what the RSS growth target is about.
  for (const via of vias) await load.run({ type: 'download', url: source[via].url, headers: source[via].headers, count: 1, parallel: 1 });
  const rows: PdfRow[] = [];
  for (const { count, parallel } of PDF_RUNS) {
    // The three take turns, PDF_ROUNDS times: the machine's speed drifts, and each way sees the same drift.
    const totals = Object.fromEntries(
      vias.map((via) => [via, { bytes: 0, seconds: 0, bad: [] as string[], calls: 0, cpuSeconds: {} as Record<string, number>, rssStart: NaN, rssPeak: 0 }]),
    );
    for (let round = 0; round < PDF_ROUNDS; round++) {
      for (const via of vias) {
        const { url, headers, hop } = source[via];
        const total = totals[via]!;
        await stub.reset();
        const close = sampler.open(processes(hop));
        const result = await load.run({ type: 'download', url, headers, count, parallel });
        const window = close();
        total.bytes += result.bytes;
        total.seconds += result.seconds;
        total.bad.push(...result.bad);
        total.calls += (await stub.stats()).counts.pdf;
        for (const [name, percent] of Object.entries(window.cpu)) total.cpuSeconds[name] = (total.cpuSeconds[name] ?? 0) + (percent * result.seconds) / 100;
        if (round === 0) total.rssStart = window.rssStart;
        total.rssPeak = Math.max(total.rssPeak, window.rssPeak);
      }
    }
    const speed = (via: PdfRow['via']) => totals[via]!.bytes / MB / totals[via]!.seconds;
    for (const via of vias) {
      const total = totals[via]!;
      const downloads = count * PDF_ROUNDS;
      rows.push({
        via,
        downloads,
        parallel,
        mbPerS: speed(via),
        vsDirect: via === 'direct' ? undefined : speed(via) / speed('direct'),
        vsRelay: via === 'gateway' ? speed(via) / speed('relay') : undefined,
        bad: total.bad,
        upstreamPerDownload: via === 'gateway' ? total.calls / downloads : undefined,
        gatewayRssGrowthMb: via === 'gateway' ? (total.rssPeak - total.rssStart) / MB : undefined,
        cpu: Object.fromEntries(Object.entries(total.cpuSeconds).map(([name, seconds]) => [name, (seconds / total.seconds) * 100])),
      });
      progress(`  PDF ${via} ${downloads} downloads, ${parallel} at a time: ${speed(via).toFixed(0)} MB/s`);
    }
  }
  return rows;
}

function evaluateTargets(cases: CaseRow[], pdf: PdfRow[], gateways: GatewayRun[], stubTotals: StubStats['totals']): Target[] {
  const targets: Target[] = [];
  const find = (name: string, cache: string, connections: number) => cases.find((r) => r.case === name && r.cache === cache && r.connections === connections);
  // "The hop": the bare undici hop measured just before each gateway (the issue's baseline).
  for (const cache of ['off', 'decisions', 'on']) {
    const c64 = find('frontend query', cache, 64);
    const c1 = find('frontend query', cache, 1);
    if (c64?.vsHop !== undefined) {
      targets.push({ target: `frontend query, cache ${cache}, 64 conn: throughput >= 0.6 x the hop (goal 0.8)`, value: `${c64.vsHop.toFixed(2)}x`, met: c64.vsHop >= 0.6 });
    }
    if (c1?.addedP50Hop !== undefined) {
      targets.push({ target: `frontend query, cache ${cache}, 1 conn: p50 within 0.3 ms of the hop`, value: `+${c1.addedP50Hop.toFixed(3)} ms`, met: c1.addedP50Hop <= 0.3 });
    }
  }
  for (const name of ['polled session', 'polled session, Redis']) {
    const row = find(name, 'on', 64);
    if (row?.vsHop !== undefined) targets.push({ target: `${name}, 64 conn: throughput >= 3 x the hop`, value: `${row.vsHop.toFixed(2)}x`, met: row.vsHop >= 3 });
  }
  const fleetRows = cases.filter((r) => r.case === 'polled session, Redis');
  if (fleetRows.length) {
    const worst = Math.max(...fleetRows.map((r) => r.redisPerOp ?? 0));
    targets.push({ target: 'polled session, Redis: Redis commands per kept answer < 0.1 (every conc)', value: fleetRows.map((r) => `${r.connections} conn ${r.redisPerOp!.toFixed(3)}`).join(', '), met: worst < 0.1 });
  }
  const relay64 = find('relay decision', '-', 64);
  if (relay64?.vsDirect !== undefined) {
    targets.push({ target: 'for reference: a bare TCP relay (any hop\'s least cost), 64 conn, vs direct', value: `${relay64.vsDirect.toFixed(2)}x`, met: null });
  }
  targets.push({
    target: '1 token request per token lifetime (per gateway process)',
    value: gateways.map((g) => `cache ${g.cache}${g.redis ? ' (Redis)' : ''}: ${g.tokenRequests}`).join(', '),
    met: gateways.every((g) => g.tokenRequests === 1),
  });
  // A query names one session: at most one decision call per answer, give or take the requests
  // in flight (at most one per connection) when the counters were reset or read.
  const reads = cases.filter((r) => r.cache !== '-' && r.case !== 'createSession');
  const worst = reads.reduce<CaseRow | undefined>((max, r) => (!max || r.upstreamPerOp > max.upstreamPerOp ? r : max), undefined);
  if (worst) {
    targets.push({
      target: 'upstream decision calls <= distinct sessions per request (1)',
      value: `max ${worst.upstreamPerOp.toFixed(3)}/op (${worst.case}, cache ${worst.cache}, ${worst.connections} conn)`,
      met: reads.every((r) => r.upstreamCalls <= r.ok + r.connections),
    });
  }
  // A wrong token or path from the gateway would show up at the stub, not in the gateway's answers.
  targets.push({
    target: 'every upstream request valid (no 401 or 404 at the stub)',
    value: `${stubTotals.unauthorized} unauthorized, ${stubTotals.notFound} unknown`,
    met: stubTotals.unauthorized + stubTotals.notFound === 0,
  });
  const gatewayRows = cases.filter((r) => r.cache !== '-');
  const failures = gatewayRows.reduce((sum, r) => sum + r.errors + r.non2xx + r.graphqlErrors, 0);
  targets.push({ target: 'gateway answers: 200 without GraphQL errors in every timed run', value: `${failures} failed`, met: failures === 0 });
  for (const row of pdf.filter((r) => r.via === 'gateway')) {
    const relayRow = pdf.find((r) => r.via === 'relay' && r.parallel === row.parallel)!;
    targets.push({ target: `PDF ${row.parallel} at a time: RSS growth < 16 MB`, value: `${row.gatewayRssGrowthMb!.toFixed(1)} MB`, met: row.gatewayRssGrowthMb! < 16 });
    targets.push({ target: `PDF ${row.parallel} at a time: throughput >= 0.8 x direct`, value: `${row.vsDirect!.toFixed(2)}x`, met: row.vsDirect! >= 0.8 });
    targets.push({
      target: `PDF ${row.parallel} at a time, for reference: a bare TCP relay (any hop's least cost) vs direct`,
      value: `${relayRow.vsDirect!.toFixed(2)}x (the gateway: ${row.vsRelay!.toFixed(2)}x the relay)`,
      met: null,
    });
    targets.push({ target: `PDF ${row.parallel} at a time: every download is the whole 50 MB PDF`, value: `${row.downloads - row.bad.length}/${row.downloads}`, met: row.bad.length === 0 });
  }
  return targets;
}

/** The machine, and its load average when the benchmark started: on a shared machine the numbers vary. */
function machine(): Report['machine'] {
  return { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version, date: new Date().toISOString(), loadAverage: startLoad };
}

function printHeader(m: Report['machine']): void {
  console.log(`\nDidit gateway benchmark: ${m.cpu}, ${m.cores} cores, Node ${m.node}, ${m.date}, load average at start ${m.loadAverage.join(' ')}`);
  console.log(`${SECONDS} s per run after ${WARMUP_SECONDS} s of warm-up, ${POOL} sessions per run; latency in ms; 1 MB = 2^20 bytes;`);
  console.log('each gateway row is compared with the direct row just before its group (measured right before that gateway ran);');
  console.log('CPU% of one core, during the timed run: hop (gateway or relay) / stub / load generator / everything else on the machine\n');
}

async function fullRun(): Promise<void> {
  const cases: CaseRow[] = [];
  const gateways: GatewayRun[] = [];
  let pdf: PdfRow[] = [];

  await checkDirect();
  /** The direct calls and the relay (the hop), measured again before each gateway: the machine drifts. */
  const baseline = async (creates: boolean) => {
    for (const c of CONCURRENCIES) cases.push((await measure('direct decision', '-', 'decision', directDecision, c)).row);
    for (const c of CONCURRENCIES) cases.push((await measure('relay decision', '-', 'decision', relayDecision, c, relay.pid)).row);
    for (const c of CONCURRENCIES) cases.push((await measure('undici hop', '-', 'decision', hopDecision, c, hop.pid)).row);
    if (creates) for (const c of CONCURRENCIES) cases.push((await measure('direct create', '-', 'create', directCreate, c)).row);
  };
  for (const cache of FLEET_ONLY ? [] : (['on', 'decisions', 'off'] as const)) {
    progress(`direct calls to the stub and through the relay, to compare with the gateway (cache ${cache})`);
    await baseline(cache === 'on');
    const { tokensBefore } = await startCheckedGateway(cache);
    // PDFs and session creation do not use the decision cache: measured once. PDFs first, on a
    // fresh gateway, so that its RSS growth is the download's, not the aftermath of GraphQL load.
    if (cache === 'on') pdf = await measurePdf();
    for (const c of CONCURRENCIES) cases.push((await measure('frontend query', cache, 'decision', frontend, c)).row);
    if (cache === 'on') for (const c of CONCURRENCIES) cases.push((await measure('polled session', cache, 'decision', polled, c)).row);
    for (const c of CONCURRENCIES) cases.push((await measure('back-office query', cache, 'decision', backOffice, c)).row);
    if (cache === 'on') {
      for (const c of CONCURRENCIES) cases.push((await measure('createSession', cache, 'create', createSession, c)).row);
    }
    gateways.push(await stopGateway(cache, tokensBefore));
  }
  // A fleet: the gateway with a Redis of its own (budgets, leases of the operation limit, the
  // shared decision level, status events), whose commands are counted per answer.
  progress('direct calls and relay, to compare with the gateway on Redis');
  await baseline(false);
  gatewayRedis = await startRedis();
  const { tokensBefore } = await startCheckedGateway('on', [], { REDIS_URL: gatewayRedis.url, DECISION_CACHE_KEY: randomBytes(32).toString('hex') });
  for (const c of CONCURRENCIES) cases.push((await measure('polled session, Redis', 'on', 'decision', polled, c)).row);
  for (const c of CONCURRENCIES) cases.push((await measure('frontend query, Redis', 'on', 'decision', frontend, c)).row);
  gateways.push({ ...(await stopGateway('on', tokensBefore)), redis: true });
  await gatewayRedis.close();
  gatewayRedis = undefined;
  compare(cases);

  const report: Report = {
    machine: machine(),
    settings: { seconds: SECONDS, warmupSeconds: WARMUP_SECONDS, pool: POOL, concurrencies: CONCURRENCIES },
    cases,
    pdf,
    gateways,
    targets: evaluateTargets(cases, pdf, gateways, (await stub.stats()).totals),
  };
  printHeader(report.machine);
  console.log(formatCases(cases));
  console.log(`\n${formatPdf(pdf)}`);
  console.log(`\nGateway processes: ${gateways.map((g) => `cache ${g.cache}${g.redis ? ' (Redis)' : ''}: ${g.tokenRequests} token request(s), peak RSS ${g.peakRssMb.toFixed(0)} MB`).join('; ')}`);
  console.log(`\n${formatTargets(report.targets)}`);
  writeFileSync(join(RESULTS, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log('\nWritten to bench/results/latest.json');
}

/** The main thread's profile written by the gateway process `pid` as it exited. */
function profileOf(pid: number): string {
  // Node writes one profile per thread, CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0
  // is the main one (thread 1 is tsx's module loader).
  const name = readdirSync(RESULTS).find((entry) => entry.includes(`.${pid}.0.`) && entry.endsWith('.cpuprofile'));
  if (!name) throw new Error(`the gateway (pid ${pid}) wrote no CPU profile in ${RESULTS}`);
  return join(RESULTS, name);
}

/**
 * The frontend query at 64 connections with the cache off (every request goes the whole way:
 * auth, GraphQL, the upstream call) under `--cpu-prof`; the profile is read for the timed run only.
 */
async function profileRun(): Promise<void> {
  // Cache off by default: every request goes the whole way, upstream included.
  const cache = (['on', 'decisions'] as const).find((mode) => args.includes(`--cache=${mode}`)) ?? 'off';
  const connections = 64;
  const direct = await measure('direct decision', '-', 'decision', directDecision, connections);
  const { tokensBefore } = await startCheckedGateway(cache, ['--cpu-prof', `--cpu-prof-dir=${RESULTS}`]);
  const pid = gateway!.pid;
  const { row, run } = await measure('frontend query', cache, 'decision', frontend, connections);
  const gatewayRun = await stopGateway(cache, tokensBefore); // the profiles are written as the gateway exits
  compare([direct.row, row]);
  const file = profileOf(pid);
  const summary = summarizeProfile(file, run);

  const m = machine();
  printHeader(m);
  console.log(formatCases([direct.row, row]));
  // Sampling every stack costs the gateway a good part of its throughput: compare rates with a full run, not this one.
  console.log(`\n(the gateway ran under --cpu-prof, which costs it throughput; ${gatewayRun.tokenRequests} token request(s))`);
  console.log(`\nCPU profile: ${file}\n`);
  console.log(formatProfile(summary));
  const report = { machine: m, profile: { file, cache, connections, run: row, summary } };
  writeFileSync(join(RESULTS, 'profile-latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log('\nWritten to bench/results/profile-latest.json');
}

async function quickRun(): Promise<void> {
  const cache = (['on', 'decisions'] as const).find((mode) => args.includes(`--cache=${mode}`)) ?? 'off';
  await startCheckedGateway(cache);
  await inTurns(cache, []);
}

/**
 * The relay, the undici hop, `others` (servers answering the frontend query, in that order) and
 * the gateway, the frontend query at 1 and 64 connections, in turns, twice; each row compared
 * with the hop measured just before it.
 */
async function inTurns(cache: CacheMode, others: { name: string; pid: number; origin: string }[]): Promise<void> {
  const gatewayProcess = gateway!;
  const cases: CaseRow[] = [];
  const frontendAt =
    (origin: string): JobFor =>
    (ids) => ({
      type: 'http',
      url: `${origin}/graphql`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      bodies: ids.map((id) => graphqlBody(FRONTEND_QUERY, { id })),
      graphql: true,
    });
  for (let round = 0; round < 2; round++) {
    for (const c of [1, 64]) {
      gateway = undefined;
      cases.push((await measure('relay decision', '-', 'decision', relayDecision, c, relay.pid)).row);
      cases.push((await measure('undici hop', '-', 'decision', hopDecision, c, hop.pid)).row);
      for (const other of others) cases.push((await measure(other.name, '-', 'decision', frontendAt(other.origin), c, other.pid)).row);
      gateway = gatewayProcess;
      cases.push((await measure('frontend query', cache, 'decision', frontend, c)).row);
    }
  }
  compare(cases);
  printHeader(machine());
  console.log(formatCases(cases));
}

/**
 * `--floor`: the least GraphQL servers on the gateway's stack (floor.ts: Yoga, Yoga with
 * graphql-jit, graphql-jit without Yoga; no checks of any kind) in turns with the relay, the
 * hop and the gateway (cache off): what the stack itself costs on the uncached path.
 */
async function floorRun(): Promise<void> {
  const floors = [];
  for (const kind of ['yoga', 'yoga-jit', 'jit'] as const) {
    const floor = { name: `floor: ${kind}`, ...(await startFloor(stub.origin, ACCESS_TOKEN, kind)) };
    checkFrontend(await postGraphql(floor.origin, callers.applicant, graphqlBody(FRONTEND_QUERY, { id: randomUUID() })));
    floors.push(floor);
  }
  await startCheckedGateway('off');
  await inTurns('off', floors);
}

/** The PDF case alone, on a fresh gateway: for working on the download path (`--profile`: under `--cpu-prof`). */
async function pdfRun(): Promise<void> {
  const { tokensBefore } = await startCheckedGateway('on', PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${RESULTS}`] : []);
  const pid = gateway!.pid;
  const startUs = Number(process.hrtime.bigint() / 1000n);
  const pdf = await measurePdf();
  const endUs = Number(process.hrtime.bigint() / 1000n);
  const gatewayRun = await stopGateway('on', tokensBefore);
  printHeader(machine());
  console.log(formatPdf(pdf));
  console.log(`\n${formatTargets(evaluateTargets([], pdf, [gatewayRun], (await stub.stats()).totals))}`);
  if (PROFILE) console.log(`\n${formatProfile(summarizeProfile(profileOf(pid), { startUs, endUs }))}`);
}

/**
 * The gateway set-ups `--fast-path-compare` measures, the shipped one first. The answer cache is
 * the fast path's: through Yoga alone there is none. (@graphql-yoga/plugin-response-cache in its
 * place was measured once and lost: README, Performance.)
 */
/** A gateway set-up to compare: its environment, and which build (`dist/` unless `entry` names another). */
type Variant = { name: string; env: Record<string, string>; entry?: string };
const VARIANTS: Variant[] = [
  { name: 'fast path + answer cache (shipped)', env: {} },
  { name: 'fast path, no answer cache', env: { RESPONSE_CACHE_MAX: '0' } },
  { name: 'Yoga alone (GRAPHQL_FAST_PATH=false)', env: { GRAPHQL_FAST_PATH: 'false' } },
];

/** `--tracing-compare`: tracing off, then OTLP to the stub (which drops it) sampled at 1 % and at 100 %. */
function tracing(ratio: string): Record<string, string> {
  return { OTEL_EXPORTER_OTLP_ENDPOINT: stub.origin, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: ratio };
}
const TRACING_VARIANTS: Variant[] = [
  { name: 'tracing off', env: {} },
  { name: 'tracing, sampler 0.01', env: tracing('0.01') },
  { name: 'tracing, sampler 1.0', env: tracing('1.0') },
];

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/**
 * The frontend query (with `cache`) against every set-up of `variants`, all running at once
 * (idle ones cost nothing): each round measures every set-up at every concurrency, the set-ups
 * taking turns in an order that rotates from round to round, so that the machine's drift (other
 * work on a shared machine) falls on each alike. Each round starts every set-up afresh: one
 * process keeps its speed for life, and two processes of the same build differ by up to a
 * quarter on this machine, so a set-up measured in one process would compare processes, not
 * builds. Medians over the rounds are compared.
 */
async function compareVariants(variants: Variant[], cache: CacheMode, file: string): Promise<void> {
  let started: GatewayProcess[] = [];
  const runs = new Map<string, CaseRow[]>();
  const direct = new Map<number, number[]>();
  for (let round = 0; round < ROUNDS; round++) {
    progress(`round ${round + 1} of ${ROUNDS}`);
    for (const child of started) await child.stop();
    started = [];
    for (const variant of variants) {
      await startCheckedGateway(cache, [], variant.env, variant.entry);
      if (round === 0) progress(`  that is: ${variant.name}`);
      started.push(gateway!);
    }
    for (const c of CONCURRENCIES) {
      gateway = undefined;
      direct.set(c, [...(direct.get(c) ?? []), (await measure('direct decision', '-', 'decision', directDecision, c)).row.rps]);
      for (let turn = 0; turn < variants.length; turn++) {
        const i = (turn + round) % variants.length;
        gateway = started[i]!;
        sampler.watch(gateway.pid);
        const { row } = CREATES
          ? await measure(`createSession, ${variants[i]!.name}`, cache, 'create', createSession, c)
          : await measure(`frontend query, ${variants[i]!.name}`, cache, 'decision', frontend, c);
        const key = `${i} ${c}`;
        runs.set(key, [...(runs.get(key) ?? []), row]);
      }
    }
  }
  gateway = undefined;
  sampler.watch(undefined);
  for (const child of started) await child.stop();

  const rows: VariantRow[] = [];
  for (const c of CONCURRENCIES) {
    const first = median(runs.get(`0 ${c}`)!.map((r) => r.rps));
    variants.forEach((variant, i) => {
      const rounds = runs.get(`${i} ${c}`)!;
      const rps = median(rounds.map((r) => r.rps));
      rows.push({
        variant: variant.name,
        connections: c,
        rounds: rounds.map((r) => r.rps),
        rps,
        p50: median(rounds.map((r) => r.p50)),
        p99: median(rounds.map((r) => r.p99)),
        vsFirst: rps / first,
        failed: rounds.reduce((sum, r) => sum + r.errors + r.non2xx + r.graphqlErrors, 0),
        hopCpu: median(rounds.map((r) => r.cpu.hop ?? 0)),
        cpuMsPerOp: median(rounds.map((r) => r.cpuMsPerOp ?? 0)),
      });
    });
  }
  const m = machine();
  printHeader(m);
  console.log(`${CREATES ? 'createSession' : 'The frontend query'}, cache ${cache}; ${ROUNDS} rounds, every set-up measured in turn in each (order rotating); medians.`);
  console.log(`Direct hop, req/s per round: ${CONCURRENCIES.map((c) => `${c} conn ${direct.get(c)!.map((v) => v.toFixed(0)).join(' / ')}`).join('; ')}\n`);
  console.log(formatVariants(rows));
  writeFileSync(join(RESULTS, file), `${JSON.stringify({ machine: m, rounds: ROUNDS, seconds: SECONDS, direct: Object.fromEntries(direct), rows }, null, 2)}\n`);
  console.log(`\nWritten to bench/results/${file}`);
}

try {
  await (FAST_PATH_COMPARE
    ? compareVariants(VARIANTS, 'on', 'fast-path-latest.json')
    : AB
      ? compareVariants(
          [
            { name: 'this build', env: {} },
            { name: AB, env: {}, entry: join(AB, 'index.js') },
          ],
          (['on', 'decisions'] as const).find((mode) => args.includes(`--cache=${mode}`)) ?? 'off',
          'ab-latest.json',
        )
      : TRACING_COMPARE
      ? compareVariants(TRACING_VARIANTS, (['on', 'decisions'] as const).find((mode) => args.includes(`--cache=${mode}`)) ?? 'off', 'tracing-latest.json')
      : FLOOR ? floorRun() : QUICK ? quickRun() : PDF_ONLY ? pdfRun() : PROFILE ? profileRun() : fullRun());
} finally {
  await gateway?.stop();
  sampler.stop();
  await (await auditDatabase).drop();
}
process.exit(0);
