import { randomUUID } from 'node:crypto';
import { afterEach, expect, it, vi } from 'vitest';
import { createDiditClient } from '../../src/didit/client.ts';
import type { DiditV1Client as DiditClient } from '../../src/didit/v1.ts';
import { DiditNotFoundError, DiditRateLimitedError, DiditUnavailableError } from '../../src/didit/errors.ts';
import { createSandbox, type Sandbox } from '../../src/sandbox/server.ts';
import { createDecisionCache, type DecisionCacheOptions } from '../../src/core/decision-cache.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

/** A sandbox as Didit, a client without retries, and a cache in front of it. */
async function setup(options: Partial<DecisionCacheOptions> = {}) {
  const sandbox = createSandbox();
  const { url } = await sandbox.listen(0);
  const client = createDiditClient({ clientId: 'sandbox-client', clientSecret: 'sandbox-secret', authUrl: url, apiUrl: url, maxRetries: 0, decisionsPerMinute: 1_000_000 });
  cleanups.push(async () => {
    await client.close();
    await sandbox.close();
  });
  const lookups: string[] = [];
  const cache = createDecisionCache(client, { max: 10, ttlActiveMs: 60_000, ttlFinalMs: 60_000, onLookup: (o) => lookups.push(o), ...options });
  const newSession = async () => (await client.createSession({ callback: 'https://app.example.com/x' })).id;
  const reads = () => sandbox.requests.filter((r) => r.endpoint === 'decision').length;
  return { sandbox, client, cache, lookups, newSession, reads };
}

/** Waits (by condition, not by clock) until the cache no longer counts the session as fresh. */
async function untilExpired(cache: { remainingTtl(id: string): number }, id: string) {
  await vi.waitFor(() => expect(cache.remainingTtl(id)).toBeLessThanOrEqual(0));
}

it('makes one upstream read for concurrent misses, and serves hits until the entry expires', async () => {
  const { cache, lookups, newSession, reads, sandbox } = await setup();
  const id = await newSession();
  sandbox.resetRequests();
  const all = await Promise.all(Array.from({ length: 10 }, () => cache.get(id)));
  expect(new Set(all.map((d) => d.sessionId))).toEqual(new Set([id]));
  await cache.get(id);
  expect(reads()).toBe(1);
  expect(lookups.filter((o) => o === 'hit')).toHaveLength(1);
  await cache.delete(id);
  await cache.get(id);
  expect(reads()).toBe(2);
});

it('does not cache a read that was under way when the session changed', async () => {
  const { cache, newSession, reads, sandbox } = await setup();
  const id = await newSession();
  sandbox.resetRequests();
  const pending = cache.get(id);
  void cache.delete(id);
  await pending;
  await cache.get(id);
  expect(reads()).toBe(2);
});

it("keeps Didit's 'no such session' for NOT_FOUND_TTL_MS, until the session is dropped (created)", async () => {
  const { cache, lookups, reads } = await setup({ notFoundTtlMs: 60_000 });
  const id = randomUUID();
  await expect(cache.get(id)).rejects.toBeInstanceOf(DiditNotFoundError);
  await expect(cache.get(id.toUpperCase())).rejects.toBeInstanceOf(DiditNotFoundError);
  expect(reads()).toBe(1);
  expect(lookups).toEqual(['miss', 'hit']);
  await cache.delete(id);
  await expect(cache.get(id)).rejects.toBeInstanceOf(DiditNotFoundError);
  expect(reads()).toBe(2);
});

it("asks Didit again once 'no such session' is older than its TTL, and every time with a TTL of 0", async () => {
  const short = await setup({ notFoundTtlMs: 1 });
  const id = randomUUID();
  await expect(short.cache.get(id)).rejects.toBeInstanceOf(DiditNotFoundError);
  await vi.waitFor(async () => {
    await expect(short.cache.get(id)).rejects.toBeInstanceOf(DiditNotFoundError);
    expect(short.reads()).toBe(2);
  });
  const off = await setup({ notFoundTtlMs: 0 });
  await expect(off.cache.get(id)).rejects.toBeInstanceOf(DiditNotFoundError);
  await expect(off.cache.get(id)).rejects.toBeInstanceOf(DiditNotFoundError);
  expect(off.reads()).toBe(2);
});

it('answers with the last copy while Didit is unavailable or limiting, and fails for a session never read', async () => {
  const { cache, lookups, newSession, sandbox } = await setup({ ttlActiveMs: 1, ttlFinalMs: 1, staleIfErrorMs: 3_600_000 });
  const id = await newSession();
  sandbox.complete(id, 'Approved');
  expect((await cache.get(id)).status).toBe('Approved');
  await untilExpired(cache, id);
  sandbox.injectFault({ kind: 'status', status: 503, endpoint: 'decision' });
  expect((await cache.get(id)).status).toBe('Approved');
  expect(lookups.at(-1)).toBe('stale');
  sandbox.injectFault({ kind: 'rate-limit', endpoint: 'decision', retryAfter: 0 });
  expect((await cache.get(id)).status).toBe('Approved');
  expect(lookups.at(-1)).toBe('stale');
  const unseen = await newSession();
  sandbox.injectFault({ kind: 'status', status: 503, endpoint: 'decision' });
  await expect(cache.get(unseen)).rejects.toBeInstanceOf(DiditUnavailableError);
});

it('answers stale while the circuit around Didit is open', async () => {
  const { cache, newSession, sandbox, client, lookups } = await setup({ ttlActiveMs: 0, ttlFinalMs: 0, staleIfErrorMs: 3_600_000 });
  const id = await newSession();
  await cache.get(id);
  sandbox.injectFault({ kind: 'status', status: 503, endpoint: 'decision', times: 10 });
  await vi.waitFor(async () => {
    await cache.get(id);
    expect(client.breakerState()).toBe('open');
  });
  sandbox.resetRequests();
  expect((await cache.get(id)).sessionId).toBe(id);
  expect(lookups.at(-1)).toBe('stale');
  expect(sandbox.requests.filter((r) => r.endpoint === 'decision')).toHaveLength(0);
});

it('never answers with a copy dropped because the session changed, nor one older than staleIfErrorMs', async () => {
  const { cache, newSession, sandbox } = await setup({ ttlActiveMs: 1, ttlFinalMs: 1, staleIfErrorMs: 3_600_000 });
  const id = await newSession();
  await cache.get(id);
  await untilExpired(cache, id);
  await cache.delete(id);
  sandbox.injectFault({ kind: 'status', status: 503, endpoint: 'decision' });
  await expect(cache.get(id)).rejects.toBeInstanceOf(DiditUnavailableError);

  const brief = await setup({ ttlActiveMs: 1, ttlFinalMs: 1, staleIfErrorMs: 2 });
  const other = await brief.newSession();
  await brief.cache.get(other);
  // Past freshness and past the stale window: Didit's error is the answer.
  await vi.waitFor(async () => {
    brief.sandbox.injectFault({ kind: 'status', status: 503, endpoint: 'decision' });
    await expect(brief.cache.get(other)).rejects.toBeInstanceOf(DiditUnavailableError);
  });
});

it("forgets a copy of a session Didit no longer has, so it cannot answer during an outage", async () => {
  // Not even kept as "no such session" (NOT_FOUND_TTL_MS 0): the old copy still goes.
  const { cache, newSession, sandbox } = await setup({ ttlActiveMs: 1, ttlFinalMs: 1, staleIfErrorMs: 3_600_000, notFoundTtlMs: 0 });
  const id = await newSession();
  await cache.get(id);
  await untilExpired(cache, id);
  sandbox.injectFault({ kind: 'status', status: 404, endpoint: 'decision' });
  await expect(cache.get(id)).rejects.toBeInstanceOf(DiditNotFoundError);
  sandbox.injectFault({ kind: 'status', status: 503, endpoint: 'decision' });
  await expect(cache.get(id)).rejects.toBeInstanceOf(DiditUnavailableError);
});

it('charges right before an upstream read only, and a refusal prevents the read', async () => {
  const { cache, newSession, reads, sandbox } = await setup();
  const id = await newSession();
  sandbox.resetRequests();
  const charge = vi.fn();
  await Promise.all([cache.get(id, { charge }), cache.get(id, { charge })]);
  await cache.get(id, { charge });
  expect(charge).toHaveBeenCalledTimes(1);
  expect(reads()).toBe(1);

  const other = await newSession();
  const budgetSpent = new Error('budget spent');
  await expect(cache.get(other, { charge: () => { throw budgetSpent; } })).rejects.toBe(budgetSpent);
  expect(reads()).toBe(1);
  await cache.get(other, { charge });
  expect(charge).toHaveBeenCalledTimes(2);
  expect(reads()).toBe(2);
});

it('answers stale when the charge refuses as Didit would (rate limited)', async () => {
  const { cache, newSession, reads, sandbox, lookups } = await setup({ ttlActiveMs: 1, ttlFinalMs: 1, staleIfErrorMs: 3_600_000 });
  const id = await newSession();
  await cache.get(id);
  await untilExpired(cache, id);
  sandbox.resetRequests();
  const decision = await cache.get(id, { charge: () => { throw new DiditRateLimitedError(30); } });
  expect(decision.sessionId).toBe(id);
  expect(lookups.at(-1)).toBe('stale');
  expect(reads()).toBe(0);
});

it('bounds freshness by maxTtlMs (e.g. presigned media URLs expiring)', async () => {
  const { cache, newSession, reads, sandbox } = await setup({ maxTtlMs: (d) => (d.status === 'Approved' ? 0 : undefined) });
  const id = await newSession();
  await cache.get(id);
  await cache.get(id);
  sandbox.complete(id, 'Approved');
  await cache.delete(id);
  sandbox.resetRequests();
  await cache.get(id);
  await cache.get(id);
  expect(reads()).toBe(2);
});
