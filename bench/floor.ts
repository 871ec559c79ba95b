/**
 * The least GraphQL server that answers the bench's frontend query by reading Didit: no caller
 * check, no budget, no cache, no limits, no metrics, nothing kept, nothing checked in Didit's
 * answer. It measures what the stack itself costs on the uncached path, beside the relay, the hop
 * and the gateway (`npm run bench -- --floor`):
 *
 * - `FLOOR_KIND=yoga`: graphql-yoga as documented (`createServer(createYoga({ schema }))`).
 * - `FLOOR_KIND=yoga-jit`: the same with `useGraphQlJit()`, as the gateway runs queries.
 * - `FLOOR_KIND=jit`: no Yoga at all: node's HTTP server, the body parsed, the query compiled once
 *   by graphql-jit (as the gateway's Yoga does), executed, its own `stringify`.
 *
 * Each resolves `session(id)` with one undici request to the stub, as the gateway's client does.
 * `FLOOR_KIND=hop` is no GraphQL at all: the bare undici hop, node's HTTP server passing Didit's
 * decision GET on with undici and its answer back unread, the least an HTTP gateway costs.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { useGraphQlJit } from '@envelop/graphql-jit';
import { parse, validate, type ExecutionResult } from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import { createSchema, createYoga } from 'graphql-yoga';
import { Agent, request } from 'undici';

const stub = process.env.FLOOR_STUB_ORIGIN;
const token = process.env.FLOOR_ACCESS_TOKEN;
const kind = process.env.FLOOR_KIND;
const KINDS = ['yoga', 'yoga-jit', 'jit', 'hop'];
if (!stub || !token || !KINDS.includes(kind!)) throw new Error(`FLOOR_STUB_ORIGIN, FLOOR_ACCESS_TOKEN and FLOOR_KIND (${KINDS.join(', ')}) are required`);

const dispatcher = new Agent({ connections: 1024 });
type Decision = { status: string; kyc?: { full_name?: string; document_number?: string; date_of_birth?: string }; face?: { status?: string } };

const schema = createSchema({
  typeDefs: /* GraphQL */ `
    type Query { session(id: ID!): Session }
    type Session { status: String! decision: Decision }
    type Decision { status: String! kyc: Kyc face: Face }
    type Kyc { fullName: String documentNumber: String dateOfBirth: String }
    type Face { status: String }
  `,
  resolvers: {
    Query: {
      async session(_: unknown, { id }: { id: string }) {
        const response = await request(`${stub}/v1/session/${encodeURIComponent(id)}/decision/`, {
          dispatcher,
          headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
        });
        const decision = (await response.body.json()) as Decision;
        // Didit's "In Review" as the schema's IN_REVIEW, as the gateway names statuses.
        const status = (value: string | undefined) => value?.toUpperCase().replace(/ /g, '_');
        const kyc = decision.kyc && { fullName: decision.kyc.full_name, documentNumber: decision.kyc.document_number, dateOfBirth: decision.kyc.date_of_birth };
        return { status: status(decision.status), decision: { status: status(decision.status), kyc, face: decision.face && { status: status(decision.face.status) } } };
      },
    },
  },
});

const readBody = async (req: IncomingMessage) => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
};

const compiled = new Map<string, CompiledQuery>();
const jitServer = createServer(async (req, res) => {
  const { query, variables } = JSON.parse(await readBody(req)) as { query: string; variables?: Record<string, unknown> };
  let plan = compiled.get(query);
  if (!plan) {
    const document = parse(query);
    if (validate(schema, document).length) throw new Error('invalid query');
    const made = compileQuery(schema, document);
    if (!isCompiledQuery(made)) throw new Error('query did not compile');
    compiled.set(query, (plan = made));
  }
  const result = (await plan.query(undefined, {}, variables)) as ExecutionResult;
  const body = plan.stringify(result);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
});

const hopServer = createServer(async (req, res) => {
  const answer = await request(`${stub}${req.url}`, { dispatcher, headers: { authorization: req.headers.authorization ?? '', accept: 'application/json' } });
  res.writeHead(answer.statusCode, { 'content-type': 'application/json' });
  answer.body.pipe(res);
});

const server = kind === 'hop' ? hopServer : kind === 'jit' ? jitServer : createServer(createYoga({ schema, graphiql: false, logging: false, plugins: kind === 'yoga-jit' ? [useGraphQlJit()] : [] }));
server.listen(0, '127.0.0.1', () => {
  process.send?.({ port: (server.address() as AddressInfo).port });
});
process.on('disconnect', () => process.exit(0));
