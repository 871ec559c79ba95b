/**
 * Trusted documents from several client projects: TRUSTED_DOCUMENTS_MANIFESTS lists manifests in
 * the client preset's format; their documents run, nothing else does, and a bad manifest stops
 * the start with one line naming the variable.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { ConfigError } from '../../src/config/env.ts';
import { startGateway } from '../../src/gateway.ts';
import { codes, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { testAuditEnv } from '../support/postgres.ts';

const OWN_MANIFEST = fileURLToPath(new URL('../../src/generated/persisted-documents.json', import.meta.url));
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

const CLIENT_STATUS = 'query ClientStatus($id: ID!) { session(id: $id) { id status } }';
const CLIENT_CREATE = 'mutation ClientStart { createSession(input: { callback: "http://localhost:3000/verified" }) { session { id } } }';

let folder: string;
const write = (name: string, content: unknown) => {
  const path = join(folder, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
};

beforeAll(() => {
  folder = mkdtempSync(join(tmpdir(), 'gateway-manifests-'));
});
afterAll(() => rmSync(folder, { recursive: true, force: true }));

describe('with the repository manifest and a client project manifest', () => {
  let gw: TestGateway;
  let reviewer: string;
  beforeAll(async () => {
    // Keys as the client preset writes them, and as bare hex.
    const manifest = write('web.json', { [`sha256:${sha256(CLIENT_STATUS)}`]: CLIENT_STATUS, [sha256(CLIENT_CREATE)]: CLIENT_CREATE });
    gw = await startTestGateway({ TRUSTED_DOCUMENTS: 'true', TRUSTED_DOCUMENTS_MANIFESTS: `${OWN_MANIFEST}, ${manifest}` });
    reviewer = await gw.token('reviewer-1', ['reviewer']);
  });
  afterAll(() => gw?.close());

  const persisted = async (hash: string, variables?: Record<string, unknown>) => {
    const response = await fetch(`${gw.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${reviewer}` },
      body: JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: hash } }, variables }),
    });
    return (await response.json()) as { data?: any; errors?: Array<{ extensions?: Record<string, unknown> }> };
  };

  it("runs both projects' documents, by bare hex or sha256:<hex>", async () => {
    const created = await persisted(`sha256:${sha256(CLIENT_CREATE)}`);
    const id = created.data.createSession.session.id;
    expect(await persisted(sha256(CLIENT_STATUS), { id })).toEqual({ data: { session: { id, status: 'NOT_STARTED' } } });
    expect(await persisted(`SHA256:${sha256(CLIENT_STATUS).toUpperCase()}`, { id })).toEqual({ data: { session: { id, status: 'NOT_STARTED' } } });
    // One of the repository's own (operations/session.graphql).
    const own = Object.entries(JSON.parse(readFileSync(OWN_MANIFEST, 'utf8')) as Record<string, string>).find(([, doc]) => doc.startsWith('query SessionStatus'))!;
    expect((await persisted(own[0], { id })).data.session.status).toBe('NOT_STARTED');
  });

  it('refuses any other document, and unknown or odd hashes', async () => {
    for (const hash of [sha256('query Other { __typename }'), '__proto__', 'constructor', `sha256:${'0'.repeat(63)}`]) {
      expect(codes(await persisted(hash)), hash).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
    }
    expect(codes(await gw.post(reviewer, CLIENT_STATUS, { id: '11111111-1111-4111-8111-111111111111' }))).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
  });
});

describe('a bad manifest list', () => {
  const env = (manifests: string) => ({ PORT: '0', SANDBOX_PORT: '0', HOST: '127.0.0.1', AUTH_JWT_SECRET: 'x'.repeat(40), TRUSTED_DOCUMENTS: 'true', TRUSTED_DOCUMENTS_MANIFESTS: manifests, ...testAuditEnv() });

  it('is refused by the configuration when it cannot apply', () => {
    expect(() => loadConfig({ TRUSTED_DOCUMENTS_MANIFESTS: OWN_MANIFEST })).toThrow(new ConfigError('TRUSTED_DOCUMENTS_MANIFESTS', 'is set but TRUSTED_DOCUMENTS is not true: the manifests would not be used'));
    expect(() => loadConfig(env(`${OWN_MANIFEST},,`))).toThrow(ConfigError);
  });

  it.each([
    ['a missing file', () => join(folder, 'missing.json'), /entry 2 of 2 cannot be read as a manifest \(ENOENT\)/],
    ['not JSON', () => write('broken.json', '{"sha256:'), /entry 2 of 2 cannot be read as a manifest/],
    ['a list', () => write('list.json', [CLIENT_STATUS]), /entry 2 of 2 is not a JSON object/],
    ['a wrong hash', () => write('wrong.json', { [`sha256:${sha256('something else')}`]: CLIENT_STATUS }), /hash is not the sha256 of its document/],
    ['a key that is no hash', () => write('key.json', { ClientStatus: CLIENT_STATUS }), /not "sha256:<hex>"/],
    ['a document that does not parse', () => write('parse.json', { [sha256('query {')]: 'query {' }), /does not parse/],
  ])('stops the start on %s, naming the variable and not the path', async (_, make, message) => {
    const path = make();
    const error = await startGateway(loadConfig(env(`${OWN_MANIFEST},${path}`))).then(
      (gateway) => gateway.close().then(() => null),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe('TRUSTED_DOCUMENTS_MANIFESTS');
    expect((error as ConfigError).message).toMatch(message);
    expect((error as ConfigError).message).not.toContain(folder);
  });

  it('makes `npm start` exit with one line', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/index.ts'], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      env: { ...process.env, ...env(join(folder, 'missing.json')), NODE_ENV: '' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toBe('Configuration error: TRUSTED_DOCUMENTS_MANIFESTS entry 1 of 1 cannot be read as a manifest (ENOENT)\n');
  });
});
