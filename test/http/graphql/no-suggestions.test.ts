import { createSchema, createYoga } from 'graphql-yoga';
import { describe, expect, it } from 'vitest';
import { useNoSuggestions } from '../../../src/http/graphql/plugins.ts';

/**
 * The gateway's own schema runs queries and mutations through graphql-jit, whose variable
 * errors carry no suggestions; graphql-js (subscriptions, or an operation jit cannot compile)
 * suggests enum values when it refuses a variable. This schema runs on graphql-js alone.
 */
const yoga = createYoga({
  schema: createSchema({
    typeDefs: /* GraphQL */ `
      enum Decision { APPROVED DECLINED }
      type Query { echo(decision: Decision): String }
      type Subscription { watch(decision: Decision): String }
    `,
    resolvers: {
      Query: { echo: (_: unknown, { decision }: { decision: string }) => decision },
      Subscription: {
        watch: {
          subscribe: async function* () {
            yield { watch: 'x' };
          },
        },
      },
    },
  }),
  plugins: [useNoSuggestions()],
  logging: false,
});

const post = async (query: string, variables?: Record<string, unknown>) =>
  (await yoga.fetch('http://yoga.invalid/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) })).json();

describe('useNoSuggestions', () => {
  it.each([
    ['an enum literal', '{ echo(decision: APPROVE) }', undefined],
    ['a misspelt field', '{ ecko }', undefined],
    ['a misspelt argument', '{ echo(decison: APPROVED) }', undefined],
    ['an enum variable', 'query($d: Decision) { echo(decision: $d) }', { d: 'APPROVE' }],
    ['an enum variable of a subscription', 'subscription($d: Decision) { watch(decision: $d) }', { d: 'APPROVE' }],
  ])('hides the suggestion for %s and keeps the rest of the message', async (_name, query, variables) => {
    const result = await post(query, variables);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0].message).not.toMatch(/Did you mean|"APPROVED"|"echo"|"decision"/);
    expect(result.errors[0].message.length).toBeGreaterThan(10);
  });

  it('leaves a valid operation alone', async () => {
    expect(await post('{ echo(decision: APPROVED) }')).toEqual({ data: { echo: 'APPROVED' } });
  });
});
