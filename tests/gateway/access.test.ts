import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findAccessDrift } from '../../platform/auth/drift.ts';
import { roles, type Role } from '../../platform/auth/roles.ts';
import { subgraphModules } from '../../platform/services.ts';
import { readSubgraphs, supergraphPath } from '../../schema/compose.ts';
import { signUp, startTestSupergraph, type TestSupergraph } from '../support/supergraph.ts';

let supergraph: TestSupergraph;
const keys = {} as Record<Role, string>;

beforeAll(async () => {
  supergraph = await startTestSupergraph();
  const owner = await signUp(supergraph, 'rbac');
  // One API key per role: each acts with exactly that role through the gateway.
  for (const role of roles) {
    const created = await supergraph.graphql<{ createApiKey: { secret: string } }>(
      'mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }',
      { i: { name: `${role} key`, role } },
      owner.accessToken,
    );
    if (!created.data) throw new Error(JSON.stringify(created.errors));
    keys[role] = created.data.createApiKey.secret;
  }
});
afterAll(async () => {
  await supergraph.stop();
});

const allowedFrom = (weakest: Role) => roles.slice(0, roles.indexOf(weakest) + 1);

/** Representative fields of every subgraph, with the weakest role that may use them. */
const cases: {
  name: string;
  query: string;
  weakest: Role | 'anyone';
  /** An error an allowed role may get from the resolver itself (the field ran; access held). */
  allowedCode?: string;
}[] = [
  { name: 'identity: Query.me', query: '{ me { id } }', weakest: 'anyone' },
  { name: 'identity: Query.organization', query: '{ organization { id } }', weakest: 'VIEWER' },
  { name: 'identity: Query.apiKeys', query: '{ apiKeys { id } }', weakest: 'ADMIN' },
  {
    name: 'identity: Mutation.inviteMember',
    query:
      'mutation { inviteMember(input: { email: "new-member@example.com", role: VIEWER }) { role } }',
    weakest: 'ADMIN',
  },
  { name: 'gpu-agent: Query.gpuNodes', query: '{ gpuNodes { id } }', weakest: 'VIEWER' },
  {
    name: 'gpu-agent: Query.gpu',
    query: '{ gpu(uuid: "GPU-00000000-0000-0000-0000-000000000000") { name } }',
    weakest: 'VIEWER',
  },
  { name: 'gpu-agent: Query.migAuditLog', query: '{ migAuditLog { id } }', weakest: 'AUDITOR' },
  {
    name: 'gpu-agent: Mutation.createMigInstance',
    query:
      'mutation { createMigInstance(input: { gpuUuid: "GPU-00000000-0000-0000-0000-000000000000", profile: "1g.10gb" }) { gpuInstanceId } }',
    weakest: 'OPERATOR',
    allowedCode: 'NOT_FOUND',
  },
  {
    name: 'gpu-agent: Mutation.destroyMigInstance',
    query:
      'mutation { destroyMigInstance(input: { gpuUuid: "GPU-00000000-0000-0000-0000-000000000000", gpuInstanceId: 1 }) }',
    weakest: 'OPERATOR',
    allowedCode: 'NOT_FOUND',
  },
];

describe('role-based access from the schema, enforced at the gateway', () => {
  for (const testCase of cases) {
    it(`${testCase.name}: each role allowed or refused as the directives say`, async () => {
      for (const role of roles) {
        const result = await supergraph.graphql(testCase.query, {}, keys[role]);
        const allowed =
          testCase.weakest === 'anyone' || allowedFrom(testCase.weakest).includes(role);
        if (allowed && testCase.allowedCode) {
          expect(result.errors?.[0]?.extensions?.code, `${role} should be allowed`).toBe(
            testCase.allowedCode,
          );
        } else if (allowed) {
          expect(result.errors, `${role} should be allowed`).toBeUndefined();
        } else {
          expect(result.status, `${role} should be refused`).toBe(403);
          expect(result.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
          expect(result.errors?.[0]?.message).toContain(`the ${testCase.weakest} role or stronger`);
          expect(result.data ?? null).toBeNull();
        }
      }
      const anonymous = await supergraph.graphql(testCase.query);
      if (testCase.weakest === 'anyone') expect(anonymous.errors).toBeUndefined();
      else {
        expect(anonymous.status).toBe(401);
        expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      }
    });
  }

  it('names every denied field path, including ones reached through fragments and aliases', async () => {
    const result = await supergraph.graphql(
      'query { organization { id } ...Keys secret: apiKeys { id } } fragment Keys on Query { apiKeys { name } }',
      {},
      keys.VIEWER,
    );
    expect(result.status).toBe(403);
    expect(result.errors?.[0]?.extensions?.deniedFields).toEqual(['apiKeys', 'secret']);
  });

  it('refuses at the gateway before any subgraph runs, and the subgraph refuses on its own too', async () => {
    const before = await (
      await fetch(supergraph.identity.url.replace('/graphql', '/metrics'))
    ).text();
    const count = (text: string) =>
      Number(
        /lotabots_graphql_operations_total\{[^}]*operation="DeniedProbe"[^}]*\} (\d+)/.exec(
          text,
        )?.[1] ?? 0,
      );
    await supergraph.graphql('query DeniedProbe { apiKeys { id } }', {}, keys.OPERATOR);
    const after = await (
      await fetch(supergraph.identity.url.replace('/graphql', '/metrics'))
    ).text();
    expect(count(after)).toBe(count(before));

    // Defence in depth: the identity subgraph, called directly with a forwarded OPERATOR token.
    const exchange = await fetch(
      supergraph.identity.url.replace('/graphql', '/auth/api-key-token'),
      {
        method: 'POST',
        headers: { authorization: `Bearer ${keys.OPERATOR}` },
      },
    );
    const { accessToken } = (await exchange.json()) as { accessToken: string };
    const direct = await fetch(supergraph.identity.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${accessToken}` },
      body: JSON.stringify({ query: '{ apiKeys { id } }' }),
    });
    const body = (await direct.json()) as {
      errors: { message: string; extensions: { code: string } }[];
    };
    expect(body.errors[0]?.extensions.code).toBe('FORBIDDEN');
    expect(body.errors[0]?.message).toContain(
      'Query.apiKeys requires the ADMIN role or stronger; you are OPERATOR',
    );
  });
});

describe('gateway rules and subgraph rules come from one source', () => {
  const sources = () =>
    readSubgraphs().map((s) => ({
      name: s.name,
      sdl: s.sdl,
      publicRootFields: subgraphModules.find((m) => m.name === s.name)?.publicRootFields ?? [],
    }));

  it('agree for every field of every subgraph', () => {
    expect(findAccessDrift(readFileSync(supergraphPath, 'utf8'), sources())).toEqual([]);
  });

  it('report a directive the subgraph dropped and a root field nobody declared public', () => {
    const drifted = sources().map((s) => ({
      ...s,
      sdl: s.sdl.replace(
        'apiKeys: [ApiKey!]! @requiresScopes(scopes: [["admin"]])',
        'apiKeys: [ApiKey!]!',
      ),
    }));
    const problems = findAccessDrift(readFileSync(supergraphPath, 'utf8'), drifted);
    expect(
      problems.some((p) =>
        p.includes('Query.apiKeys is "scopes:admin" at the gateway but "public" in the subgraph'),
      ),
    ).toBe(true);
    expect(
      problems.some((p) =>
        p.includes('Query.apiKeys has no auth directive and is not listed as public'),
      ),
    ).toBe(true);
  });
});

describe('denied fields answered null instead (AUTH_DENIED_FIELDS=null)', () => {
  let nullMode: TestSupergraph;
  beforeAll(async () => {
    nullMode = await startTestSupergraph({ AUTH_DENIED_FIELDS: 'null' });
  });
  afterAll(async () => {
    await nullMode.stop();
  });

  it('runs the allowed part and answers each denied nullable field with null and an error at its path', async () => {
    const result = await nullMode.graphql('{ me { id } organization { id name } }');
    expect(result.status).toBe(200);
    expect(result.data).toEqual({ me: null, organization: null });
    expect(result.errors).toHaveLength(1);
    expect(result.errors?.[0]).toMatchObject({
      path: ['organization'],
      extensions: { code: 'UNAUTHENTICATED' },
    });
  });

  it('still refuses when a denied field is non-null all the way up to the root', async () => {
    const user = await signUp(nullMode, 'nullmode');
    const created = await nullMode.graphql<{ createApiKey: { secret: string } }>(
      'mutation { createApiKey(input: { name: "viewer", role: VIEWER }) { secret } }',
      {},
      user.accessToken,
    );
    const result = await nullMode.graphql(
      '{ organization { id } apiKeys { id } }',
      {},
      created.data?.createApiKey.secret,
    );
    expect(result.status).toBe(403);
    expect(result.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});

describe('the same rules when the supergraph is composed from the subgraphs at start (SUPERGRAPH_SOURCE=introspect)', () => {
  let introspected: TestSupergraph;
  beforeAll(async () => {
    introspected = await startTestSupergraph({ SUPERGRAPH_SOURCE: 'introspect' });
  });
  afterAll(async () => {
    await introspected.stop();
  });

  it('serves the graph and enforces the directives it found', async () => {
    expect((await introspected.graphql('{ me { id } }')).errors).toBeUndefined();
    const anonymous = await introspected.graphql('{ organization { id } }');
    expect(anonymous.status).toBe(401);
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const user = await signUp(introspected, 'introspected');
    expect(
      (await introspected.graphql('{ organization { id } }', {}, user.accessToken)).errors,
    ).toBeUndefined();
  });
});
