import { describe, expect, it, vi } from 'vitest';
import { exampleOperations } from '../../src/sandbox-mode/graphiql.ts';
import { startTestGateway } from '../support/gateway.ts';

/**
 * GraphiQL sends its whole editor, every time, with the operation to run named: this also checks
 * that the operation named is the one that runs (compiled execution once ran the first compiled).
 */
describe.each(['v1', 'v3'] as const)("GraphiQL's example operations in sandbox mode, Didit %s", (api) => {
  it('run as they are: start, finish on the sandbox, read, approve, report', async () => {
    const gw = await startTestGateway({ SANDBOX_API_VERSION: api });
    try {
      const document = exampleOperations(api);
      const reviewer = await gw.token('office', ['reviewer']);
      const run = async (operationName: string, variables: Record<string, unknown> = {}) => {
        const response = await fetch(`${gw.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${reviewer}` },
          body: JSON.stringify({ query: document, operationName, variables }),
        });
        const result = (await response.json()) as { data?: any; errors?: unknown[] };
        expect(result.errors, operationName).toBeUndefined();
        return result.data;
      };
      const { session } = (await run('StartVerification')).createSession;
      expect(session.status).toBe('NOT_STARTED');
      const created = gw.upstream('create');
      const finished = await fetch(`${gw.sandbox!.url}/sandbox/sessions/${session.id}/complete`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ status: 'In Review' }),
      });
      expect(finished.status).toBe(200);
      await vi.waitFor(async () => expect((await run('ReadDecision', { id: session.id })).session.status).toBe('IN_REVIEW'), { timeout: 10_000 });
      expect((await run('ReadDecision', { id: session.id })).session.decision.kyc.fullName).toEqual(expect.any(String));
      expect((await run('Approve', { id: session.id })).updateSessionStatus.session.status).toBe('APPROVED');
      expect((await run('Report', { id: session.id })).generateSessionPdf.url).toMatch(/\/reports\//);
      expect(gw.upstream('create')).toBe(created);
    } finally {
      await gw.close();
    }
  });
});
