/**
 * A frontend project of its own, as the README tells it to set up codegen: the README's exact
 * `codegen.ts`, run from a folder outside the repository against the SDL the gateway serves while
 * developing, and the generated code compiled with `tsc --strict` together with code using it.
 */
import { mkdtempSync, rmSync, symlinkSync, writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Types } from '@graphql-codegen/plugin-helpers';
import { generate } from '@graphql-codegen/cli';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { printSchemaFile } from '../../src/schema/print.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { readmeValue } from '../support/readme.ts';

const OPERATIONS = `
query ReviewSession($id: ID!) {
  session(id: $id) {
    id
    status
    decision {
      id
      createdAt
      kyc { fullName dateOfBirth parsedAddress portraitImage }
      aml { score hits { id entityId score properties } }
    }
  }
}

mutation Start($callback: URL!) {
  createSession(input: { callback: $callback, features: [OCR, FACE] }) { session { id url status } }
}

subscription Live($id: ID!) {
  sessionStatusChanged(sessionId: $id) { status occurredAt session { id status decision { id status } } }
}
`;

/** Uses the generated types as an application would; wrong scalar mappings fail to compile. */
const APP = `
import type { ResultOf, VariablesOf } from '@graphql-typed-document-node/core';
import { ReviewSessionDocument, StartDocument, LiveDocument, type SessionStatus } from './gql/graphql.js';
import { graphql } from './gql/index.js';

export function summary(data: ResultOf<typeof ReviewSessionDocument>): string {
  const decision = data.session?.decision;
  const createdAt: string | null | undefined = decision?.createdAt;
  const born: string | null | undefined = decision?.kyc?.dateOfBirth;
  const portrait: string | null | undefined = decision?.kyc?.portraitImage;
  const address: unknown = decision?.kyc?.parsedAddress;
  const scores: Array<number | null> = decision?.aml?.hits.map((hit) => hit.score) ?? [];
  const status: SessionStatus | undefined = data.session?.status;
  return [createdAt, born, portrait, String(address), scores.join(','), status].join(' ');
}

export const start: VariablesOf<typeof StartDocument> = { callback: 'http://localhost:3000/verified' };
export const live = LiveDocument;
export const inline = graphql(\`query InlineStatus($id: ID!) { session(id: $id) { id status } }\`);
`;

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(() => gw?.close());

describe('the SDL at /graphql/schema.graphql', () => {
  it('is the committed schema, while developing', async () => {
    const response = await fetch(`${gw.url}/graphql/schema.graphql`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await response.text()).toBe(printSchemaFile());
    expect(printSchemaFile()).toBe(readFileSync(new URL('../../schema/schema.graphql', import.meta.url), 'utf8'));
  });

  it('is not served in production (no introspection there either)', async () => {
    const production = await startTestGateway({ NODE_ENV: 'production' });
    try {
      const response = await fetch(`${production.url}/graphql/schema.graphql`);
      expect(response.status).toBe(404);
      expect((await response.json()).errors[0].extensions.code).toBe('ROUTE_NOT_FOUND');
    } finally {
      await production.close();
    }
  });
});

it("the README's codegen config, run in a project of its own, generates code that compiles with tsc --strict", async () => {
  const project = mkdtempSync(join(tmpdir(), 'gateway-client-'));
  try {
    mkdirSync(join(project, 'src'));
    writeFileSync(join(project, 'package.json'), JSON.stringify({ type: 'module' }));
    writeFileSync(join(project, 'src', 'operations.graphql'), OPERATIONS);
    writeFileSync(join(project, 'src', 'app.ts'), APP);
    // The project's own dependencies: the ones this repository has installed.
    symlinkSync(fileURLToPath(new URL('../../node_modules', import.meta.url)), join(project, 'node_modules'), 'dir');

    process.env.GATEWAY_SCHEMA = `${gw.url}/graphql/schema.graphql`;
    const config = readmeValue('CodegenConfig', 'config') as Types.Config;
    delete process.env.GATEWAY_SCHEMA;
    expect(config.schema).toBe(`${gw.url}/graphql/schema.graphql`);
    await generate({ ...config, cwd: project, silent: true }, true);

    const files = ['src/app.ts', 'src/gql/index.ts', 'src/gql/graphql.ts', 'src/gql/gql.ts'].map((file) => join(project, file));
    const program = ts.createProgram(files, {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      verbatimModuleSyntax: true,
      skipLibCheck: true,
      types: [],
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(diagnostics).toEqual([]);
    const manifest = JSON.parse(readFileSync(join(project, 'src', 'gql', 'persisted-documents.json'), 'utf8'));
    expect(Object.keys(manifest)).toHaveLength(4);
  } finally {
    rmSync(project, { recursive: true, force: true });
  }
});
