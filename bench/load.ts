/**
 * The load generator, run as its own process by `bench/run.ts` so that its CPU is not the
 * gateway's: it takes jobs over IPC (timed autocannon runs, PDF downloads) and answers results.
 */
import autocannon from 'autocannon';
import { request } from 'undici';
import { PDF_BYTES, type DownloadJob, type DownloadResult, type HttpJob, type HttpResult, type JobMessage, type JobReply } from './common.ts';

const nowUs = () => Number(process.hrtime.bigint() / 1000n);

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function runHttp(job: HttpJob): Promise<HttpResult> {
  // One shared cursor: the connections walk the pool together, so every id comes up in turn.
  let next = 0;
  const { paths, bodies } = job;
  const bodyBuffers = bodies?.map((body) => Buffer.from(body));
  // autocannon hands setupRequest a fresh copy of the request each time: mutating it is safe.
  const setupRequest = paths
    ? (req: autocannon.Request) => Object.assign(req, { path: paths[next++ % paths.length] })
    : bodyBuffers && bodyBuffers.length > 1
      ? (req: autocannon.Request) => Object.assign(req, { body: bodyBuffers[next++ % bodyBuffers.length] })
      : undefined;

  // autocannon's histogram keeps whole milliseconds; a 1 ms budget needs finer, so each
  // answer's time (a float, in ms) is kept here.
  const latencies: number[] = [];
  let ok = 0;
  const startUs = nowUs();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: job.url,
        method: job.method,
        headers: job.headers,
        body: bodyBuffers?.length === 1 ? bodyBuffers[0] : undefined,
        connections: job.connections,
        duration: job.seconds,
        requests: setupRequest ? [{ setupRequest }] : undefined,
        // Cheap (autocannon collects bodies anyway): a 200 carrying `errors` is a failed operation.
        verifyBody: job.graphql ? (body) => !String(body).includes('"errors"') : undefined,
      },
      (error, done) => (error ? reject(error) : resolve(done)),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      latencies.push(responseTime);
      if (statusCode >= 200 && statusCode < 300) ok++;
    });
  });
  const endUs = nowUs();
  const sorted = Float64Array.from(latencies).sort();
  const seconds = (endUs - startUs) / 1e6;
  return {
    rps: ok / seconds,
    ok,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    errors: result.errors,
    non2xx: result.non2xx,
    graphqlErrors: result.mismatches,
    seconds,
    startUs,
    endUs,
  };
}

/** One download, read to the end; returns what is wrong with it, or null. */
async function downloadOnce(job: DownloadJob): Promise<{ bytes: number; problem: string | null }> {
  const response = await request(job.url, { headers: job.headers });
  const contentType = String(response.headers['content-type'] ?? '');
  let bytes = 0;
  let head = Buffer.alloc(0);
  let tail = Buffer.alloc(0);
  // 'data' events rather than `for await`: measured about twice as fast here, so the client
  // is not what limits the download.
  await new Promise<void>((resolve, reject) => {
    response.body.on('data', (chunk: Buffer) => {
      if (head.length < 5) head = Buffer.concat([head, chunk.subarray(0, 5 - head.length)]);
      // The last five bytes may straddle two chunks.
      tail = Buffer.concat([tail, chunk.subarray(-5)]).subarray(-5);
      bytes += chunk.length;
    });
    response.body.once('end', resolve);
    response.body.once('error', reject);
  });
  const problems = [
    response.statusCode !== 200 && `status ${response.statusCode}`,
    !contentType.startsWith('application/pdf') && `content-type ${contentType}`,
    bytes !== PDF_BYTES && `${bytes} bytes`,
    head.toString('latin1') !== '%PDF-' && 'no %PDF- header',
    tail.toString('latin1') !== '%%EOF' && 'no %%EOF trailer',
  ].filter(Boolean);
  return { bytes, problem: problems.length ? problems.join(', ') : null };
}

async function runDownloads(job: DownloadJob): Promise<DownloadResult> {
  const started = performance.now();
  let remaining = job.count;
  let bytes = 0;
  const bad: string[] = [];
  const lane = async () => {
    while (remaining > 0) {
      remaining--;
      const one = await downloadOnce(job);
      bytes += one.bytes;
      if (one.problem) bad.push(one.problem);
    }
  };
  await Promise.all(Array.from({ length: job.parallel }, lane));
  return { seconds: (performance.now() - started) / 1000, bytes, bad };
}

process.on('message', (message: JobMessage) => {
  const { id, job } = message;
  const work = job.type === 'http' ? runHttp(job) : runDownloads(job);
  work.then(
    (result) => process.send!({ id, result } satisfies JobReply),
    (error: unknown) => process.send!({ id, error: String((error as Error)?.stack ?? error) } satisfies JobReply),
  );
});
// The orchestrator going away (even killed) closes the IPC channel: the load generator goes too.
process.on('disconnect', () => process.exit(0));
process.send!({ ready: true });
