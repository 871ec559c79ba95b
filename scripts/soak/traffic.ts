/**
 * The soak's callers, each sending GraphQL to a random gateway instance:
 *
 * - applicants: start a session when the fleet's pace of new sessions gives them a turn, follow it
 *   over SSE, read it, finish it on the sandbox (as the applicant's page would), read it again;
 *   between sessions, and in the quiet phase, they re-read the sessions they finished;
 * - one reviewer per applicant: reads the finished session's decision and approves or declines
 *   it; in the quiet phase, re-reads finished sessions of anyone's;
 * - attackers (applicants too): the 15-alias × 100-random-id `sessions(ids:)` document, which
 *   must be refused before any Didit call, and single reads of random ids, which cost Didit a
 *   read each until the attacker's own share is spent.
 *
 * Everything is counted by operation and outcome; normal reads and writes are kept with their
 * times, so the report can tell failures while Didit was unavailable from the others.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { subscribeSse, type LiveSubscription } from '../../test/support/subscriptions.ts';

export type Phase = 'main' | 'quiet' | 'done';

/** A normal caller's read (an applicant's own session, or a reviewer's). */
export interface ReadRecord {
  sessionId: string;
  startedAt: number;
  endedAt: number;
  ok: boolean;
  /** Some caller had read this session successfully before this read started. */
  seenBefore: boolean;
}

export interface WriteRecord {
  operation: 'createSession' | 'updateSessionStatus';
  startedAt: number;
  endedAt: number;
  ok: boolean;
}

export interface Subscription {
  live: LiveSubscription;
  expected: number;
}

export interface TrafficOptions {
  gatewayUrls: string[];
  sandboxUrl: string;
  api: 'v1' | 'v3';
  jwtSecret: string;
  /** New sessions a minute across all applicants. */
  sessionsPerMinute: number;
}

/** Each session moves In Progress -> outcome -> review: three status events. */
const EVENTS_PER_SESSION = 3;
const REVIEW = { Approved: 'DECLINED', Declined: 'APPROVED', 'In Review': 'APPROVED' } as const;
/** Each outcome as the subscription's SessionStatus names it. */
const ENUM = { Approved: 'APPROVED', Declined: 'DECLINED', 'In Review': 'IN_REVIEW' } as const;
const OUTCOMES = Object.keys(REVIEW) as Array<keyof typeof REVIEW>;
const READ_SESSION = 'query($id: ID!) { session(id: $id) { status decision { kyc { fullName } } } }';
const READ_DECISION = 'query($id: ID!) { session(id: $id) { decision { aml { totalHits } location { ipCountry } } } }';
const REVIEW_SESSION = 'mutation($id: ID!, $s: ReviewDecision!) { updateSessionStatus(input: { sessionId: $id, status: $s }) { session { status } } }';
const ATTACK_ALIASES = Array.from({ length: 15 }, (_, i) => i);
const ATTACK_DOCUMENT = `query Spend(${ATTACK_ALIASES.map((i) => `$i${i}: [ID!]!`).join(', ')}) { ${ATTACK_ALIASES.map((i) => `a${i}: sessions(ids: $i${i}) { id status }`).join(' ')} }`;
/** Between two normal reads of one caller, and between two attacker requests. */
const READ_GAP_MS = 1000;
const ATTACK_GAP_MS = 100;
const SETTLE_MS = 2000;
/** How long the applicant takes to go through the verification pages (half to one and a half times). */
const VERIFY_MS = 3000;
/** Longest the page waits for the outcome's event before reading anyway (the webhook may be retried for 10 s). */
const OUTCOME_WAIT_MS = 12_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
async function until(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await sleep(100);
}
export const statusesOf = (s: Subscription): string[] => s.live.results.flatMap((r) => r.data?.sessionStatusChanged?.status ?? []);
const pick = <T>(items: readonly T[]): T | undefined => items[Math.floor(Math.random() * items.length)];

export function createTraffic(options: TrafficOptions) {
  const { gatewayUrls, sandboxUrl } = options;
  const key = new TextEncoder().encode(options.jwtSecret);
  const token = (sub: string, roles: string[] = []) => new SignJWT({ roles }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('2h').sign(key);
  const createDocument =
    options.api === 'v1'
      ? 'mutation { createSession(input: { callback: "https://app.example.com/done", features: [OCR, FACE, AML] }) { session { id } } }'
      : // v3 takes the steps from the workflow (the gateways' DIDIT_WORKFLOW_ID; applicants may not pick one).
        'mutation { createSession(input: { callback: "https://app.example.com/done" }) { session { id } } }';

  const state = { phase: 'main' as Phase, quietSessions: [] as string[] };
  const operations: Record<string, Record<string, number>> = {};
  const reads: ReadRecord[] = [];
  const writes: WriteRecord[] = [];
  const subscriptions: Subscription[] = [];
  const created = new Set<string>();
  /** Sessions finished and reviewed (or the review failed): nothing changes them any more. */
  const settled: Array<{ id: string; at: number }> = [];
  const seen = new Set<string>();
  const count = (operation: string, outcome: string) => {
    const outcomes = (operations[operation] ??= {});
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  };

  /** One GraphQL request to a random instance; the data when it answered without errors. */
  async function gql(operation: string, bearer: string, query: string, variables: Record<string, unknown>): Promise<any> {
    const gateway = pick(gatewayUrls)!;
    const startedAt = Date.now();
    let outcome: string;
    let data: any;
    try {
      const response = await fetch(`${gateway}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
        body: JSON.stringify({ query, variables }),
        signal: AbortSignal.timeout(20_000),
      });
      const body = (await response.json()) as { data?: any; errors?: Array<{ message?: string; extensions?: { code?: string; limit?: string } }> };
      const error = body.errors?.[0]?.extensions;
      // Which limit refused it: the caller's own share, the scheduler (no turn within the queue
      // wait), or the Didit client (its pace after a turn, or Didit's own 429).
      const upstream = body.errors?.[0]?.message?.startsWith('Too many requests to Didit') ? ', upstream' : '';
      outcome = error?.code ? (error.limit ? `${error.code} (${error.limit}${upstream})` : error.code) : response.ok ? 'ok' : `HTTP ${response.status}`;
      data = outcome === 'ok' ? body.data : undefined;
    } catch (error) {
      outcome = `transport: ${(error as Error).name}`;
    }
    count(operation, outcome);
    const record = { startedAt, endedAt: Date.now(), ok: outcome === 'ok' };
    if (operation === 'readSession' || operation === 'readDecision') {
      const sessionId = String(variables.id);
      reads.push({ ...record, sessionId, seenBefore: seen.has(sessionId) });
      if (record.ok) seen.add(sessionId);
    }
    if (operation === 'createSession' || operation === 'updateSessionStatus') writes.push({ ...record, operation });
    return data;
  }

  /** Follows one session over SSE on a random instance; resolves once the stream is open. */
  async function follow(id: string, bearer: string): Promise<Subscription> {
    const live = subscribeSse(pick(gatewayUrls)!, bearer, 'subscription($id: ID!) { sessionStatusChanged(sessionId: $id) { status } }', { id });
    // The stream starts once the gateway has checked access; it listens from its first read on.
    await live.opened;
    await sleep(50);
    const subscription = { live, expected: EVENTS_PER_SESSION };
    subscriptions.push(subscription);
    return subscription;
  }

  /** Finishes a session as the applicant's page would; false if the sandbox never took it (restarting all along). */
  async function complete(id: string, status: string): Promise<boolean> {
    for (let attempt = 0; attempt < 40; attempt++) {
      const answer = await fetch(`${sandboxUrl}/sandbox/sessions/${id}/complete`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ status }),
      }).catch(() => undefined);
      if (answer?.status === 200) return true;
      await sleep(250);
    }
    return false;
  }

  /** The fleet's turns for new sessions, spaced evenly. */
  let nextTurn = Date.now();
  const takeTurn = () => {
    const turn = Math.max(nextTurn, Date.now());
    nextTurn = turn + 60_000 / options.sessionsPerMinute;
    return turn;
  };

  async function applicant(index: number): Promise<void> {
    const bearer = await token(`soak-applicant-${index}`);
    const reviewer = await token(`soak-reviewer-${index}`, ['reviewer']);
    const own: string[] = [];
    while (state.phase === 'main') {
      // Waits for a turn without reading: sessions finished earlier go cold in every cache, so
      // the quiet phase shows how many times the fleet asks Didit for one.
      const turn = takeTurn();
      while (state.phase === 'main' && Date.now() < turn) await sleep(Math.min(500, turn - Date.now()));
      if (state.phase !== 'main') break;
      const id: string | undefined = (await gql('createSession', bearer, createDocument, {}))?.createSession?.session?.id;
      if (!id) continue;
      created.add(id);
      // The applicant's page: it reads the session once, then follows it instead of polling.
      const subscription = await follow(id, bearer);
      await gql('readSession', bearer, READ_SESSION, { id });
      await sleep(VERIFY_MS * (0.5 + Math.random()));
      const outcome = pick(OUTCOMES)!;
      // A session the sandbox never finished (it was restarting all along) moves no status at all.
      if (!(await complete(id, outcome))) {
        subscription.expected = 0;
        continue;
      }
      own.push(id);
      // The outcome's event says there is something new to show: the page reads it, and reloads a few times.
      await until(() => subscription.live.ended() || statusesOf(subscription).includes(ENUM[outcome]), OUTCOME_WAIT_MS);
      for (let i = 0; i < 3; i++) {
        await gql('readSession', bearer, READ_SESSION, { id });
        await sleep(READ_GAP_MS);
      }
      await gql('readDecision', reviewer, READ_DECISION, { id });
      const reviewed = await gql('updateSessionStatus', reviewer, REVIEW_SESSION, { id, s: REVIEW[outcome] });
      // A review that failed moves nothing: one event fewer to expect.
      if (!reviewed) subscription.expected -= 1;
      settled.push({ id, at: Date.now() });
    }
    // Quiet: nothing changes any more; the applicant and the reviewer only re-read finished sessions.
    const mine = own.filter((id) => state.quietSessions.includes(id));
    // Each caller at its own random moments, as callers are: not all at the instant the phase began.
    const reread = async (from: readonly string[], who: string, operation: string, query: string) => {
      await sleep(READ_GAP_MS * (0.5 + Math.random()));
      const id = pick(from);
      if (id && state.phase === 'quiet') await gql(operation, who, query, { id });
    };
    while (state.phase === 'quiet') {
      await Promise.all([reread(mine, bearer, 'readSession', READ_SESSION), reread(state.quietSessions, reviewer, 'readDecision', READ_DECISION)]);
    }
  }

  /** One attack loop, as the attacker account `account`. */
  async function attacker(account: number): Promise<void> {
    const bearer = await token(`soak-attacker-${account}`);
    while (state.phase !== 'done') {
      const variables = Object.fromEntries(ATTACK_ALIASES.map((i) => [`i${i}`, Array.from({ length: 100 }, () => randomUUID())]));
      await gql('attack: 15 × sessions(ids: 100 random)', bearer, ATTACK_DOCUMENT, variables);
      for (let i = 0; i < 5; i++) {
        await sleep(ATTACK_GAP_MS);
        await gql('attack: session(id: random)', bearer, 'query($id: ID!) { session(id: $id) { id status } }', { id: randomUUID() });
      }
      await sleep(ATTACK_GAP_MS);
    }
  }

  /**
   * A lone reviewer with sustained demand (nothing else running): `sessions(ids:)` of 30 ids nobody
   * created, one after another, each id a Didit read. Counts the reads Didit served (NOT_FOUND) and those refused.
   */
  async function loneReviewer(seconds: number): Promise<{ served: number; refused: number; seconds: number }> {
    const bearer = await token('soak-lone-reviewer', ['reviewer']);
    const startedAt = Date.now();
    let served = 0;
    let refused = 0;
    while (Date.now() - startedAt < seconds * 1000) {
      const ids = Array.from({ length: 30 }, () => randomUUID());
      const response = await fetch(`${pick(gatewayUrls)!}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
        body: JSON.stringify({ query: 'query($ids: [ID!]!) { sessions(ids: $ids) { id } }', variables: { ids } }),
      }).catch(() => undefined);
      const body = (await response?.json().catch(() => undefined)) as { errors?: Array<{ extensions?: { code?: string } }> } | undefined;
      for (const error of body?.errors ?? []) {
        if (error.extensions?.code === 'NOT_FOUND') served++;
        else if (error.extensions?.code === 'RATE_LIMITED') refused++;
      }
      count('lone reviewer: sessions(ids: 30 random)', body ? 'answered' : 'transport error');
    }
    return { served, refused, seconds: (Date.now() - startedAt) / 1000 };
  }

  return {
    state,
    loneReviewer,
    operations,
    count,
    reads,
    writes,
    subscriptions,
    created,
    applicant,
    attacker,
    /** From now on nothing changes: applicants finish the session under way, then only re-read. */
    quiet() {
      // Reviewed a few seconds ago at least: the review's webhook has come and gone.
      state.quietSessions = settled.filter((s) => s.at < Date.now() - SETTLE_MS).map((s) => s.id);
      state.phase = 'quiet';
      return new Set(state.quietSessions);
    },
  };
}

export type Traffic = ReturnType<typeof createTraffic>;
