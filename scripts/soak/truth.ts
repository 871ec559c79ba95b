/**
 * The soak's truth phase (`npm run soak -- --truth [--seconds 40 --max-age-ms 10000]`): webhooks are
 * never sent (the sandbox has no webhook URL at all), while sessions change at Didit (outcomes,
 * reviews, status updates through Didit's v3 API, as a console would) and are deleted there. Two
 * gateway instances on one Redis, with the shared decision level, read every session twice a
 * second. The report gives, per instance, the longest time any answer differed from what Didit
 * held, the answers given for deleted sessions after the bound, and what revalidation cost Didit.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { freePort } from '../../src/lib/free-port.ts';
import { KYC_BASIC_WORKFLOW_ID, createSandbox } from '../../src/sandbox/server.ts';
import { startGateway, startRedis, stop, type Proc } from './processes.ts';
import { scratchDatabase } from '../scratch-database.ts';

export interface TruthOptions {
  seconds: number;
  /** The gateways' DECISION_MAX_AGE_MS. */
  maxAgeMs: number;
  sessions?: number;
  verbose?: boolean;
}

export interface TruthResult {
  maxAgeMs: number;
  /** DECISION_MAX_AGE_MS plus one revalidation (a reconciliation round, a quarter of it). */
  boundMs: number;
  changes: number;
  deletions: number;
  perInstance: Record<
    string,
    {
      answers: number;
      /** The longest time an answer differed from Didit's truth, from the change it had missed. */
      longestWrongMs: number;
      /** Answers showing a deleted session more than `boundMs` after its deletion. */
      deletedShownAfterBound: number;
      /** Didit calls revalidation made, a minute (decision reads, list pages). */
      backgroundDecisionReadsPerMinute: number;
      backgroundListCallsPerMinute: number;
    }
  >;
  /** Every decision read Didit received, a minute (callers' misses and revalidation together). */
  diditDecisionReadsPerMinute: number;
}

const JWT_SECRET = 'soak-jwt-secret-that-is-long-enough-1234';
const API_KEY = 'sandbox-api-key-0123456789';
const INSTANCES = ['A', 'B'];
const READ_EVERY_MS = 500;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const asEnum = (status: string) => status.toUpperCase().replace(/ /g, '_');

interface Answer {
  at: number;
  sessionId: string;
  /** The status answered, or NOT_FOUND. */
  status: string;
}

export async function runTruthPhase(options: TruthOptions): Promise<TruthResult> {
  const say = (message: string) => options.verbose && process.stderr.write(`soak (truth): ${message}\n`);
  const [redisPort, sandboxPort, ...ports] = await Promise.all([freePort(), freePort(), ...INSTANCES.map(() => freePort())]);
  const sandboxUrl = `http://127.0.0.1:${sandboxPort}`;
  const gatewayUrls = ports.map((port) => `http://127.0.0.1:${port}`);
  // No webhook URL: Didit's deliveries are lost, every one of them.
  const sandbox = createSandbox({ apiKey: API_KEY, publicUrl: sandboxUrl, logger: { info() {}, warn() {} } });
  await sandbox.listen(sandboxPort, '127.0.0.1');
  const procs: { redis?: Proc; gateways: Proc[] } = { gateways: [] };
  const reviewer = await new SignJWT({ roles: ['reviewer'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('truth-reviewer').setExpirationTime('1h').sign(new TextEncoder().encode(JWT_SECRET));
  const didit = (method: string, path: string, body?: unknown) =>
    fetch(`${sandboxUrl}${path}`, { method, headers: { 'content-type': 'application/json', 'x-api-key': API_KEY }, body: body === undefined ? undefined : JSON.stringify(body) });

  /** Didit's truth: each session's statuses with the time each change was asked for (the earliest it could show). */
  const truth = new Map<string, Array<{ at: number; status: string }>>();
  const truthAt = (id: string, at: number) => [...truth.get(id)!].reverse().find((entry) => entry.at <= at) ?? truth.get(id)![0]!;
  const answers = new Map<string, Answer[]>(INSTANCES.map((name) => [name, []]));
  let running = true;

  // The fleet's audit trail: a database of the run's own.
  const database = await scratchDatabase('truth');
  try {
    procs.redis = await startRedis(redisPort);
    const env = {
      ...database.env,
      DIDIT_API_URL: sandboxUrl, DIDIT_API_KEY: API_KEY, DIDIT_WORKFLOW_ID: KYC_BASIC_WORKFLOW_ID, DIDIT_CLIENT_ID: '', DIDIT_CLIENT_SECRET: '',
      // A secret is configured, so the gateways believe webhooks would come (none will).
      DIDIT_WEBHOOK_SECRET: 'soak-webhook-secret', REDIS_URL: `redis://127.0.0.1:${redisPort}`, DECISION_CACHE_KEY: randomBytes(32).toString('hex'),
      DECISION_MAX_AGE_MS: String(options.maxAgeMs), DIDIT_DECISIONS_PER_MINUTE: '100', AUTH_JWT_SECRET: JWT_SECRET, CALLBACK_ALLOWED_ORIGINS: 'https://app.example.com',
      PDF_LINK_SECRET: 'soak-pdf-link-secret-that-is-long-enough-99',
    };
    procs.gateways = await Promise.all(ports.map((port) => startGateway(port, env)));

    const ids: string[] = [];
    for (let i = 0; i < (options.sessions ?? 12); i++) {
      const response = await didit('POST', '/v3/session/', { workflow_id: KYC_BASIC_WORKFLOW_ID, vendor_data: randomUUID() });
      const id = ((await response.json()) as { session_id: string }).session_id.toLowerCase();
      ids.push(id);
      truth.set(id, [{ at: 0, status: 'Not Started' }]);
    }
    const query = `query Truth { ${ids.map((id, i) => `s${i}: session(id: "${id}") { status }`).join(' ')} }`;

    const reader = async (name: string, url: string) => {
      while (running) {
        const at = Date.now();
        try {
          const response = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${reviewer}` }, body: JSON.stringify({ query }) });
          const body = (await response.json()) as { data?: Record<string, { status: string } | null>; errors?: Array<{ path?: string[]; extensions?: { code?: string } }> };
          ids.forEach((sessionId, i) => {
            const session = body.data?.[`s${i}`];
            const error = body.errors?.find((e) => e.path?.[0] === `s${i}`)?.extensions?.code;
            if (session) answers.get(name)!.push({ at, sessionId, status: session.status });
            else if (error === 'NOT_FOUND') answers.get(name)!.push({ at, sessionId, status: 'NOT_FOUND' });
          });
        } catch {
          // an instance restarting or overloaded: no answer, nothing to judge
        }
        await sleep(READ_EVERY_MS);
      }
    };
    const readers = INSTANCES.map((name, i) => reader(name, gatewayUrls[i]!));

    say(`${ids.length} sessions, ${INSTANCES.length} instances, DECISION_MAX_AGE_MS ${options.maxAgeMs}, ${options.seconds} s, no webhooks`);
    const startedAt = Date.now();
    let changes = 0;
    const deleted = new Map<string, number>();
    const change = async (id: string, status: string, send: () => Promise<unknown>) => {
      const at = Date.now();
      truth.get(id)!.push({ at, status });
      await send();
      changes += 1;
    };
    for (let step = 0; Date.now() - startedAt < options.seconds * 1000; step++) {
      await sleep(1500);
      const live = ids.filter((id) => !deleted.has(id));
      const id = live[step % live.length]!;
      const current = truth.get(id)!.at(-1)!.status;
      if (Date.now() - startedAt > options.seconds * 400 && step % 3 === 0 && deleted.size < ids.length / 3) {
        const at = Date.now();
        truth.get(id)!.push({ at, status: 'NOT_FOUND' });
        deleted.set(id, at);
        await didit('DELETE', `/v3/session/${id}/delete/`);
      } else if (current === 'Not Started') {
        await change(id, 'Approved', async () => sandbox.complete(id, 'Approved'));
      } else if (current === 'Approved') {
        await change(id, 'Declined', () => didit('PATCH', `/v3/session/${id}/update-status/`, { new_status: 'Declined', comment: 'soak' }));
      } else if (current === 'Declined') {
        await change(id, 'In Review', () => didit('POST', `/v3/sessions/${id}/reviews/`, { new_status: 'In Review', comment: 'soak' }));
      } else if (current === 'In Review') {
        await change(id, 'Approved', () => didit('POST', `/v3/sessions/${id}/reviews/`, { new_status: 'Approved', comment: 'soak' }));
      }
    }
    // Let the last changes reach their bound, then stop reading.
    await sleep(options.maxAgeMs * 1.25 + 1000);
    running = false;
    await Promise.all(readers);
    const minutes = (Date.now() - startedAt) / 60_000;

    const boundMs = options.maxAgeMs * 1.25;
    const perInstance: TruthResult['perInstance'] = {};
    for (const [i, name] of INSTANCES.entries()) {
      let longestWrongMs = 0;
      let deletedShownAfterBound = 0;
      for (const answer of answers.get(name)!) {
        const held = truthAt(answer.sessionId, answer.at);
        const expected = held.status === 'NOT_FOUND' ? 'NOT_FOUND' : asEnum(held.status);
        if (answer.status !== expected) longestWrongMs = Math.max(longestWrongMs, answer.at - held.at);
        const gone = deleted.get(answer.sessionId);
        if (gone !== undefined && answer.at > gone + boundMs && answer.status !== 'NOT_FOUND') deletedShownAfterBound += 1;
      }
      const metrics = await (await fetch(`${gatewayUrls[i]}/metrics`)).text();
      const counted = (endpoint: string) => Number(new RegExp(`^gateway_didit_background_reads_total\\{endpoint="${endpoint}"\\} (\\d+)`, 'm').exec(metrics)?.[1] ?? 0);
      perInstance[name] = {
        answers: answers.get(name)!.length,
        longestWrongMs,
        deletedShownAfterBound,
        backgroundDecisionReadsPerMinute: round(counted('decision') / minutes),
        backgroundListCallsPerMinute: round(counted('list') / minutes),
      };
    }
    return {
      maxAgeMs: options.maxAgeMs,
      boundMs,
      changes,
      deletions: deleted.size,
      perInstance,
      diditDecisionReadsPerMinute: round(sandbox.requests.filter((r) => r.endpoint === 'decision').length / minutes),
    };
  } finally {
    running = false;
    await Promise.all(procs.gateways.map((g) => stop(g)));
    await sandbox.close();
    await stop(procs.redis, 'SIGKILL');
    await database.drop();
  }
}

const round = (value: number) => Math.round(value * 10) / 10;

export function formatTruth(result: TruthResult): string {
  const lines = [
    `truth phase: webhooks never sent; ${result.changes} changes and ${result.deletions} deletions at Didit; DECISION_MAX_AGE_MS ${result.maxAgeMs}, bound ${result.boundMs} ms (max age + one revalidation round)`,
    'instance  answers  longest wrong ms (target <= bound)  deleted shown after bound (target 0)  revalidation decision reads/min  list calls/min',
  ];
  for (const [name, figures] of Object.entries(result.perInstance)) {
    const ok = figures.longestWrongMs <= result.boundMs && figures.deletedShownAfterBound === 0 ? 'ok' : 'MISSED';
    lines.push(
      `${name.padEnd(8)}  ${String(figures.answers).padStart(7)}  ${String(figures.longestWrongMs).padStart(34)}  ${String(figures.deletedShownAfterBound).padStart(36)}  ${String(figures.backgroundDecisionReadsPerMinute).padStart(31)}  ${String(figures.backgroundListCallsPerMinute).padStart(14)}  ${ok}`,
    );
  }
  lines.push(`Didit decision reads a minute, all causes: ${result.diditDecisionReadsPerMinute}`);
  return lines.join('\n');
}
