/**
 * Shared by the sandbox tests: a sandbox on port 0 closed after each test, requests made the way
 * the seed's examples make them, the seed's fixtures, and a webhook receiver.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { onTestFinished } from 'vitest';
import type { CreateSessionResponse, Decision, TokenResponse } from '../../src/sandbox/wire.ts';
import { personaFor } from '../../src/sandbox/personas.ts';
import { createSandbox, type Sandbox, type SandboxOptions } from '../../src/sandbox/server.ts';

const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8'));
export const seedDecision = fixture('seed-decision.json') as Decision;
export const seedResponses = fixture('seed-responses.json') as {
  token: TokenResponse;
  createSession: CreateSessionResponse;
  updateStatus: { session_id: string };
};

export interface Started {
  sandbox: Sandbox;
  url: string;
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Started> {
  const sandbox = createSandbox(options);
  const { url } = await sandbox.listen();
  onTestFinished(() => sandbox.close());
  return { sandbox, url };
}

export function basic(id = 'sandbox-client', secret = 'sandbox-secret'): string {
  return `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
}

/** `POST /auth/v2/token/` exactly as the seed's example: Basic credentials and a form body. */
export function requestToken(url: string, authorization = basic()): Promise<Response> {
  const params = new URLSearchParams();
  params.append('grant_type', 'client_credentials');
  return fetch(`${url}/auth/v2/token/`, {
    method: 'POST',
    headers: { Authorization: authorization, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: params,
  });
}

export async function getToken(url: string): Promise<string> {
  const res = await requestToken(url);
  if (res.status !== 200) throw new Error(`token: HTTP ${res.status}`);
  return ((await res.json()) as TokenResponse).access_token;
}

/** JSON with a Bearer token, as the seed's create, decision and update examples send. */
export function api(url: string, token: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${url}${path}`, {
    method,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

export async function createSession(
  url: string,
  token: string,
  body: Record<string, unknown> = { callback: 'https://example.com/verification/callback', vendor_data: 'user-1' },
): Promise<CreateSessionResponse> {
  const res = await api(url, token, 'POST', '/v1/session/', body);
  if (res.status !== 201) throw new Error(`create: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as CreateSessionResponse;
}

/** Creates sessions until one belongs to the watch-listed persona (one in five on average). */
export async function createWatchlistSession(url: string, token: string, features: string): Promise<CreateSessionResponse> {
  for (let i = 0; i < 200; i++) {
    const session = await createSession(url, token, { callback: 'https://example.com/cb', features, vendor_data: 'user-aml' });
    if (personaFor(session.session_id).watchlist) return session;
  }
  throw new Error('no watch-listed persona in 200 sessions');
}

export function completeSession(url: string, sessionId: string, body: unknown): Promise<Response> {
  return fetch(`${url}/sandbox/sessions/${sessionId}/complete`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
}

export interface Delivery {
  headers: IncomingHttpHeaders;
  raw: Buffer;
  body: Record<string, unknown>;
}

/**
 * A webhook receiver on port 0. `answer` picks each delivery's status (default 200);
 * `next(n)` resolves once `n` deliveries in all have arrived, without polling or sleeping.
 */
export async function startReceiver(answer: (index: number) => number = () => 200) {
  const deliveries: Delivery[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const index = deliveries.length;
      deliveries.push({ headers: req.headers, raw, body: JSON.parse(raw.toString('utf8')) });
      res.writeHead(answer(index)).end();
      for (const waiter of waiters.filter((w) => deliveries.length >= w.count)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/didit`,
    deliveries,
    next(count: number): Promise<Delivery[]> {
      if (deliveries.length >= count) return Promise.resolve(deliveries);
      return new Promise((resolve) => waiters.push({ count, resolve: () => resolve(deliveries) }));
    },
  };
}

/**
 * Key paths of a JSON value (`a.b`, `a.list[].c`), with the JSON type of each, so two values can
 * be compared for shape: every key the seed has and, where the seed has a value, its type.
 */
export function shape(value: unknown, path = '$', out = new Map<string, string>()): Map<string, string> {
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  out.set(path, type);
  if (Array.isArray(value)) {
    for (const item of value) shape(item, `${path}[]`, out);
  } else if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) shape(item, `${path}.${key}`, out);
  }
  return out;
}
