import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Two projects: `suites` run on embedded defaults (npm test) and again against real PostgreSQL,
// Redis and S3 when .ci/run sets DATABASE_URL / REDIS_URL / S3_BUCKET; `integration` holds the
// checks that only make sense against those real services (rows in PostgreSQL, keys in Redis).
// One `graphql` instance for every importer: without this, project code gets graphql's ESM build
// and Apollo its CommonJS build, `instanceof GraphQLError` fails across them, and Apollo
// prefixes context errors with "Context creation failed:" (Node itself loads one copy).
const graphqlEntry = fileURLToPath(new URL('./node_modules/graphql/index.js', import.meta.url));

export default defineConfig({
  resolve: { alias: [{ find: /^graphql$/, replacement: graphqlEntry }] },
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    globalSetup: ['tests/support/global-setup.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'suites',
          include: ['tests/**/*.test.ts'],
          exclude: ['tests/integration/**'],
        },
      },
      {
        extends: true,
        test: { name: 'integration', include: ['tests/integration/**/*.test.ts'] },
      },
    ],
  },
});
