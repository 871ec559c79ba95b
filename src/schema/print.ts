import { lexicographicSortSchema, printSchema } from 'graphql';
import { schema } from './index.ts';

/** The committed SDL: sorted, so a diff shows what changed and not where Pothos put it. */
export function printSchemaFile(): string {
  return `# Generated from the Pothos schema by \`npm run codegen\`. Do not edit.\n\n${printSchema(lexicographicSortSchema(schema))}\n`;
}
