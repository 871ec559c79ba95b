import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

type Handler = (req: RecordedRequest, res: ServerResponse) => void;

/**
 * A strict stand-in for Didit on a real port: each route answers as the test says, and any
 * request no route expects is recorded in `unexpected` (the test asserts it stays empty).
 */
export async function startFakeUpstream(routes: Record<string, Handler>) {
  const requests: RecordedRequest[] = [];
  const unexpected: RecordedRequest[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const recorded = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() };
    requests.push(recorded);
    const handler = routes[`${recorded.method} ${recorded.path}`];
    if (!handler) {
      unexpected.push(recorded);
      res.writeHead(500).end();
      return;
    }
    handler(recorded, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    unexpected,
    routes,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(typeof body === 'string' ? body : JSON.stringify(body));
}

export const TOKEN_ROUTE = 'POST /auth/v2/token/';
export const tokenAnswer = (res: ServerResponse, expiresIn = 3600) =>
  json(res, 200, { iss: 'https://didit.me', iat: 1, sub: 'app', client_id: 'c', organization_id: 'o', expires_in: expiresIn, exp: Math.floor(Date.now() / 1000) + expiresIn, access_token: `token-${Math.random()}` });
