import type { IncomingMessage, ServerResponse } from 'node:http';
import { getCORSHeadersByRequestAndOptions, sendNodeResponse, type CORSOptions } from '@whatwg-node/server';
import type { ExecutionResult } from 'graphql';
import { processRegularResult, type GraphQLParams } from 'graphql-yoga';
import type { Caller } from '../../../core/access.ts';
import type { Authenticate } from '../../../core/auth.ts';
import type { Services } from '../../../core/context.ts';
import { readBody } from '../../../lib/read-body.ts';
import { requestUrl } from '../../../lib/request-url.ts';
import { UNEXPECTED, toClientError } from '../../errors.ts';
import type { YogaServer } from '../yoga.ts';
import type { AnswerCache, CachedResponse } from './answer-cache.ts';
import { FAST_PATH, HAND_OVER, type Ran } from './hooks.ts';
import { captureFetchAPI, yogaContractMismatch, type Captured, type MediaType } from './yoga-contract.ts';

/** Answers `POST /graphql` with a JSON body, or returns false to leave the request to Yoga. */
export type FastPath = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

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

/** The node request's headers as the fetch `Headers` reads that hooks after request parsing make. */
class HeaderView {
  constructor(private readonly req: IncomingMessage) {}
  get(name: string): string | null {
    const value = this.req.headers[name.toLowerCase()];
    return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
  }
  has(name: string): boolean {
    return this.req.headers[name.toLowerCase()] !== undefined;
  }
}

/** A view of the node request, enough for the hooks that run after request parsing. */
class RequestView {
  readonly method = 'POST';
  readonly headers: HeaderView;
  constructor(private readonly req: IncomingMessage) {
    this.headers = new HeaderView(req);
  }
  get url(): string {
    return requestUrl(this.req).href;
  }
}

/**
 * `POST /graphql` with a JSON body, answered without Yoga's fetch-API layer: the same params
 * hooks (trusted documents, parameter checks), the same envelop plugins (auth context, armor,
 * caches, rate limit, masking, metrics) and Yoga's own result serialisation, over plain node
 * HTTP. Anything else (GET, SSE, other content types, odd bodies, a failing params hook) goes to
 * Yoga unchanged, so both paths answer alike.
 *
 * Error-free query answers are kept in `responses` (the answer cache), per caller and body.
 *
 * Undefined when Yoga no longer does what the path relies on (`yoga-contract.ts`, checked here at
 * every start): every request then goes through Yoga, which answers right whatever changed (a
 * slower gateway, with a warning, rather than one that refuses to start or answers wrong).
 */
export async function createGraphqlFastPath(options: {
  yoga: YogaServer;
  services: Services;
  responses: AnswerCache;
  authenticate: Authenticate;
  cors: CORSOptions | false;
}): Promise<FastPath | undefined> {
  const { yoga, services, responses, authenticate, cors } = options;
  const { decisionCache, rateLimit, metrics, log } = services;
  const mismatch = await yogaContractMismatch(yoga);
  if (mismatch) {
    log.warn(`JSON fast path off: graphql-yoga's ${mismatch}; every request goes through Yoga`);
    return undefined;
  }

  const viaYoga = async (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const headers = new Headers();
    for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
    const request = new yoga.fetchAPI.Request(requestUrl(req).href, { method: 'POST', headers, body: new Uint8Array(body) });
    const response = await yoga.handle(request, { req, res });
    await sendNodeResponse(response, res, req, true);
  };

  /** Sends an answer whose headers already say its length (an answer kept is sent many times). */
  const send = (res: ServerResponse, request: Request, answer: Pick<CachedResponse, 'status' | 'headers' | 'body'>) => {
    const corsHeaders = getCORSHeadersByRequestAndOptions(request, cors);
    res.writeHead(answer.status, corsHeaders ? { ...answer.headers, ...corsHeaders } : answer.headers);
    res.end(answer.body);
  };

  return async (req, res) => {
    const contentType = req.headers['content-type']?.toLowerCase().replace(/\s/g, '');
    if (contentType !== 'application/json' && contentType !== 'application/json;charset=utf-8') return false;
    const mediaType = jsonMediaType(req.headers.accept);
    if (!mediaType) return false;

    const body = await readBody(req, services.config.limits.maxBodyBytes);
    if (!body) {
      // http/handler.ts refused a larger Content-Length already; a body longer than it said ends here.
      res.writeHead(413, { connection: 'close' }).end();
      return true;
    }
    const text = body.toString('utf8');
    const request = new RequestView(req) as unknown as Request;
    const started = performance.now();
    const generation = responses.generation();

    // The caller is verified once, here, and handed to the GraphQL context. A token that fails is
    // left to the context, which answers UNAUTHENTICATED as on every other path.
    let caller: Caller | null | undefined;
    try {
      caller = await authenticate(req.headers.authorization);
    } catch {
      caller = undefined;
    }
    const key = caller && responses.enabled ? `${caller.reviewer ? 'reviewer' : 'applicant'}\n${caller.sub}\n${mediaType}\n${text}` : null;
    const hit = key ? responses.get(key) : undefined;
    if (key) metrics.responseCacheLookup(hit ? 'hit' : 'miss');
    // Over the limit, the request executes and is answered RATE_LIMITED (one more count changes nothing).
    if (hit && !(await rateLimit.take(caller!, req.socket.remoteAddress))) {
      send(res, request, hit);
      metrics.operation(hit.operation, 'query', (performance.now() - started) / 1000, [], true);
      return true;
    }

    const params = plainParams(text);
    // The GraphQL context is built from this object: the hooks find `FAST_PATH` on it, and the
    // context factory notes there each session the operation reads.
    const ran: Ran = { readSessions: new Set() };
    const context = { req, res, request, ...(caller !== undefined && { caller }), [FAST_PATH]: ran };
    let result: ExecutionResult = HAND_OVER;
    if (params) {
      try {
        // Subscriptions come back as HAND_OVER (see above), so the result is a single one.
        result = ((await yoga.getResultForParams({ params, request }, context as never)) ?? HAND_OVER) as ExecutionResult;
      } catch (error) {
        // A params hook refused (e.g. an unknown trusted document) before anything ran: Yoga
        // answers that. Once the operation has started, a failure after it (a result hook) is
        // answered here, as Yoga would: handing over would run it, a mutation too, a second time.
        result = ran.started ? { errors: [toClientError(error, (original) => log.error({ err: original }, UNEXPECTED))] } : HAND_OVER;
      }
    }
    if (result === HAND_OVER) {
      await viaYoga(req, res, body);
      return true;
    }
    const answer = processRegularResult(result, captureFetchAPI, mediaType) as unknown as Captured;
    const headers = { ...answer.init.headers, 'content-length': String(Buffer.byteLength(answer.body)) };
    const response = { status: answer.init.status, headers, body: answer.body };
    send(res, request, response);

    // An error-free query is kept for as long as the decisions it read stay fresh.
    const { readSessions } = ran;
    if (key && ran.type === 'query' && !result.errors && readSessions.size) {
      const ttl = Math.min(...[...readSessions].map((id) => decisionCache.remainingTtl(id)));
      if (ttl > 0) responses.set(key, { ...response, operation: ran.name }, readSessions, ttl, generation);
    }
    return true;
  };
}
