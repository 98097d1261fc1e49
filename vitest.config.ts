import { defineConfig } from 'vitest/config';

// Two projects: `suites` run on embedded defaults (npm test) and again against real PostgreSQL,
// Redis and S3 when .ci/run sets DATABASE_URL / REDIS_URL / S3_BUCKET; `integration` holds the
// checks that only make sense against those real services (rows in PostgreSQL, keys in Redis).
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
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
