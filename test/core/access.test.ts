import { generateKeyPair, exportJWK, SignJWT, type JWK } from 'jose';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAuthenticator } from '../../src/core/auth.ts';
import { Unauthenticated } from '../../src/core/errors.ts';
import { CreateSessionDocument, FullDecisionDocument, GenerateSessionPdfDocument, SessionsStatusDocument, UpdateSessionStatusDocument } from '../../src/generated/graphql.ts';
import { codes, startTestGateway, TEST_JWT_SECRET, type TestGateway } from '../support/gateway.ts';

const key = new TextEncoder().encode(TEST_JWT_SECRET);
let gw: TestGateway;
let alice: string;
let bob: string;
let reviewer: string;
let aliceSession: string;

beforeAll(async () => {
  gw = await startTestGateway({ AUTH_ISSUER: 'https://idp.example.com/', AUTH_AUDIENCE: 'didit-gateway' });
  const claims = { iss: 'https://idp.example.com/', aud: 'didit-gateway' };
  alice = await gw.token('alice', [], claims);
  bob = await gw.token('bob', [], claims);
  reviewer = await gw.token('office', ['reviewer'], claims);
  const { createSession } = await gw.client(alice).request(CreateSessionDocument, {
    input: { callback: 'http://localhost:3000/done', features: ['OCR', 'FACE', 'AML'] },
  });
  aliceSession = createSession.session.id;
  gw.sandboxInstance.complete(aliceSession, 'Declined');
});
afterAll(() => gw.close());
beforeEach(() => gw.sandboxInstance.resetRequests());

describe('identity', () => {
  const unsigned = (payload: object) =>
    `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.`;
  const base = () => new SignJWT({ roles: ['reviewer'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('mallory').setIssuer('https://idp.example.com/').setAudience('didit-gateway');

  it.each([
    ['forged (wrong secret)', () => base().setExpirationTime('5m').sign(new TextEncoder().encode('x'.repeat(40)))],
    ['expired', () => base().setExpirationTime(Math.floor(Date.now() / 1000) - 120).sign(key)],
    ['without an expiry', () => base().sign(key)],
    ['not yet valid', () => base().setExpirationTime('10m').setNotBefore(Math.floor(Date.now() / 1000) + 300).sign(key)],
    ['for another audience', () => base().setAudience('someone-else').setExpirationTime('5m').sign(key)],
    ['from another issuer', () => base().setIssuer('https://evil.example.com/').setExpirationTime('5m').sign(key)],
    ['alg none', async () => unsigned({ sub: 'mallory', roles: ['reviewer'], iss: 'https://idp.example.com/', aud: 'didit-gateway', exp: Math.floor(Date.now() / 1000) + 300 })],
    ['without a subject', () => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer('https://idp.example.com/').setAudience('didit-gateway').setExpirationTime('5m').sign(key)],
    ['garbage', async () => 'not.a.jwt'],
  ])('refuses a token %s with UNAUTHENTICATED and calls nothing upstream', async (_name, make) => {
    const token = await make();
    const result = await gw.run(token, FullDecisionDocument, { id: aliceSession });
    expect(codes(result)).toEqual(['UNAUTHENTICATED']);
    expect(result.data ?? null).toBeNull();
    expect(gw.sandboxInstance.requests).toEqual([]);
  });

  it('refuses a missing token on every operation, before Didit', async () => {
    expect(codes(await gw.run(undefined, FullDecisionDocument, { id: aliceSession }))).toEqual(['UNAUTHENTICATED']);
    expect(codes(await gw.run(undefined, CreateSessionDocument, { input: { callback: 'http://localhost:3000/x' } }))).toEqual(['UNAUTHENTICATED']);
    expect(codes(await gw.post(undefined, '{ __typename }'))).toEqual([]);
    expect(gw.sandboxInstance.requests).toEqual([]);
  });

  it('accepts asymmetric tokens from a JWKS, and refuses an HS256 token signed with the public key (key confusion)', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    const jwks = createServer((_, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    try {
      const authenticate = createAuthenticator({ jwksUrl: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`, rolesClaim: 'realm.roles', auditorRole: 'compliance' });
      const good = await new SignJWT({ realm: { roles: ['reviewer'] } }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setSubject('svc').setExpirationTime('5m').sign(privateKey);
      expect(await authenticate(`Bearer ${good}`)).toEqual({ sub: 'svc', reviewer: true, auditor: false, expiresAt: expect.any(Number) });
      // The auditor role is read from the same claim, by the name AUTH_AUDITOR_ROLE gives it.
      const auditor = await new SignJWT({ realm: { roles: ['compliance', 'auditor'] } }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setSubject('aud').setExpirationTime('5m').sign(privateKey);
      expect(await authenticate(`Bearer ${auditor}`)).toEqual({ sub: 'aud', reviewer: false, auditor: true, expiresAt: expect.any(Number) });
      const confused = await new SignJWT({}).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).setSubject('svc').setExpirationTime('5m').sign(new TextEncoder().encode(JSON.stringify(jwk)));
      await expect(authenticate(`Bearer ${confused}`)).rejects.toBeInstanceOf(Unauthenticated);
    } finally {
      jwks.close();
    }
  });

  it.each(['RS256', 'ES256'])('refuses a %s token from the JWKS without an expiry', async (alg) => {
    const { publicKey, privateKey } = await generateKeyPair(alg);
    const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'k1', alg, use: 'sig' };
    const jwks = createServer((_, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    try {
      const authenticate = createAuthenticator({ jwksUrl: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`, rolesClaim: 'roles' });
      const token = () => new SignJWT({ roles: ['reviewer'] }).setProtectedHeader({ alg, kid: 'k1' }).setSubject('svc');
      expect(await authenticate(`Bearer ${await token().setExpirationTime('5m').sign(privateKey)}`)).toMatchObject({ sub: 'svc', reviewer: true });
      await expect(authenticate(`Bearer ${await token().sign(privateKey)}`)).rejects.toBeInstanceOf(Unauthenticated);
    } finally {
      jwks.close();
    }
  });
});

describe('authorization', () => {
  it("hides another applicant's session as NOT_FOUND, in session and sessions alike, with none of its data", async () => {
    const one = await gw.run(bob, FullDecisionDocument, { id: aliceSession });
    expect(one.data).toEqual({ session: null });
    expect(codes(one)).toEqual(['NOT_FOUND']);
    const missing = await gw.run(bob, FullDecisionDocument, { id: '00000000-0000-4000-8000-000000000000' });
    expect(one.errors![0]!.message).toBe(missing.errors![0]!.message);

    const many = await gw.run(bob, SessionsStatusDocument, { ids: [aliceSession] });
    expect(many.data).toEqual({ sessions: [null] });
    expect(codes(many)).toEqual(['NOT_FOUND']);
    expect(JSON.stringify([one, many])).not.toMatch(/alice|DECLINED/);
  });

  it('never shows an applicant their AML screening, location, warnings or reviews', async () => {
    const { data } = await gw.run(alice, FullDecisionDocument, { id: aliceSession });
    const decision = data!.session!.decision!;
    expect(decision.kyc).not.toBeNull();
    expect(decision.aml).toBeNull();
    expect(decision.location).toBeNull();
    expect(decision.warnings).toEqual([]);
    expect(decision.reviews).toEqual([]);

    const asReviewer = await gw.run(reviewer, FullDecisionDocument, { id: aliceSession });
    expect(asReviewer.data!.session!.decision!.aml).not.toBeNull();
    expect(asReviewer.data!.session!.decision!.location).not.toBeNull();
  });

  it('serves what one caller cached to another only in the form that caller may see', async () => {
    await gw.run(reviewer, FullDecisionDocument, { id: aliceSession });
    const afterReviewer = await gw.run(alice, FullDecisionDocument, { id: aliceSession });
    expect(afterReviewer.data!.session!.decision!.aml).toBeNull();
    expect(codes(await gw.run(bob, FullDecisionDocument, { id: aliceSession }))).toEqual(['NOT_FOUND']);
  });

  it('keeps reviewer-only mutations from applicants, before any upstream call', async () => {
    gw.sandboxInstance.resetRequests();
    expect(codes(await gw.run(alice, GenerateSessionPdfDocument, { sessionId: aliceSession }))).toEqual(['FORBIDDEN']);
    expect(codes(await gw.run(bob, GenerateSessionPdfDocument, { sessionId: aliceSession }))).toEqual(['FORBIDDEN']);
    expect(codes(await gw.run(alice, UpdateSessionStatusDocument, { input: { sessionId: aliceSession, status: 'APPROVED' } }))).toEqual(['FORBIDDEN']);
    expect(gw.sandboxInstance.requests).toEqual([]);
  });

  it("creates an applicant's session under their own sub, and refuses another vendorData", async () => {
    const own = await gw.run(bob, CreateSessionDocument, { input: { callback: 'http://localhost:3000/x', vendorData: 'bob' } });
    expect(own.data!.createSession.session.vendorData).toBe('bob');
    const implicit = await gw.run(bob, CreateSessionDocument, { input: { callback: 'http://localhost:3000/x' } });
    expect(implicit.data!.createSession.session.vendorData).toBe('bob');
    gw.sandboxInstance.resetRequests();
    const other = await gw.run(bob, CreateSessionDocument, { input: { callback: 'http://localhost:3000/x', vendorData: 'alice' } });
    expect(codes(other)).toEqual(['FORBIDDEN']);
    expect(gw.sandboxInstance.requests).toEqual([]);
    const forSomeone = await gw.run(reviewer, CreateSessionDocument, { input: { callback: 'http://localhost:3000/x', vendorData: 'carol' } });
    expect(forSomeone.data!.createSession.session.vendorData).toBe('carol');
  });
});
