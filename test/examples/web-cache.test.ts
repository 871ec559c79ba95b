import { readFileSync } from 'node:fs';
import { buildSchema, isObjectType } from 'graphql';
import { expect, it } from 'vitest';
import { keys } from '../../examples/web/src/cache.ts';

const schema = buildSchema(readFileSync(new URL('../../schema/schema.graphql', import.meta.url), 'utf8'));
const roots = new Set([schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].map((type) => type?.name));
const objectTypes = Object.values(schema.getTypeMap()).filter((type) => isObjectType(type) && !type.name.startsWith('__') && !roots.has(type.name));

it("the web example's graphcache keys name exactly the schema's object types without an id", () => {
  // A type added to the schema without an id makes graphcache warn on every result holding it;
  // one that gains an id should lose its entry here (graphcache then uses the id).
  const withoutId = objectTypes.filter((type) => isObjectType(type) && !type.getFields().id).map((type) => type.name);
  expect(Object.keys(keys).sort()).toEqual(withoutId.sort());
});

it('stores the types without an id embedded in their parent', () => {
  expect(keys.Kyc()).toBeNull();
});
