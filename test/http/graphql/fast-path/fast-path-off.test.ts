import { afterEach, describe, expect, it, vi } from 'vitest';
import { startTestGateway, type TestGateway } from '../../../support/gateway.ts';

/**
 * Stands for a graphql-yoga that changed: its internal serialiser answers with a promise, or its
 * `getResultForParams` hands the context factory and plugins a copy of the context it was given.
 */
const serialiser = vi.hoisted(() => ({ changed: false, contextCopied: false }));
vi.mock('graphql-yoga', async (importOriginal) => {
  const yoga = await importOriginal<typeof import('graphql-yoga')>();
  return {
    ...yoga,
    processRegularResult: (...args: Parameters<typeof yoga.processRegularResult>) =>
      serialiser.changed ? Promise.resolve(yoga.processRegularResult(...args)) : yoga.processRegularResult(...args),
    createYoga: (...args: Parameters<typeof yoga.createYoga>) => {
      const instance = yoga.createYoga(...args);
      const original = instance.getResultForParams;
      instance.getResultForParams = (payload, context) => original(payload, serialiser.contextCopied ? { ...Object.fromEntries(Object.entries(context as object)) } : context);
      return instance;
    },
  };
});

/**
 * Without the JSON fast path every request goes through Yoga (whose `onRequest` hooks the path
 * never runs), with the same answers: by choice (GRAPHQL_FAST_PATH=false), and when the start-time check
 * finds that Yoga's serialiser no longer does what the path relies on.
 */
describe('the gateway without its JSON fast path', () => {
  let gw: TestGateway | undefined;
  let throughYoga = 0;
  const start = (env: Record<string, string> = {}) => startTestGateway(env, { plugins: [{ onRequest: () => void (throughYoga += 1) }] });
  afterEach(async () => {
    serialiser.changed = false;
    serialiser.contextCopied = false;
    await gw?.close();
  });

  async function readThroughYoga(gateway: TestGateway) {
    const owner = await gateway.token('user-1');
    const created = await gateway.post(owner, 'mutation { createSession(input: { callback: "http://localhost:3000/done" }) { session { id } } }');
    const id = created.data!.createSession.session.id;
    const init = {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${owner}` },
      body: JSON.stringify({ query: 'query S($id: ID!) { session(id: $id) { id status } }', variables: { id } }),
    };
    const before = throughYoga;
    const response = await fetch(`${gateway.url}/graphql`, init);
    expect(throughYoga - before).toBe(1);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ data: { session: { id, status: 'NOT_STARTED' } } });
  }

  it('goes through Yoga with GRAPHQL_FAST_PATH=false', async () => {
    gw = await start({ GRAPHQL_FAST_PATH: 'false' });
    await readThroughYoga(gw);
    expect(gw.logs.text).not.toContain('JSON fast path off');
  });

  it("turns the path off, in one warning line, when Yoga's serialiser changed", async () => {
    serialiser.changed = true;
    gw = await start();
    const warnings = gw.logs.lines.filter((line) => line.includes('JSON fast path off'));
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0]!)).toMatchObject({ level: 40, msg: expect.stringContaining('processRegularResult changed (it no longer returns') });
    await readThroughYoga(gw);
  });

  it("turns the path off when Yoga no longer hands the path's context to plugins", async () => {
    serialiser.contextCopied = true;
    gw = await start();
    const warnings = gw.logs.lines.filter((line) => line.includes('JSON fast path off'));
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0]!)).toMatchObject({ level: 40, msg: expect.stringContaining("graphql-yoga's getResultForParams changed (") });
    await readThroughYoga(gw);
  });

  it('is on otherwise: the same read never reaches Yoga', async () => {
    gw = await start();
    const owner = await gw.token('user-1');
    const before = throughYoga;
    expect((await gw.post(owner, '{ __typename }')).data).toEqual({ __typename: 'Query' });
    expect(throughYoga).toBe(before);
  });
});
