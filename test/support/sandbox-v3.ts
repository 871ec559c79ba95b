/** Shared by the sandbox's v3 tests: calls with `x-api-key`, as Didit's v3 examples make them. */
import { KYC_BASIC_WORKFLOW_ID } from '../../src/sandbox/server.ts';

export const API_KEY = 'sandbox-api-key-0123456789';

type Json = Record<string, any>;

/** A v3 call; `key: null` sends none. */
export function v3(url: string, method: string, path: string, body?: unknown, key: string | null = API_KEY): Promise<Response> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (key !== null) headers['x-api-key'] = key;
  return fetch(`${url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), redirect: 'manual' });
}

export async function v3Json(url: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await v3(url, method, path, body);
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Json) : {} };
}

export async function createV3(url: string, body: Json = {}): Promise<Json> {
  const res = await v3(url, 'POST', '/v3/session/', { workflow_id: KYC_BASIC_WORKFLOW_ID, vendor_data: 'user-1', callback: 'https://example.com/cb', ...body });
  if (res.status !== 201) throw new Error(`create: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as Json;
}

export async function decisionV3(url: string, id: string): Promise<Json> {
  const res = await v3(url, 'GET', `/v3/session/${id}/decision/`);
  if (res.status !== 200) throw new Error(`decision: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as Json;
}

/** `POST /sandbox/sessions/{id}/{action}` (complete, expire, abandon, kyc-expire). */
export function control(url: string, id: string, action: string, body?: unknown): Promise<Response> {
  return fetch(`${url}/sandbox/sessions/${id}/${action}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}
