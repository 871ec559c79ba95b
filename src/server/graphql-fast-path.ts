import type { IncomingMessage, ServerResponse } from 'node:http';
import { getCORSHeadersByRequestAndOptions, sendNodeResponse, type CORSOptions } from '@whatwg-node/server';
import type { ExecutionResult } from 'graphql';
import { processRegularResult, type GraphQLParams, type Plugin } from 'graphql-yoga';
import type { Gateway } from './yoga.ts';

type MediaType = 'application/json' | 'application/graphql-response+json';

/**
 * Picks the response type Yoga would pick for a single (non-streamed) result, or null when the
 * request asks for anything else (SSE, multipart, another charset): those go to Yoga.
 * Yoga takes the first listed type that it can produce; `*` / `application/*` mean JSON.
 */
export function jsonMediaType(accept: string | undefined): MediaType | null {
  if (accept === undefined || accept === '') return 'application/json';
  const entries = accept.replace(/\s/g, '').toLowerCase().split(',');
  let chosen: MediaType | null = null;
  for (const entry of entries) {
    const [type, ...params] = entry.split(';');
    if (params.some((param) => param.startsWith('charset=') && param !== 'charset=utf-8')) return null;
    if (chosen) continue;
    if (type === 'application/graphql-response+json') chosen = type;
    else if (type === 'application/json' || type === '*/*' || type === 'application/*') chosen = 'application/json';
    else return null;
  }
  return chosen;
}

/** Set on the context of operations the fast path runs. */
const FAST_PATH = Symbol('json fast path');
/** What a subscription started by the fast path returns instead of starting. */
const HAND_OVER: ExecutionResult = Object.freeze({});

/**
 * Subscriptions are Yoga's to stream (SSE) or refuse (406): one reaching the fast path stops
 * before any other plugin's hook or resolver runs, and the request goes to Yoga. Must be the
 * first of the gateway's plugins.
 */
export function useSubscriptionsThroughYoga(): Plugin {
  return {
    onSubscribe({ args, setResultAndStopExecution }) {
      if ((args.contextValue as unknown as Record<symbol, unknown>)[FAST_PATH]) setResultAndStopExecution(HAND_OVER);
    },
  };
}

/** What `processRegularResult` builds, captured instead of a fetch `Response`. */
class Captured {
  constructor(
    readonly body: string,
    readonly init: { status: number; headers: Record<string, string> },
  ) {}
}
const captureFetchAPI = { Response: Captured } as never;

const PARAM_KEYS = new Set(['query', 'operationName', 'variables', 'extensions']);
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The body as GraphQL parameters when it is plainly one request Yoga would accept as such. */
function plainParams(body: string): GraphQLParams | null {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return null;
  }
  if (!isObject(value)) return null;
  for (const key in value) if (!PARAM_KEYS.has(key)) return null;
  const { query, operationName, variables, extensions } = value;
  if (query !== undefined && typeof query !== 'string') return null;
  if (operationName != null && typeof operationName !== 'string') return null;
  if (variables != null && !isObject(variables)) return null;
  if (extensions != null && !isObject(extensions)) return null;
  return value as GraphQLParams;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

/** A header view of the node request, enough for the hooks that run after request parsing. */
function requestView(req: IncomingMessage, url: URL) {
  const headers = {
    get: (name: string) => {
      const value = req.headers[name.toLowerCase()];
      return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
    },
    has: (name: string) => req.headers[name.toLowerCase()] !== undefined,
  };
  return { method: 'POST', url: url.href, headers } as unknown as Request;
}

/**
 * `POST /graphql` with a JSON body, answered without Yoga's fetch-API layer: the same params
 * hooks (trusted documents, parameter checks), the same envelop plugins (auth context, armor,
 * caches, rate limit, masking, metrics) and Yoga's own result serialisation, over plain node
 * HTTP. Anything else (GET, SSE, other content types, odd bodies, a failing params hook) goes to
 * Yoga unchanged, so both paths answer alike.
 */
export function createGraphqlFastPath(gateway: Gateway, cors: CORSOptions) {
  const viaYoga = async (req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer) => {
    const headers = new Headers();
    for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
    const request = new gateway.fetchAPI.Request(url.href, { method: 'POST', headers, body: new Uint8Array(body) });
    const response = await gateway.handle(request, { req, res });
    await sendNodeResponse(response, res, req, true);
  };

  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    const contentType = req.headers['content-type']?.toLowerCase().replace(/\s/g, '');
    if (contentType !== 'application/json' && contentType !== 'application/json;charset=utf-8') return false;
    const mediaType = jsonMediaType(req.headers.accept);
    if (!mediaType) return false;

    const body = await readBody(req);
    const params = plainParams(body.toString('utf8'));
    const request = requestView(req, url);
    let result: ExecutionResult = HAND_OVER;
    if (params) {
      // A params hook that refuses (e.g. an unknown trusted document) throws before anything ran.
      const context = { req, res, request, [FAST_PATH]: true };
      try {
        // Subscriptions come back as HAND_OVER (see above), so the result is a single one.
        result = ((await gateway.getResultForParams({ params, request }, context as never)) ?? HAND_OVER) as ExecutionResult;
      } catch {
        result = HAND_OVER;
      }
    }
    if (result === HAND_OVER) {
      await viaYoga(req, res, url, body);
      return true;
    }
    const captured = processRegularResult(result, captureFetchAPI, mediaType) as unknown as Captured;
    const corsHeaders = getCORSHeadersByRequestAndOptions(request, cors);
    res.writeHead(captured.init.status, { ...captured.init.headers, ...corsHeaders, 'content-length': Buffer.byteLength(captured.body) });
    res.end(captured.body);
    return true;
  };
}
