import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Typed documents for the web example: every `graphql(`...`)` call in `src/` is checked against
 * the gateway's committed schema and gets its result and variable types in `src/gql/`.
 * Run from the repository root (`npm run codegen` does, after printing the schema).
 */
const config: CodegenConfig = {
  schema: 'schema/schema.graphql',
  documents: ['examples/web/src/**/*.ts', '!examples/web/src/gql/**'],
  ignoreNoDocuments: false,
  emitLegacyCommonJSImports: false,
  generates: {
    'examples/web/src/gql/': {
      preset: 'client',
      // Fragment masking pays off in big component trees; this page has none.
      presetConfig: { fragmentMasking: false },
      config: { useTypeImports: true, scalars: { DateTime: 'string', Date: 'string', URL: 'string', JSON: 'unknown' }, enumsAsTypes: true },
    },
  },
};

export default config;
