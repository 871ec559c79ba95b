import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Typed documents for the project's own operations (`operations/*.graphql`), checked against the
 * committed schema. `persistedDocuments` also writes the manifest that trusted-documents mode
 * (TRUSTED_DOCUMENTS=true) accepts.
 */
const config: CodegenConfig = {
  schema: 'schema/schema.graphql',
  documents: ['operations/**/*.graphql'],
  ignoreNoDocuments: false,
  // ESM imports with extensions, as Node's module resolution wants them.
  emitLegacyCommonJSImports: false,
  generates: {
    'src/generated/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false, persistedDocuments: { hashAlgorithm: 'sha256' } },
      config: { useTypeImports: true, scalars: { DateTime: 'string', Date: 'string', URL: 'string', JSON: 'unknown' }, enumsAsTypes: true },
    },
  },
};

export default config;
