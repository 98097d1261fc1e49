import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { loadConfig, type Config } from '../../platform/config.ts';

/**
 * A configuration for one test file: its own data dir, PostgreSQL schema prefix, Redis key prefix
 * and S3 key prefix, so test files run in parallel without touching each other's data.
 * DATABASE_URL / REDIS_URL / S3_* from the environment are kept: that is how .ci/run points the
 * same suites at real services.
 */
export function testConfig(overrides: Record<string, string | undefined> = {}): Config {
  const id = randomBytes(4).toString('hex');
  const dataDir = mkdtempSync(join(tmpdir(), 'lotabots-test-'));
  const template = inject('pgliteTemplate');
  if (template && existsSync(join(template, 'pglite'))) {
    cpSync(join(template, 'pglite'), join(dataDir, 'pglite'), { recursive: true });
  }
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    LOTABOTS_DATA_DIR: dataDir,
    PORT: '0',
    // Cheaper scrypt than production's default so suites that sign up many users stay fast;
    // the production parameters are asserted in the password tests.
    PASSWORD_HASH_LOG2N: '14',
    // Every suite's sign-ups and logins are anonymous operations from 127.0.0.1, which would
    // exhaust the per-IP rate limit; tests/gateway/rate-limit.test.ts sets its own small limits.
    RATE_LIMIT_ANONYMOUS: '1000000',
    // Suites submit attestations in bursts from FREE organizations; the quota suites set their own.
    QUOTA_TIER_LIMITS: JSON.stringify({
      FREE: { CONCURRENT_ATTESTATIONS: 100_000, ATTESTATIONS_PER_DAY: 10_000_000 },
    }),
    DATABASE_URL: process.env.DATABASE_URL,
    DATABASE_SCHEMA_PREFIX: `t${id}_`,
    REDIS_URL: process.env.REDIS_URL,
    REDIS_KEY_PREFIX: `test:${id}:`,
    S3_BUCKET: process.env.S3_BUCKET,
    S3_ENDPOINT: process.env.S3_ENDPOINT,
    S3_REGION: process.env.S3_REGION,
    S3_ACCESS_KEY_ID: process.env.S3_ACCESS_KEY_ID,
    S3_SECRET_ACCESS_KEY: process.env.S3_SECRET_ACCESS_KEY,
    S3_FORCE_PATH_STYLE: process.env.S3_FORCE_PATH_STYLE,
    S3_KEY_PREFIX: `test-${id}/`,
    ...overrides,
  });
}

/** Which real services this run talks to; suites name it in their titles. */
export const backends = {
  database: process.env.DATABASE_URL ? 'postgresql' : 'pglite',
  events: process.env.REDIS_URL ? 'redis' : 'memory',
  objects: process.env.S3_BUCKET ? 's3' : 'filesystem',
} as const;
