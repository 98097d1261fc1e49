import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../support/config.ts';
import {
  errorCode,
  signUp,
  startTestSupergraph,
  type GraphQLResponse,
  type SignedUp,
  type TestSupergraph,
} from '../support/supergraph.ts';
import { gatewayWithAuthorization } from './helpers.ts';

let supergraph: TestSupergraph;
let owner: SignedUp;
beforeAll(async () => {
  supergraph = await startTestSupergraph();
  owner = await signUp(supergraph, 'keys');
});
afterAll(async () => {
  await supergraph.stop();
});

const createKeyMutation = /* GraphQL */ `
  mutation CreateKey($input: CreateApiKeyInput!) {
    createApiKey(input: $input) {
      secret
      apiKey {
        id
        name
        role
        prefix
        createdAt
        lastUsedAt
        expiresAt
        revokedAt
      }
    }
  }
`;
const revokeKeyMutation = /* GraphQL */ `
  mutation RevokeKey($id: ID!) {
    revokeApiKey(id: $id) {
      id
      revokedAt
    }
  }
`;
const listKeysQuery = /* GraphQL */ `
  {
    apiKeys {
      id
      name
      role
      prefix
      lastUsedAt
      revokedAt
    }
  }
`;
const whoAmIQuery = /* GraphQL */ `
  {
    me {
      id
    }
    organization {
      id
      name
    }
  }
`;

interface CreatedKey {
  secret: string;
  apiKey: {
    id: string;
    name: string;
    role: string;
    prefix: string;
    createdAt: string;
    lastUsedAt: string | null;
    expiresAt: string | null;
    revokedAt: string | null;
  };
}

async function createKey(token: string, role: string, name = `${role} key`): Promise<CreatedKey> {
  const result = await supergraph.graphql<{ createApiKey: CreatedKey }>(
    createKeyMutation,
    { input: { name, role } },
    token,
  );
  expect(result.errors).toBeUndefined();
  return result.data!.createApiKey;
}

function expectUnauthenticatedAtGateway(result: GraphQLResponse<unknown>, message: RegExp): void {
  expect(result.status).toBe(401);
  expect(result.data ?? null).toBeNull();
  expect(errorCode(result)).toBe('UNAUTHENTICATED');
  expect(result.errors?.[0]?.message).toMatch(message);
}

describe(`API keys through the gateway (${backends.database}, ${backends.events})`, () => {
  let operatorKey: CreatedKey;

  it('lets an OWNER create an OPERATOR key whose secret is shown once', async () => {
    operatorKey = await createKey(owner.accessToken, 'OPERATOR', 'CI pipeline');
    expect(operatorKey.secret).toMatch(/^lb_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    expect(operatorKey.secret.startsWith(`lb_${operatorKey.apiKey.prefix}_`)).toBe(true);
    expect(operatorKey.apiKey).toMatchObject({
      name: 'CI pipeline',
      role: 'OPERATOR',
      lastUsedAt: null,
      expiresAt: null,
      revokedAt: null,
    });
  });

  it('acts for its organization: organization is readable and me is null', async () => {
    const result = await supergraph.graphql(whoAmIQuery, {}, operatorKey.secret);
    expect(result.status).toBe(200);
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({
      me: null,
      organization: { id: owner.organization.id, name: owner.organization.name },
    });
  });

  it('stores only a hash of the secret', async () => {
    const row = await supergraph.identity.deps.prisma.apiKey.findFirst({
      where: { id: operatorKey.apiKey.id },
    });
    expect(row).not.toBeNull();
    const secretPart = operatorKey.secret.slice(`lb_${operatorKey.apiKey.prefix}_`.length);
    expect(row!.secretHash).not.toBe(operatorKey.secret);
    expect(row!.secretHash).not.toBe(secretPart);
    expect(row!.secretHash).toMatch(/^[0-9a-f]{64}$/);
    const stored = JSON.stringify(row);
    expect(stored).not.toContain(operatorKey.secret);
    expect(stored).not.toContain(secretPart);
    expect(stored).not.toContain(Buffer.from(secretPart, 'base64url').toString('hex'));
  });

  it('lists the key, with lastUsedAt set once it was used, and never its secret', async () => {
    const listed = await supergraph.graphql<{
      apiKeys: { id: string; role: string; prefix: string; lastUsedAt: string | null }[];
    }>(listKeysQuery, {}, owner.accessToken);
    expect(listed.errors).toBeUndefined();
    const entry = listed.data!.apiKeys.find((k) => k.id === operatorKey.apiKey.id);
    expect(entry).toMatchObject({ role: 'OPERATOR', prefix: operatorKey.apiKey.prefix });
    expect(entry!.lastUsedAt).not.toBeNull();
    expect(Number.isNaN(Date.parse(entry!.lastUsedAt!))).toBe(false);
    expect(JSON.stringify(listed.data)).not.toContain(operatorKey.secret);

    // The schema has no way to ask for it again.
    const asking = await supergraph.graphql('{ apiKeys { id secret } }', {}, owner.accessToken);
    expect(errorCode(asking)).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('does not let an OPERATOR key list keys', async () => {
    const result = await supergraph.graphql(listKeysQuery, {}, operatorKey.secret);
    expect(errorCode(result)).toBe('FORBIDDEN');
    expect(result.errors?.[0]?.message).toMatch(/ADMIN/);
  });

  it('does not let a VIEWER key create keys, and names the role needed', async () => {
    const viewer = await createKey(owner.accessToken, 'VIEWER');
    const result = await supergraph.graphql(
      createKeyMutation,
      { input: { name: 'escalation', role: 'VIEWER' } },
      viewer.secret,
    );
    expect(result.data ?? null).toBeNull();
    expect(errorCode(result)).toBe('FORBIDDEN');
    expect(result.errors?.[0]?.message).toMatch(/ADMIN role/);
  });

  it('does not let an ADMIN create an OWNER key', async () => {
    const admin = await createKey(owner.accessToken, 'ADMIN');
    const result = await supergraph.graphql(
      createKeyMutation,
      { input: { name: 'escalation', role: 'OWNER' } },
      admin.secret,
    );
    expect(result.data ?? null).toBeNull();
    expect(errorCode(result)).toBe('FORBIDDEN');
    expect(result.errors?.[0]?.message).toMatch(/OWNER/);

    // At or below its own role it may.
    const lesser = await createKey(admin.secret, 'OPERATOR', 'made by an admin key');
    expect(lesser.apiKey.role).toBe('OPERATOR');
  });

  it('cuts a revoked key off at the very next request', async () => {
    const key = await createKey(owner.accessToken, 'OPERATOR', 'to be revoked');
    // Used once, so the gateway holds an exchanged token for it.
    const before = await supergraph.graphql(whoAmIQuery, {}, key.secret);
    expect(before.errors).toBeUndefined();

    const revoked = await supergraph.graphql<{ revokeApiKey: { id: string; revokedAt: string } }>(
      revokeKeyMutation,
      { id: key.apiKey.id },
      owner.accessToken,
    );
    expect(revoked.errors).toBeUndefined();
    expect(revoked.data?.revokeApiKey.id).toBe(key.apiKey.id);
    expect(revoked.data?.revokeApiKey.revokedAt).not.toBeNull();

    const after = await supergraph.graphql(whoAmIQuery, {}, key.secret);
    expectUnauthenticatedAtGateway(after, /revoked/);

    // The other keys keep working.
    const other = await supergraph.graphql(whoAmIQuery, {}, operatorKey.secret);
    expect(other.errors).toBeUndefined();
  });

  it('rejects malformed and unknown keys', async () => {
    expectUnauthenticatedAtGateway(
      await gatewayWithAuthorization(supergraph, whoAmIQuery, 'Bearer lb_garbage'),
      /^API key is malformed$/,
    );
    // Well-formed, real prefix, wrong secret.
    const forged = `lb_${operatorKey.apiKey.prefix}_${'A'.repeat(43)}`;
    expectUnauthenticatedAtGateway(
      await gatewayWithAuthorization(supergraph, whoAmIQuery, `Bearer ${forged}`),
      /^API key is invalid$/,
    );
  });

  it("answers NOT_FOUND when revoking another organization's key", async () => {
    const other = await signUp(supergraph, 'other-keys');
    const theirs = await createKey(other.accessToken, 'VIEWER', 'theirs');

    for (const id of [theirs.apiKey.id, 'not-a-uuid']) {
      const result = await supergraph.graphql(revokeKeyMutation, { id }, owner.accessToken);
      expect(result.data ?? null).toBeNull();
      expect(errorCode(result)).toBe('NOT_FOUND');
    }
    // Their key is untouched and still works.
    const stillWorks = await supergraph.graphql(whoAmIQuery, {}, theirs.secret);
    expect(stillWorks.errors).toBeUndefined();
    expect(stillWorks.data).toMatchObject({ organization: { id: other.organization.id } });
  });
});
