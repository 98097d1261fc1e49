import { Redis } from 'ioredis';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSupergraph, type TestSupergraph } from '../support/supergraph.ts';

interface Result {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const persisted = (hash: string) => ({ persistedQuery: { version: 1, sha256Hash: hash } });

/** POSTs one operation or a batch as JSON. */
async function post(
  supergraph: TestSupergraph,
  body: unknown,
): Promise<{ status: number; body: Result & Result[] }> {
  const response = await fetch(`${supergraph.baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Result & Result[] };
}

const code = (result: Result | undefined) => result?.errors?.[0]?.extensions?.code;

describe('automatic persisted queries', () => {
  let supergraph: TestSupergraph;
  let redis: Redis | null = null;
  beforeAll(async () => {
    supergraph = await startTestSupergraph({ MAX_QUERY_DEPTH: '3' });
    const url = supergraph.runtime.config.REDIS_URL;
    if (url) redis = new Redis(url);
  });
  afterAll(async () => {
    if (redis) {
      // Entries live for a day; leave nothing behind in a shared Redis.
      const prefix = supergraph.runtime.config.REDIS_KEY_PREFIX;
      const keys = await redis.keys(`${prefix}apq:*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    }
    await supergraph.stop();
  });

  it('answers an unknown hash with PERSISTED_QUERY_NOT_FOUND, then registers and serves it', async () => {
    const query = `query ApqProbe { me { id } } # ${Math.random()}`;
    const hash = sha256(query);

    const miss = await post(supergraph, { extensions: persisted(hash) });
    expect(code(miss.body)).toBe('PERSISTED_QUERY_NOT_FOUND');

    const register = await post(supergraph, { query, extensions: persisted(hash) });
    expect(register.status).toBe(200);
    expect(register.body).toEqual({ data: { me: null } });

    const hit = await post(supergraph, { extensions: persisted(hash) });
    expect(hit.status).toBe(200);
    expect(hit.body).toEqual({ data: { me: null } });

    // Apollo Client sends hash-only queries as GET so CDNs can cache them.
    const search = new URLSearchParams({ extensions: JSON.stringify(persisted(hash)) });
    const get = await fetch(`${supergraph.baseUrl}/graphql?${search.toString()}`, {
      headers: { 'apollo-require-preflight': 'true' },
    });
    expect(get.status).toBe(200);
    expect(await get.json()).toEqual({ data: { me: null } });

    if (redis) {
      // The hit above read the entry back on the same connection, so the write has landed.
      const key = `${supergraph.runtime.config.REDIS_KEY_PREFIX}apq:${hash}`;
      expect(await redis.get(key)).toBe(query);
      expect(await redis.ttl(key)).toBeGreaterThan(0);
    }
  });

  it('refuses a hash that does not match the query', async () => {
    const result = await post(supergraph, {
      query: '{ me { id } }',
      extensions: persisted(sha256('{ organization { id } }')),
    });
    expect(result.status).toBe(400);
    expect(result.body.errors?.[0]).toMatchObject({
      message: 'provided sha does not match query',
      extensions: { code: 'BAD_REQUEST' },
    });
  });

  it('does not register a query that the operation limits refuse', async () => {
    const query = `query TooDeep { me { memberships { organization { id } } } } # ${Math.random()}`;
    const hash = sha256(query);
    const register = await post(supergraph, { query, extensions: persisted(hash) });
    expect(register.status).toBe(400);
    expect(code(register.body)).toBe('BAD_USER_INPUT');
    const again = await post(supergraph, { extensions: persisted(hash) });
    expect(code(again.body)).toBe('PERSISTED_QUERY_NOT_FOUND');
    if (redis) {
      expect(await redis.exists(`${supergraph.runtime.config.REDIS_KEY_PREFIX}apq:${hash}`)).toBe(
        0,
      );
    }
  });
});

describe('persisted queries switched off', () => {
  let supergraph: TestSupergraph;
  beforeAll(async () => {
    supergraph = await startTestSupergraph({ PERSISTED_QUERIES: 'off' });
  });
  afterAll(async () => {
    await supergraph.stop();
  });

  it('answers PERSISTED_QUERY_NOT_SUPPORTED and still runs plain queries', async () => {
    const query = '{ me { id } }';
    const result = await post(supergraph, { query, extensions: persisted(sha256(query)) });
    expect(code(result.body)).toBe('PERSISTED_QUERY_NOT_SUPPORTED');
    expect((await post(supergraph, { query })).body).toEqual({ data: { me: null } });
  });
});

describe('safelist mode', () => {
  const me = 'query SafeMe {\n  me {\n    id\n  }\n}';
  const typename = 'query SafeTypename {\n  __typename\n}';
  let supergraph: TestSupergraph;
  beforeAll(async () => {
    const manifest = join(mkdtempSync(join(tmpdir(), 'lotabots-safelist-')), 'manifest.json');
    writeFileSync(
      manifest,
      JSON.stringify({
        format: 'apollo-persisted-query-manifest',
        version: 1,
        operations: [
          { id: sha256(me), name: 'SafeMe', type: 'query', body: me },
          { id: sha256(typename), name: 'SafeTypename', type: 'query', body: typename },
        ],
      }),
    );
    supergraph = await startTestSupergraph({
      PERSISTED_QUERIES: 'safelist',
      PERSISTED_QUERIES_MANIFEST: manifest,
    });
  });
  afterAll(async () => {
    await supergraph.stop();
  });

  it('runs a registered operation sent by id, by body, or both', async () => {
    const byId = await post(supergraph, { extensions: persisted(sha256(me)) });
    expect(byId.status).toBe(200);
    expect(byId.body).toEqual({ data: { me: null } });
    const byBody = await post(supergraph, { query: me });
    expect(byBody.body).toEqual({ data: { me: null } });
    const both = await post(supergraph, {
      query: typename,
      extensions: persisted(sha256(typename)),
    });
    expect(both.body).toEqual({ data: { __typename: 'Query' } });
  });

  it('refuses an unregistered document before parsing it', async () => {
    const result = await post(supergraph, { query: '{ organization { id } }' });
    expect(result.status).toBe(403);
    expect(code(result.body)).toBe('PERSISTED_QUERY_NOT_IN_SAFELIST');
    expect(result.body.errors?.[0]?.message).toMatch(/not in the safelist/);
    // Not even a syntax error is reported for a document that is not on the list.
    const garbage = await post(supergraph, { query: '{ this is not graphql' });
    expect(garbage.status).toBe(403);
    expect(code(garbage.body)).toBe('PERSISTED_QUERY_NOT_IN_SAFELIST');
  });

  it('refuses an unknown id, and does not let a client register one', async () => {
    const query = '{ organization { id } }';
    const unknown = await post(supergraph, { extensions: persisted(sha256(query)) });
    expect(unknown.status).toBe(403);
    expect(code(unknown.body)).toBe('PERSISTED_QUERY_NOT_IN_SAFELIST');
    const register = await post(supergraph, { query, extensions: persisted(sha256(query)) });
    expect(code(register.body)).toBe('PERSISTED_QUERY_NOT_IN_SAFELIST');
    const after = await post(supergraph, { extensions: persisted(sha256(query)) });
    expect(code(after.body)).toBe('PERSISTED_QUERY_NOT_IN_SAFELIST');
  });

  it('refuses a registered id sent with a different body', async () => {
    const result = await post(supergraph, {
      query: '{ organization { id } }',
      extensions: persisted(sha256(me)),
    });
    expect(result.status).toBe(403);
    expect(code(result.body)).toBe('PERSISTED_QUERY_NOT_IN_SAFELIST');
  });

  it('answers each operation of a batch on its own', async () => {
    const result = await post(supergraph, [
      { extensions: persisted(sha256(typename)) },
      { query: '{ me { email } }' },
    ]);
    expect(result.body).toHaveLength(2);
    expect(result.body[0]).toEqual({ data: { __typename: 'Query' } });
    expect(code(result.body[1])).toBe('PERSISTED_QUERY_NOT_IN_SAFELIST');
  });
});
