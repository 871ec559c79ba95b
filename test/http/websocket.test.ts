import { createClient, type Client, type ExecutionResult } from 'graphql-ws';
import { SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import WebSocket from 'ws';
import { CreateSessionDocument } from '../../src/generated/graphql.ts';
import { startTestGateway, TEST_JWT_SECRET, type TestGateway } from '../support/gateway.ts';
import { STATUS_SUBSCRIPTION } from '../support/subscriptions.ts';

let gw: TestGateway;
let owner: string;
let console_: MockInstance[];

beforeAll(async () => {
  gw = await startTestGateway();
  owner = await gw.token('ws-owner');
});
afterAll(() => gw.close());
// graphql-ws's own server wiring printed errors, stacks and client input with console.error.
beforeEach(() => {
  console_ = (['error', 'warn', 'log', 'info'] as const).map((method) => vi.spyOn(console, method).mockImplementation(() => {}));
});
afterEach(() => {
  for (const spy of console_) {
    expect(spy).not.toHaveBeenCalled();
    spy.mockRestore();
  }
});

/** One socket, as a frontend holds it; `closes` collects the close codes the server sent. */
function connect(connectionParams: Record<string, unknown>) {
  const closes: number[] = [];
  const client = createClient({
    url: `${gw.url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: 0,
    lazy: true,
    on: { closed: (event) => void closes.push((event as { code: number }).code) },
  });
  return { client, closes };
}

/** One operation on a socket: what it received, and how it ended. */
function operation(client: Client, query: string, variables: Record<string, unknown> = {}, extensions?: Record<string, unknown>) {
  const state = { results: [] as ExecutionResult[], error: undefined as unknown, completed: false };
  const stop = client.subscribe(
    { query, variables, ...(extensions && { extensions }) },
    {
      next: (result) => void state.results.push(result as ExecutionResult),
      error: (error) => void (state.error = error),
      complete: () => void (state.completed = true),
    },
  );
  return Object.assign(state, { stop });
}

async function newSession(token: string) {
  const { createSession } = await gw.client(token).request(CreateSessionDocument, { input: { callback: 'http://localhost:3000/done' } });
  return createSession.session.id;
}

describe('one socket, many operations', () => {
  it('a bad operation gets an error of its own; the other subscriptions on the socket go on', async () => {
    const [first, second] = [await newSession(owner), await newSession(owner)];
    const { client, closes } = connect({ authorization: `Bearer ${owner}` });
    const before = gw.services.events.subscriberCount();
    const a = operation(client, STATUS_SUBSCRIPTION, { id: first });
    const b = operation(client, STATUS_SUBSCRIPTION, { id: second });
    await vi.waitFor(() => expect(gw.services.events.subscriberCount()).toBe(before + 2));

    const syntax = operation(client, 'subscription { sessionStatusChanged(');
    const badVariable = operation(client, STATUS_SUBSCRIPTION, { id: 'not an id' });
    await vi.waitFor(() => {
      expect(syntax.error).toEqual([expect.objectContaining({ message: expect.stringMatching(/^Syntax Error/) })]);
      expect(badVariable.error).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) })]);
    });
    expect(JSON.stringify(syntax.error)).not.toMatch(/"http"|at .*\.js/);

    gw.sandboxInstance.complete(first, 'Approved');
    gw.sandboxInstance.complete(second, 'Declined');
    await vi.waitFor(() => expect([a.results.length, b.results.length]).toEqual([2, 2]));
    expect(b.results.map((r) => (r.data as any).sessionStatusChanged.status)).toEqual(['IN_PROGRESS', 'DECLINED']);
    expect(closes).toEqual([]);
    await client.dispose();
  });
});

describe('authentication at connection_init', () => {
  it.each([
    ['no token', {}],
    ['a bad token', { authorization: 'Bearer not.a.jwt' }],
    ['a token that is not a bearer one', { authorization: owner }],
  ])('closes the socket with 4401 for %s', async (_name, params) => {
    const { client, closes } = connect(params);
    const op = operation(client, '{ __typename }');
    await vi.waitFor(() => expect(closes).toEqual([4401]));
    expect(op.results).toEqual([]);
    await client.dispose();
  });

  it.each([
    ['authorization', () => ({ authorization: `Bearer ${owner}` })],
    ['Authorization', () => ({ Authorization: `Bearer ${owner}` })],
    ['headers.Authorization', () => ({ headers: { Authorization: `Bearer ${owner}` } })],
    ['headers.authorization', () => ({ headers: { authorization: `Bearer ${owner}` } })],
  ])('takes the token under %s, and runs every operation as that caller', async (_name, params) => {
    const id = await newSession(owner);
    const { client, closes } = connect(params());
    const op = operation(client, 'query($id: ID!) { session(id: $id) { id vendorData } }', { id });
    await vi.waitFor(() => expect(op.completed).toBe(true));
    expect(op.results).toEqual([{ data: { session: { id, vendorData: 'ws-owner' } } }]);
    // A lazy client closes its socket normally once nothing is left on it.
    expect(closes.filter((code) => code !== 1000)).toEqual([]);
    await client.dispose();
  });

  it('ends the socket with 4401 when the token expires, and its subscriptions with it', { timeout: 15_000 }, async () => {
    const expiresAt = Math.floor(Date.now() / 1000) + 2;
    const token = await new SignJWT({ roles: [] }).setProtectedHeader({ alg: 'HS256' }).setSubject('ws-owner').setExpirationTime(expiresAt).sign(new TextEncoder().encode(TEST_JWT_SECRET));
    const id = await newSession(owner);
    const before = gw.services.events.subscriberCount();
    const { client, closes } = connect({ authorization: `Bearer ${token}` });
    operation(client, STATUS_SUBSCRIPTION, { id });
    await vi.waitFor(() => expect(gw.services.events.subscriberCount()).toBe(before + 1));
    await vi.waitFor(() => expect(closes).toEqual([4401]), { timeout: 5000 });
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt * 1000);
    await vi.waitFor(() => expect(gw.services.events.subscriberCount()).toBe(before));
    await client.dispose();
  });
});

it('a frame over the size limit closes that socket (1009), logged through pino only', async () => {
  const socket = new WebSocket(`${gw.url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
  await new Promise((resolve) => socket.once('open', resolve));
  const closed = new Promise<number>((resolve) => socket.once('close', resolve));
  socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${owner}`, pad: 'x'.repeat(200_000) } }));
  expect(await closed).toBe(1009);
  await vi.waitFor(() => expect(gw.logs.text).toContain('websocket connection error'));
});

describe('sockets per caller (MAX_SOCKETS_PER_CALLER)', () => {
  /** A raw socket past connection_init: resolves with the server's ack, or the close code. */
  async function open(token: string) {
    const socket = new WebSocket(`${gw.url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
    await new Promise((resolve) => socket.once('open', resolve));
    const closed = new Promise<number>((resolve) => socket.once('close', resolve));
    const answer = new Promise<'ack' | number>((resolve) => {
      socket.once('message', (data) => resolve(JSON.parse(String(data)).type === 'connection_ack' ? 'ack' : -1));
      void closed.then(resolve);
    });
    socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
    return { socket, answer: await answer, closed };
  }

  it('refuses a caller a socket past the cap with 1013 (try again later), and takes it back on close', async () => {
    const hoarder = await gw.token('socket-hoarder');
    const held = [];
    for (let i = 0; i < 20; i++) held.push(await open(hoarder));
    expect(held.map((s) => s.answer)).toEqual(Array(20).fill('ack'));
    const refused = await open(hoarder);
    expect(refused.answer).toBe(1013);
    // Another caller is not affected.
    const other = await open(await gw.token('someone-else'));
    expect(other.answer).toBe('ack');
    other.socket.close();
    // A socket given back makes room.
    held[0]!.socket.close();
    await held[0]!.closed;
    await vi.waitFor(async () => {
      const again = await open(hoarder);
      expect(again.answer).toBe('ack');
      held.push(again);
    });
    for (const { socket } of held) socket.close();
  });
});
