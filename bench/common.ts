/** What `run.ts` (the orchestrator) and `load.ts` (the load generator process) share. */

/** The stub's report size: 50 MiB. In this benchmark 1 MB = 2^20 bytes throughout. */
export const PDF_BYTES = 50 * 1024 * 1024;
export const MB = 1024 * 1024;

/**
 * A timed HTTP run with autocannon. Requests cycle through `paths` (GETs) or `bodies` (POSTs)
 * so each one can name another session.
 */
export interface HttpJob {
  type: 'http';
  /** Origin plus default path, e.g. http://127.0.0.1:4000/graphql. */
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  paths?: string[];
  bodies?: string[];
  connections: number;
  seconds: number;
  /** Count 200 answers whose body carries GraphQL `errors` (autocannon's body verification). */
  graphql: boolean;
}

export interface HttpResult {
  /** 2xx answers per second over the run. */
  rps: number;
  ok: number;
  /** Latency percentiles of every answer, in ms with µs precision (autocannon's own are whole ms). */
  p50: number;
  p99: number;
  /** Connection errors, timeouts included. */
  errors: number;
  non2xx: number;
  /** 2xx GraphQL answers carrying `errors`. */
  graphqlErrors: number;
  seconds: number;
  /** The run's bounds on CLOCK_MONOTONIC in µs: the same clock as V8's CPU profiles. */
  startUs: number;
  endUs: number;
}

/** `count` downloads, `parallel` at a time, each checked byte-wise. */
export interface DownloadJob {
  type: 'download';
  url: string;
  headers: Record<string, string>;
  count: number;
  parallel: number;
}

export interface DownloadResult {
  seconds: number;
  bytes: number;
  /** Downloads that were not 200 `application/pdf` of exactly PDF_BYTES from `%PDF-` to `%%EOF`. */
  bad: string[];
}

export type Job = HttpJob | DownloadJob;
export type JobMessage = { id: number; job: Job };
export type JobReply = { id: number; result?: HttpResult | DownloadResult; error?: string };
