import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import {
  CreateSessionDocument,
  FullDecisionDocument,
  SessionStatusDocument,
  UpdateSessionStatusDocument,
} from '../../../../src/generated/graphql.ts';
import { createAnswerCache } from '../../../../src/http/graphql/fast-path/answer-cache.ts';
import { codes, startTestGateway, type TestGateway } from '../../../support/gateway.ts';

const answer = (body: string) => ({ status: 200, headers: {}, body, operation: 'Q' });
const A = '11111111-1111-4111-8111-111111111111';
const B = '22222222-2222-4222-8222-222222222222';

describe('the answer cache itself', () => {
  it('forgets an answer when a session it read is dropped, or when its time is up', () => {
    // lru-cache reads the time from the performance object it found when loaded, which fake
    // timers replace rather than change: that one is pointed at the fake clock.
    const loaded = performance;
    vi.useFakeTimers({ toFake: ['performance', 'setTimeout', 'clearTimeout'] });
    const now = vi.spyOn(loaded, 'now').mockImplementation(() => globalThis.performance.now());
    onTestFinished(() => {
      now.mockRestore();
      vi.useRealTimers();
    });
    vi.advanceTimersByTime(1000); // lru-cache takes a start time of 0 for "no TTL"
    const cache = createAnswerCache(100);
    cache.set('both', answer('1'), [A, B], 60_000, cache.generation());
    cache.set('only-b', answer('2'), [B.toUpperCase()], 60_000, cache.generation());
    cache.set('short', answer('3'), [B], 20, cache.generation());
    cache.dropSession(A.toUpperCase());
    expect(cache.get('both')).toBeUndefined();
    expect(cache.get('only-b')?.body).toBe('2');
    vi.advanceTimersByTime(19);
    expect(cache.get('short')?.body).toBe('3');
    vi.advanceTimersByTime(2);
    expect(cache.get('short')).toBeUndefined();
    cache.dropSession(B);
    expect(cache.get('only-b')).toBeUndefined();
  });

  it('does not keep an answer begun before a session was dropped (it may be stale)', () => {
    const cache = createAnswerCache(100);
    const before = cache.generation();
    cache.dropSession(A);
    cache.set('late', answer('old'), [B], 60_000, before);
    expect(cache.get('late')).toBeUndefined();
  });

  it('is off at 0', () => {
    const cache = createAnswerCache(0);
    cache.set('k', answer('x'), [A], 60_000, cache.generation());
    expect(cache.enabled).toBe(false);
    expect(cache.get('k')).toBeUndefined();
  });
});

describe('repeated reads through the gateway', () => {
  let gw: TestGateway;
  let owner: string;
  let reviewer: string;
  const metric = async (pattern: RegExp) => Number(pattern.exec(await (await fetch(`${gw.url}/metrics`)).text())?.[1] ?? 0);
  const hits = () => metric(/gateway_response_cache_lookups_total\{outcome="hit"\} (\d+)/);
  /**
   * Finishes a session and waits until the gateway has answered its webhooks (In Progress, then
   * Approved): a drop while reading would keep nothing.
   */
  const finish = async (id: string) => {
    gw.sandboxInstance.complete(id, 'Approved');
    await gw.sandboxInstance.webhooksSettled();
  };
  const createSession = async () =>
    (await gw.client(owner).request(CreateSessionDocument, { input: { callback: 'http://localhost:3000/done', features: ['OCR', 'FACE', 'AML'] } })).createSession.session.id;

  beforeAll(async () => {
    gw = await startTestGateway({ RATE_LIMIT_PER_MINUTE: '12' });
    owner = await gw.token('owner-1');
    reviewer = await gw.token('office', ['reviewer']);
  });
  afterAll(() => gw.close());

  it('answers a repeat from the cache, per caller: another caller sending the same body is checked afresh', async () => {
    const id = await createSession();
    await finish(id);
    const before = await hits();
    const first = await gw.run(reviewer, FullDecisionDocument, { id });
    const again = await gw.run(reviewer, FullDecisionDocument, { id });
    expect(first.errors).toBeUndefined();
    expect(first.data!.session!.decision!.aml).not.toBeNull();
    expect(again).toEqual(first);
    expect(await hits()).toBe(before + 1);

    // The same body from other callers: never the reviewer's kept answer.
    const applicant = await gw.run(owner, FullDecisionDocument, { id });
    expect(applicant.data!.session!.decision!.aml).toBeNull();
    expect(codes(await gw.run(await gw.token('owner-2'), FullDecisionDocument, { id }))).toEqual(['NOT_FOUND']);
    expect(codes(await gw.run(`${reviewer.slice(0, -4)}AAAA`, FullDecisionDocument, { id }))).toEqual(['UNAUTHENTICATED']);
    expect(await hits()).toBe(before + 1);
  });

  it('drops a kept answer as soon as the session changes', async () => {
    const id = await createSession();
    await finish(id);
    const before = await hits();
    expect((await gw.run(owner, SessionStatusDocument, { id })).data!.session!.status).toBe('APPROVED');
    expect((await gw.run(owner, SessionStatusDocument, { id })).data!.session!.status).toBe('APPROVED');
    // The second read was a kept answer: what follows shows that one dropped, not never kept.
    expect(await hits()).toBe(before + 1);
    await gw.client(reviewer).request(UpdateSessionStatusDocument, { input: { sessionId: id, status: 'DECLINED' } });
    expect((await gw.run(owner, SessionStatusDocument, { id })).data!.session!.status).toBe('DECLINED');
  });

  it('keeps no mutation and no answer with errors', async () => {
    gw.sandboxInstance.resetRequests();
    const missing = '00000000-0000-4000-8000-000000000000';
    const before = await hits();
    expect(codes(await gw.run(owner, SessionStatusDocument, { id: missing }))).toEqual(['NOT_FOUND']);
    expect(codes(await gw.run(owner, SessionStatusDocument, { id: missing }))).toEqual(['NOT_FOUND']);
    await gw.client(owner).request(CreateSessionDocument, { input: { callback: 'http://localhost:3000/done' } });
    await gw.client(owner).request(CreateSessionDocument, { input: { callback: 'http://localhost:3000/done' } });
    expect(gw.upstream('create')).toBe(2);
    expect(await hits()).toBe(before);
  });

  it('still counts kept answers against the caller’s rate limit (12 a minute here)', async () => {
    const caller = await gw.token('owner-3');
    const id = (await gw.client(caller).request(CreateSessionDocument, { input: { callback: 'http://localhost:3000/done' } })).createSession.session.id;
    const reads = [];
    for (let i = 0; i < 13; i++) reads.push(await gw.run(caller, SessionStatusDocument, { id }));
    // One operation went to creating the session: 11 reads pass (10 of them kept answers).
    expect(reads.slice(0, 11).every((read) => read.errors === undefined)).toBe(true);
    expect(codes(reads[11]!)).toEqual(['RATE_LIMITED']);
    expect(codes(reads[12]!)).toEqual(['RATE_LIMITED']);
  });
});
