// graphql-codegen's client preset, configured as a frontend using persisted documents would be:
// SHA-256 hashes (what Apollo's persisted-query link and this gateway use), types for our scalars.
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  schema: '../../schema.graphql',
  documents: ['src/readme.graphql'],
  generates: {
    'src/gql/': {
      preset: 'client',
      presetConfig: { persistedDocuments: { hashAlgorithm: 'sha256' }, fragmentMasking: false },
      config: {
        scalars: { BigInt: 'string', Decimal: 'string', Date: 'string', DateTime: 'string', JSON: 'unknown', UUID: 'string' },
      },
    },
  },
};
export default config;
