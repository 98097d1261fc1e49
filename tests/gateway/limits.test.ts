import { getIntrospectionQuery, parse, type OperationDefinitionNode } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { measureOperation } from '../../gateway/limits/index.ts';
import { startTestSupergraph, type TestSupergraph } from '../support/supergraph.ts';

interface Answer {
  status: number;
  ms: number;
  body: {
    data?: Record<string, unknown> | null;
    errors?: { message: string; extensions?: Record<string, unknown> }[];
  };
}

/** POSTs any JSON body (single or batched) and times the answer. */
async function post(supergraph: TestSupergraph, body: unknown): Promise<Answer> {
  const started = Date.now();
  const response = await fetch(`${supergraph.baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    ms: Date.now() - started,
    body: JSON.parse(text) as Answer['body'],
  };
}

const firstError = (answer: Answer) => answer.body.errors?.[0];

// Rejections must be cheap; the bound is generous so a busy CI machine does not flake.
const QUICKLY_MS = 5_000;

describe('operation limits', () => {
  let supergraph: TestSupergraph;
  beforeAll(async () => {
    supergraph = await startTestSupergraph({
      MAX_QUERY_DEPTH: '5',
      MAX_QUERY_ALIASES: '10',
      MAX_ROOT_FIELDS: '3',
      MAX_QUERY_TOKENS: '10000',
      MAX_BATCH_SIZE: '5',
    });
  });
  afterAll(async () => {
    await supergraph.stop();
  });

  it('executes operations within every limit', async () => {
    const answer = await post(supergraph, {
      query: '{ me { id memberships { organization { members { role } } } } }',
    });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ data: { me: null } });
  });

  it('refuses a query deeper than MAX_QUERY_DEPTH, counting through fragments', async () => {
    const answer = await post(supergraph, {
      query: /* GraphQL */ `
        query Deep {
          me {
            ...Memberships
          }
        }
        fragment Memberships on User {
          memberships {
            ... on Membership {
              organization {
                members {
                  user {
                    id
                  }
                }
              }
            }
          }
        }
      `,
    });
    expect(answer.status).toBe(400);
    expect(firstError(answer)).toMatchObject({
      message: 'Query depth 6 exceeds the limit of 5',
      extensions: { code: 'BAD_USER_INPUT', limit: 'depth', maximum: 5, actual: 6 },
    });
  });

  it('refuses an alias bomb (1000 aliases of me { id })', async () => {
    const aliases = Array.from({ length: 1000 }, (_, i) => `a${i}: me { id }`).join(' ');
    const answer = await post(supergraph, { query: `{ ${aliases} }` });
    expect(answer.status).toBe(400);
    expect(firstError(answer)).toMatchObject({
      message: 'Query alias count 1000 exceeds the limit of 10',
      extensions: { code: 'BAD_USER_INPUT', limit: 'aliases' },
    });
    expect(answer.ms).toBeLessThan(QUICKLY_MS);
  });

  it('counts aliases once per fragment spread', async () => {
    // 3 aliases in the fragment, spread under 4 aliased fields: 4 + 12 = 16 aliases executed.
    const answer = await post(supergraph, {
      query: /* GraphQL */ `
        {
          me {
            a: memberships {
              ...Three
            }
            b: memberships {
              ...Three
            }
            c: memberships {
              ...Three
            }
            d: memberships {
              ...Three
            }
          }
        }
        fragment Three on Membership {
          x: role
          y: role
          z: role
        }
      `,
    });
    expect(answer.status).toBe(400);
    expect(firstError(answer)?.message).toBe('Query alias count 16 exceeds the limit of 10');
  });

  it('refuses more root fields than MAX_ROOT_FIELDS', async () => {
    const answer = await post(supergraph, {
      query: '{ me { id } __typename t1: __typename t2: __typename }',
    });
    expect(answer.status).toBe(400);
    expect(firstError(answer)).toMatchObject({
      message: 'Query root field count 4 exceeds the limit of 3',
      extensions: { code: 'BAD_USER_INPUT', limit: 'rootFields', maximum: 3, actual: 4 },
    });
  });

  it('counts a repeated root field once, since it resolves once', async () => {
    const answer = await post(supergraph, { query: '{ me { id } me { id } me { id } me { id } }' });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ data: { me: null } });
  });

  it('stops parsing a document with more than MAX_QUERY_TOKENS tokens', async () => {
    const answer = await post(supergraph, { query: `{ me { ${'id '.repeat(12_000)} } }` });
    expect(answer.status).toBe(400);
    expect(firstError(answer)?.extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
    // graphql 16 spells it "more that"; accept the fixed spelling of later versions too.
    expect(firstError(answer)?.message).toMatch(/more tha[nt] 10000 tokens/);
    expect(answer.ms).toBeLessThan(QUICKLY_MS);
  });

  it('answers a 10 MB string literal with 413 from the body limit', async () => {
    const started = Date.now();
    const response = await fetch(`${supergraph.baseUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `{ gpu(uuid: "${'x'.repeat(10 * 1024 * 1024)}") { name } }` }),
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
    expect(Date.now() - started).toBeLessThan(QUICKLY_MS);
  });

  it('answers a fragment cycle with a 400, not a stack overflow', async () => {
    const answer = await post(supergraph, {
      query: /* GraphQL */ `
        query Cycle {
          me {
            ...A
          }
        }
        fragment A on User {
          memberships {
            user {
              ...B
            }
          }
        }
        fragment B on User {
          ...A
        }
      `,
    });
    expect(answer.status).toBe(400);
    expect(firstError(answer)?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(firstError(answer)?.message).toMatch(/Cannot spread fragment "A" within itself/);
    expect(answer.ms).toBeLessThan(QUICKLY_MS);
  });

  it('refuses a 1000-operation batch before parsing any of it', async () => {
    const batch = Array.from({ length: 1000 }, () => ({ query: '{ me { id } }' }));
    const answer = await post(supergraph, batch);
    expect(answer.status).toBe(400);
    expect(firstError(answer)).toMatchObject({
      message: 'Batched request has 1000 operations; at most 5 are allowed',
      extensions: { code: 'BAD_REQUEST' },
    });
    expect(answer.ms).toBeLessThan(QUICKLY_MS);
  });

  it('answers a batch within the limit with one result per operation', async () => {
    const response = await fetch(`${supergraph.baseUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ query: '{ me { id } }' }, { query: 'query Two { __typename }' }]),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual([
      { data: { me: null } },
      { data: { __typename: 'Query' } },
    ]);
  });

  it('applies the limits to each operation of a batch on its own', async () => {
    const response = await fetch(`${supergraph.baseUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        { query: '{ me { id } }' },
        { query: '{ a: me { id } b: me { id } c: me { id } d: me { id } }' },
      ]),
    });
    const results = (await response.json()) as Answer['body'][];
    expect(results).toHaveLength(2);
    expect(results[0]).toEqual({ data: { me: null } });
    expect(results[1]?.errors?.[0]).toMatchObject({
      message: 'Query root field count 4 exceeds the limit of 3',
      extensions: { code: 'BAD_USER_INPUT' },
    });
  });
});

describe('introspection switched off', () => {
  let supergraph: TestSupergraph;
  beforeAll(async () => {
    supergraph = await startTestSupergraph({ INTROSPECTION: 'false' });
  });
  afterAll(async () => {
    await supergraph.stop();
  });

  it('refuses __schema and __type, and still serves __typename', async () => {
    const schema = await post(supergraph, { query: '{ __schema { types { name } } }' });
    expect(schema.status).toBe(400);
    expect(firstError(schema)?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(firstError(schema)?.message).toMatch(/introspection/i);
    const type = await post(supergraph, { query: '{ __type(name: "User") { name } }' });
    expect(type.status).toBe(400);
    const typename = await post(supergraph, { query: '{ __typename }' });
    expect(typename.body).toEqual({ data: { __typename: 'Query' } });
  });
});

describe('default limits', () => {
  it('let the standard introspection query (tools, Sandbox) through', () => {
    const document = parse(getIntrospectionQuery({ descriptions: true }), { maxTokens: 5_000 });
    const operation = document.definitions[0] as OperationDefinitionNode;
    const measure = measureOperation(document, operation);
    expect(measure.depth).toBeLessThanOrEqual(15);
    expect(measure.aliases).toBeLessThanOrEqual(30);
    expect(measure.rootFields).toBeLessThanOrEqual(20);
  });
});
