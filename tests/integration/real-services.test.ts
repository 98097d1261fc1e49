import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUp, startTestSupergraph, type TestSupergraph } from '../support/supergraph.ts';

/**
 * Looks inside PostgreSQL, Redis and the S3 server to prove the suites really ran against them.
 * Only .ci/run executes this project (with DATABASE_URL, REDIS_URL and S3_* set); without them it
 * fails loudly instead of passing vacuously.
 */
const { DATABASE_URL, REDIS_URL, S3_BUCKET, S3_ENDPOINT, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY } =
  process.env;
const missing = Object.entries({ DATABASE_URL, REDIS_URL, S3_BUCKET })
  .filter(([, v]) => !v)
  .map(([k]) => k);

let supergraph: TestSupergraph;
beforeAll(async () => {
  if (missing.length > 0) {
    throw new Error(`integration suite needs ${missing.join(', ')}; run it through .ci/run`);
  }
  supergraph = await startTestSupergraph();
});
afterAll(async () => {
  await supergraph?.stop();
});

describe('the supergraph on real services', () => {
  it('stores identity rows in the PostgreSQL schema of its domain', async () => {
    const user = await signUp(supergraph, 'pg');
    const schema = `${supergraph.runtime.config.DATABASE_SCHEMA_PREFIX}identity`;
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    try {
      const users = await client.query<{ email: string }>(
        `SELECT email FROM "${schema}"."User" WHERE id = $1`,
        [user.user.id],
      );
      expect(users.rows).toEqual([{ email: user.email }]);
      const migrations = await client.query<{ migration_name: string }>(
        `SELECT migration_name FROM "${schema}"."_prisma_migrations" WHERE finished_at IS NOT NULL`,
      );
      expect(migrations.rows.length).toBeGreaterThan(0);
    } finally {
      await client.end();
    }
  });

  it('keeps login-throttle counters in Redis under the configured prefix', async () => {
    const user = await signUp(supergraph, 'redis');
    await supergraph.graphql('mutation($i: LoginInput!) { login(input: $i) { accessToken } }', {
      i: { email: user.email, password: 'definitely the wrong one' },
    });
    const redis = new Redis(REDIS_URL!);
    try {
      const key = `${supergraph.runtime.config.REDIS_KEY_PREFIX}counter:login-fail:acct:${user.email}`;
      expect(await redis.get(key)).toBe('1');
      expect(await redis.pttl(key)).toBeGreaterThan(0);
    } finally {
      redis.disconnect();
    }
  });

  it('delivers events through Redis pub/sub', async () => {
    const redis = new Redis(REDIS_URL!);
    try {
      const channel = `${supergraph.runtime.config.REDIS_KEY_PREFIX}integration.ping`;
      const received = new Promise<string>((resolvePromise) =>
        redis.on('message', (_c: string, m: string) => resolvePromise(m)),
      );
      await redis.subscribe(channel);
      await supergraph.runtime.events.publish('integration.ping', { hello: 'redis' });
      expect(JSON.parse(await received)).toEqual({ hello: 'redis' });
    } finally {
      redis.disconnect();
    }
  });

  it('writes objects to the S3 bucket', async () => {
    const key = `integration/${Date.now()}.txt`;
    await supergraph.runtime.objects.put(key, Buffer.from('stored in S3'), {
      contentType: 'text/plain',
    });
    const s3 = new S3Client({
      endpoint: S3_ENDPOINT,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: {
        accessKeyId: S3_ACCESS_KEY_ID ?? '',
        secretAccessKey: S3_SECRET_ACCESS_KEY ?? '',
      },
    });
    try {
      const listed = await s3.send(
        new ListObjectsV2Command({
          Bucket: S3_BUCKET,
          Prefix: supergraph.runtime.config.S3_KEY_PREFIX,
        }),
      );
      expect(listed.Contents?.map((o) => o.Key)).toContain(
        `${supergraph.runtime.config.S3_KEY_PREFIX}${key}`,
      );
    } finally {
      s3.destroy();
    }
  });
});
