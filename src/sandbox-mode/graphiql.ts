import { readFileSync } from 'node:fs';

/**
 * What GraphiQL opens with: operations that run as they are against the sandbox, in either API
 * (`graphiql-v1.graphql`, `graphiql-v3.graphql` beside this file, read at start).
 */
export function exampleOperations(api: 'v1' | 'v3'): string {
  return readFileSync(new URL(`./graphiql-${api}.graphql`, import.meta.url), 'utf8');
}
