import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDiditClient } from '../../src/didit/client.ts';
import type { DiditV1Client as DiditClient } from '../../src/didit/v1.ts';
import { DiditUnavailableError } from '../../src/didit/errors.ts';
import { createSandbox, type Sandbox } from '../../src/sandbox/server.ts';
import { createDecisionCache } from '../../src/core/decision-cache.ts';

let sandbox: Sandbox;
let client: DiditClient;
beforeAll(async () => {
  sandbox = createSandbox();
  const { url } = await sandbox.listen(0);
  client = createDiditClient({ clientId: 'sandbox-client', clientSecret: 'sandbox-secret', authUrl: url, apiUrl: url, maxRetries: 0, decisionsPerMinute: 1_000_000 });
});
afterAll(async () => {
  await client.close();
  await sandbox.close();
});

const reads = () => sandbox.requests.filter((r) => r.endpoint === 'decision').length;
const newSession = async () => (await client.createSession({ callback: 'https://app.example.com/x' })).session_id;

it('makes one upstream read for concurrent misses, and serves hits until the entry expires', async () => {
  const lookups: string[] = [];
  const cache = createDecisionCache(client, { max: 10, ttlActiveMs: 60_000, ttlFinalMs: 60_000, onLookup: (o) => lookups.push(o) });
  const id = await newSession();
  sandbox.resetRequests();
  const all = await Promise.all(Array.from({ length: 10 }, () => cache.get(id)));
  expect(new Set(all.map((d) => d.session_id))).toEqual(new Set([id]));
  await cache.get(id);
  expect(reads()).toBe(1);
  expect(lookups.filter((o) => o === 'hit')).toHaveLength(1);
  cache.delete(id);
  await cache.get(id);
  expect(reads()).toBe(2);
});

it("does not cache a read that was under way when the session changed", async () => {
  const cache = createDecisionCache(client, { max: 10, ttlActiveMs: 60_000, ttlFinalMs: 60_000 });
  const id = await newSession();
  sandbox.resetRequests();
  const pending = cache.get(id);
  cache.delete(id);
  await pending;
  await cache.get(id);
  expect(reads()).toBe(2);
});

it('answers with the last copy while Didit is unavailable, and fails without one', async () => {
  const lookups: string[] = [];
  const cache = createDecisionCache(client, { max: 10, ttlActiveMs: 1, ttlFinalMs: 1, onLookup: (o) => lookups.push(o) });
  const id = await newSession();
  sandbox.complete(id, 'Approved');
  expect((await cache.get(id)).status).toBe('Approved');
  await new Promise((resolve) => setTimeout(resolve, 5)); // let the 1 ms entry expire
  sandbox.injectFault({ kind: 'status', status: 503, endpoint: 'decision', times: 2 });
  expect((await cache.get(id)).status).toBe('Approved');
  expect(lookups.at(-1)).toBe('stale');
  await expect(cache.get(await newSession())).rejects.toBeInstanceOf(DiditUnavailableError);
});
