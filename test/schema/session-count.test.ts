import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { sessionsAtMost, upstreamSessions } from '../../src/schema/session-count.ts';
import { schema } from '../../src/schema/index.ts';

const count = (query: string, variables?: Record<string, unknown>, operationName?: string) =>
  upstreamSessions(schema, parse(query), operationName, variables)?.size;

describe('the distinct sessions an operation may read, from the schema alone', () => {
  const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];

  it('adds up aliases and fields, counting each session once whatever its case', () => {
    expect(count(`{ x: session(id: "${a}") { id } y: session(id: "${a.toUpperCase()}") { id } z: sessions(ids: ["${a}", "${b}"]) { id } }`)).toBe(2);
  });

  it('resolves variables, in lists and input objects', () => {
    const query = `mutation($i: [ID!]!, $s: ID!, $u: UpdateSessionStatusInput!) {
      generateSessionPdf(sessionId: $s) { url }
      updateSessionStatus(input: $u) { session { id } }
    }`;
    expect(count(query, { i: [a], s: b, u: { sessionId: c, status: 'APPROVED' } })).toBe(2);
    expect(count(`query($i: [ID!]!) { sessions(ids: $i) { id } }`, { i: [a, b, c] })).toBe(3);
    // A single value where a list is expected counts, as graphql-js coerces it to a list.
    expect(count(`query($i: [ID!]!) { sessions(ids: $i) { id } }`, { i: a })).toBe(1);
  });

  it('follows fragments, named and inline, nested, each once', () => {
    const query = `
      query { ...A ...A ... on Query { session(id: "${c}") { id } } }
      fragment A on Query { sessions(ids: ["${a}"]) { id } ...B }
      fragment B on Query { session(id: "${b}") { id } }`;
    expect(count(query)).toBe(3);
  });

  it('counts only the operation that runs, and only ids that can reach Didit', () => {
    const query = `
      query One { session(id: "${a}") { id } }
      query Two { ...Other sessions(ids: ["not-a-uuid", "${a}"]) { id } }
      fragment Other on Query { session(id: "${b}") { id } }`;
    expect(count(query, {}, 'One')).toBe(1);
    expect(count(query, {}, 'Two')).toBe(2);
  });

  it('counts subscriptions', () => {
    expect(count(`subscription($id: ID!) { sessionStatusChanged(sessionId: $id) { status } }`, { id: a })).toBe(1);
  });

  it('leaves invalid operations and variables to execution, which refuses them before any call', () => {
    expect(count(`query($i: [ID!]!) { sessions(ids: $i) { id } }`, {})).toBeUndefined();
    expect(count(`query A { __typename } query B { __typename }`)).toBeUndefined();
  });

  it('bounds from the document alone what the variables can make it read (property)', () => {
    const ids = [a, b, c, 'not-a-uuid'];
    const field = fc.oneof(
      fc.record({ kind: fc.constant('one' as const), id: fc.constantFrom(...ids), variable: fc.boolean() }),
      fc.record({ kind: fc.constant('many' as const), ids: fc.array(fc.constantFrom(...ids), { maxLength: 4 }) }),
    );
    fc.assert(
      fc.property(fc.array(field, { maxLength: 6 }), fc.boolean(), (fields, inFragment) => {
        const variables: Record<string, unknown> = {};
        const selections = fields.map((f, i) => {
          if (f.kind === 'many') return `f${i}: sessions(ids: ${JSON.stringify(f.ids)}) { id }`;
          if (!f.variable) return `f${i}: session(id: "${f.id}") { id }`;
          variables[`v${i}`] = f.id;
          return `f${i}: session(id: $v${i}) { id }`;
        });
        const definitions = Object.keys(variables).map((name) => `$${name}: ID!`);
        const head = `query Q${definitions.length ? `(${definitions.join(', ')})` : ''}`;
        const query = inFragment ? `${head} { ...F } fragment F on Query { __typename ${selections.join(' ')} }` : `${head} { __typename ${selections.join(' ')} }`;
        const document = parse(query);
        const most = sessionsAtMost(schema, document, 'Q');
        const counted = upstreamSessions(schema, document, 'Q', variables)!.size;
        expect(counted).toBeLessThanOrEqual(most);
        if (fields.every((f) => f.kind === 'one')) expect(most).toBe(fields.length);
        else expect(most).toBe(Infinity);
      }),
    );
  });
});
