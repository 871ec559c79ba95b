/** The benchmark's results: their shape (also that of bench/results/latest.json) and their printing. */
import type { ProfileSummary } from './cpu-profile.ts';

/** on: decisions and answers kept; decisions: decisions only (every request executes); off: neither. */
export type CacheMode = 'on' | 'decisions' | 'off';

export interface CaseRow {
  case: string;
  /** Caches of the gateway (see CacheMode), or '-' when the gateway is not involved. */
  cache: CacheMode | '-';
  connections: number;
  rps: number;
  /** 2xx answers in the timed run, and its length in seconds. */
  ok: number;
  seconds: number;
  p50: number;
  p99: number;
  /** Connection errors and timeouts. */
  errors: number;
  non2xx: number;
  /** 200 answers carrying GraphQL `errors`. */
  graphqlErrors: number;
  /** Gateway throughput / direct throughput at the same concurrency. */
  vsDirect?: number;
  /** Gateway p50 - direct p50, in ms. */
  addedP50?: number;
  /** The same against the bare undici hop (floor.ts, `hop`) measured last before it. */
  vsHop?: number;
  addedP50Hop?: number;
  /** CPU of the process answering (gateway, relay or hop) per 2xx answer, in ms. */
  cpuMsPerOp?: number;
  /** Commands Redis ran (inside scripts included) per 2xx answer, when the gateway has a Redis. */
  redisPerOp?: number;
  /** Upstream calls of the case's kind (decision or create) per 2xx answer, from the stub's counters. */
  upstreamPerOp: number;
  upstreamCalls: number;
  /** Gateway RSS, highest sampled during the run, in MB. */
  gatewayRssMb?: number;
  /** CPU used during the run, % of one core: gateway, stub, load generator, and the rest of the machine. */
  cpu: Record<string, number>;
}

export interface PdfRow {
  /** Straight from the stub, through the bare TCP relay, or through the gateway. */
  via: 'direct' | 'relay' | 'gateway';
  downloads: number;
  parallel: number;
  mbPerS: number;
  vsDirect?: number;
  vsRelay?: number;
  /** Downloads that were not exactly the 50 MB PDF. */
  bad: string[];
  upstreamPerDownload?: number;
  gatewayRssGrowthMb?: number;
  cpu: Record<string, number>;
}

export interface GatewayRun {
  cache: CacheMode;
  /** With a Redis of its own (a fleet). */
  redis?: boolean;
  tokenRequests: number;
  peakRssMb: number;
}

export interface Target {
  target: string;
  value: string;
  /** null: a figure shown for context, not a target. */
  met: boolean | null;
}

export interface Report {
  machine: { cpu: string; cores: number; node: string; date: string; loadAverage: number[] };
  settings: { seconds: number; warmupSeconds: number; pool: number; concurrencies: number[] };
  cases: CaseRow[];
  pdf: PdfRow[];
  gateways: GatewayRun[];
  targets: Target[];
}

const fixed = (value: number | undefined, digits: number) => (value === undefined || Number.isNaN(value) ? '-' : value.toFixed(digits));
const cpuText = (cpu: Record<string, number>) => ['hop', 'stub', 'load', 'other'].map((name) => (name in cpu ? cpu[name]!.toFixed(0) : '-')).join('/');

/** Left-aligns the first `textColumns` columns, right-aligns the rest (numbers). */
export function table(headers: string[], rows: string[][], textColumns = 1): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i < textColumns ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function formatCases(rows: CaseRow[]): string {
  return table(
    ['case', 'cache', 'conc', 'req/s', 'p50 ms', 'p99 ms', 'err', 'non2xx', 'gql err', 'vs direct', '+p50 ms', 'vs hop', '+p50 hop', 'CPU ms/op', 'upstream/op', 'redis/op', 'gw RSS MB', 'CPU% hop/stub/load/other'],
    rows.map((r) => [
      r.case,
      r.cache,
      String(r.connections),
      r.rps.toFixed(0),
      fixed(r.p50, 3),
      fixed(r.p99, 3),
      String(r.errors),
      String(r.non2xx),
      String(r.graphqlErrors),
      r.vsDirect === undefined ? '-' : `${r.vsDirect.toFixed(2)}x`,
      fixed(r.addedP50, 3),
      r.vsHop === undefined ? '-' : `${r.vsHop.toFixed(2)}x`,
      fixed(r.addedP50Hop, 3),
      fixed(r.cpuMsPerOp, 3),
      r.upstreamPerOp.toFixed(3),
      fixed(r.redisPerOp, 3),
      fixed(r.gatewayRssMb, 0),
      cpuText(r.cpu),
    ]),
    2,
  );
}

export function formatPdf(rows: PdfRow[]): string {
  return table(
    ['PDF 50 MB', 'downloads', 'parallel', 'MB/s', 'vs direct', 'vs relay', 'bytes ok', 'upstream/dl', 'gw RSS growth MB', 'CPU% hop/stub/load/other'],
    rows.map((r) => [
      r.via,
      String(r.downloads),
      String(r.parallel),
      r.mbPerS.toFixed(0),
      r.vsDirect === undefined ? '-' : `${r.vsDirect.toFixed(2)}x`,
      r.vsRelay === undefined ? '-' : `${r.vsRelay.toFixed(2)}x`,
      r.bad.length ? `NO (${r.bad.length} bad: ${r.bad[0]})` : 'yes',
      fixed(r.upstreamPerDownload, 2),
      fixed(r.gatewayRssGrowthMb, 1),
      cpuText(r.cpu),
    ]),
  );
}

export function formatTargets(targets: Target[]): string {
  return table(['target', 'measured', 'met'], targets.map((t) => [t.target, t.value, t.met === null ? '' : t.met ? 'yes' : 'NO']), 2);
}

export function formatProfile(summary: ProfileSummary): string {
  const busy = `${summary.busyMs.toFixed(0)} ms busy, ${summary.idleMs.toFixed(0)} ms idle in a ${summary.windowMs.toFixed(0)} ms window`;
  const rows = (list: ProfileSummary['functions']) => list.map((f) => [f.name, f.ms.toFixed(0), `${f.percent.toFixed(1)}%`]);
  return [
    `Gateway self time by package (${busy}; % of busy time):`,
    table(['package', 'self ms', '%'], rows(summary.packages)),
    '',
    `Top ${summary.functions.length} functions by self time:`,
    table(['function', 'self ms', '%'], rows(summary.functions)),
  ].join('\n');
}

/** One gateway set-up of `--fast-path-compare`, at one concurrency, over its alternating rounds. */
export interface VariantRow {
  variant: string;
  connections: number;
  /** Req/s of each round, in the order they ran. */
  rounds: number[];
  /** Medians over the rounds. */
  rps: number;
  p50: number;
  p99: number;
  /** Median req/s / the first variant's (today's set-up) median at the same concurrency. */
  vsFirst: number;
  /** Failed answers over every round: connection errors, non-2xx, GraphQL errors. */
  failed: number;
  /** Median CPU of the gateway, % of one core, and per answer (ms). */
  hopCpu: number;
  cpuMsPerOp: number;
}

export function formatVariants(rows: VariantRow[]): string {
  return table(
    ['set-up', 'conc', 'req/s (median)', 'each round', 'vs first', 'p50 ms', 'p99 ms', 'failed', 'gw CPU%', 'CPU ms/op'],
    rows.map((r) => [
      r.variant,
      String(r.connections),
      r.rps.toFixed(0),
      r.rounds.map((rps) => rps.toFixed(0)).join(' / '),
      `${r.vsFirst.toFixed(2)}x`,
      fixed(r.p50, 3),
      fixed(r.p99, 3),
      String(r.failed),
      r.hopCpu.toFixed(0),
      r.cpuMsPerOp.toFixed(3),
    ]),
    1,
  );
}
