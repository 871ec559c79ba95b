/** Writes schema/schema.graphql from the Pothos schema (`npm run codegen`). */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { printSchemaFile } from '../src/schema/print.ts';

writeFileSync(fileURLToPath(new URL('../schema/schema.graphql', import.meta.url)), printSchemaFile());
