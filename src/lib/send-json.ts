import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

/** Answers with a JSON body that no cache keeps. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/**
 * A refusal before any GraphQL ran (route, size, framing), shaped as a GraphQL response so that
 * clients read `errors[0].extensions.code` whatever went wrong.
 */
export function sendErrors(res: ServerResponse, status: number, code: string, message: string, headers: OutgoingHttpHeaders = {}): void {
  sendJson(res, status, { errors: [{ message, extensions: { code } }] }, headers);
}
