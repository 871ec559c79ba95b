import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { startGateway, type RunningGateway } from '../../src/gateway.ts';
import { FullDecisionDocument } from '../../src/generated/graphql.ts';
import { TOKEN_ROUTE, json, startFakeUpstream, tokenAnswer } from '../support/fake-upstream.ts';
import { CapturedLogs, TEST_JWT_SECRET } from '../support/gateway.ts';
import { GraphQLClient } from 'graphql-request';
import { SignJWT } from 'jose';
import { testAuditEnv } from '../support/postgres.ts';

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8'));
const seed = fixture('seed-decision.json');
const ID = seed.session_id as string;

let upstream: Awaited<ReturnType<typeof startFakeUpstream>>;
let gateway: RunningGateway;
const logs = new CapturedLogs();

beforeAll(async () => {
  upstream = await startFakeUpstream({
    [TOKEN_ROUTE]: (_, res) => tokenAnswer(res),
    [`GET /v1/session/${ID}/decision/`]: (_, res) => json(res, 200, seed),
    [`GET /v1/session/${'22222222-2222-4222-8222-222222222222'}/decision/`]: (_, res) =>
      json(res, 200, { ...seed, session_id: '22222222-2222-4222-8222-222222222222', status: 'Escalated', features: 'OCR + SELFIE', kyc: { ...seed.kyc, status: 'Pending Something', date_of_birth: 'yesterday' }, aml: 'nonsense', warnings: [null, 42] }),
  });
  const config = loadConfig({
    PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', AUTH_JWT_SECRET: TEST_JWT_SECRET,
    DIDIT_CLIENT_ID: 'client', DIDIT_CLIENT_SECRET: 'secret', DIDIT_AUTH_URL: upstream.url, DIDIT_API_URL: upstream.url,
    ...testAuditEnv(),
  });
  gateway = await startGateway(config, { logDestination: logs });
});
afterAll(async () => {
  await gateway.close();
  await upstream.close();
});

async function read(id: string) {
  const token = await new SignJWT({ roles: ['reviewer'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('r').setExpirationTime('5m').sign(new TextEncoder().encode(TEST_JWT_SECRET));
  const client = new GraphQLClient(`${gateway.url}/graphql`, { headers: { authorization: `Bearer ${token}` }, errorPolicy: 'all' });
  return client.request(FullDecisionDocument, { id });
}

it("maps the seed's decision example to the exact GraphQL values", async () => {
  expect(await read(ID)).toEqual(fixture('seed-decision.graphql.json'));
  expect(upstream.unexpected).toEqual([]);
});

it('turns values Didit adds later into UNKNOWN or null, logs them, and still answers', async () => {
  const { session } = await read('22222222-2222-4222-8222-222222222222');
  expect(session!.status).toBe('UNKNOWN');
  expect(session!.features).toEqual(['OCR']);
  expect(session!.decision!.kyc!.status).toBe('UNKNOWN');
  expect(session!.decision!.kyc!.dateOfBirth).toBeNull();
  expect(session!.decision!.aml).toBeNull();
  expect(session!.decision!.warnings).toEqual([]);
  expect(logs.text).toContain('"kind":"SessionStatus","value":"Escalated"');
  expect(logs.text).toContain('"feature":"SELFIE"');
});
