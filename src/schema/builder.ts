import SchemaBuilder from '@pothos/core';
import type { GatewayContext } from '../core/context.ts';

/**
 * The one schema builder. It defines no types: each domain module adds its own.
 * Fields are nullable unless they say otherwise (Pothos' default), as in the public contract,
 * where most of what Didit sends may be missing.
 */
export const builder = new SchemaBuilder<{
  Context: GatewayContext;
  Scalars: {
    ID: { Input: string; Output: string };
    DateTime: { Input: string; Output: string };
    Date: { Input: string; Output: string };
    URL: { Input: string; Output: string };
    JSON: { Input: unknown; Output: unknown };
  };
}>({});
