import { readFileSync } from 'node:fs';
import { buildSchema, findBreakingChanges } from 'graphql';
import { expect, it } from 'vitest';
import { printSchemaFile } from '../../src/schema/print.ts';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

it('schema/schema.graphql is what the Pothos schema prints (run `npm run codegen` when this fails)', () => {
  expect(read('schema/schema.graphql')).toBe(printSchemaFile());
});

it('contains everything the public contract promises (schema/contract.graphql)', () => {
  const changes = findBreakingChanges(buildSchema(read('schema/contract.graphql')), buildSchema(printSchemaFile()));
  expect(changes).toEqual([]);
});
