import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../support/config.ts';
import {
  authPayloadFields,
  errorCode,
  newAccount,
  signUp,
  startTestSupergraph,
  type SignedUp,
  type TestSupergraph,
} from '../support/supergraph.ts';
import { decodeJwtPayload, identityDirect, refreshMutation, type AuthPayload } from './helpers.ts';

let supergraph: TestSupergraph;
let a: SignedUp;
let b: SignedUp;
beforeAll(async () => {
  supergraph = await startTestSupergraph();
  a = await signUp(supergraph, 'tenant-a');
  b = await signUp(supergraph, 'tenant-b');
});
afterAll(async () => {
  await supergraph.stop();
});

const updateRoleMutation = /* GraphQL */ `
  mutation UpdateRole($input: UpdateMemberRoleInput!) {
    updateMemberRole(input: $input) {
      role
      status
      user {
        id
        email
      }
      organization {
        id
      }
    }
  }
`;
const inviteMutation = /* GraphQL */ `
  mutation Invite($input: InviteMemberInput!) {
    inviteMember(input: $input) {
      role
      status
      invitationToken
      invitationExpiresAt
      user {
        id
        email
      }
      organization {
        id
      }
    }
  }
`;
const acceptMutation = /* GraphQL */ `
  mutation Accept($input: AcceptInvitationInput!) {
    acceptInvitation(input: $input) {
      ...AuthPayloadFields
    }
  }
  ${authPayloadFields}
`;
const entitiesQuery = /* GraphQL */ `
  query ($r: [_Any!]!) {
    _entities(representations: $r) {
      ... on Organization {
        id
        name
      }
      ... on User {
        id
        email
      }
    }
  }
`;

describe(`tenant isolation (${backends.database})`, () => {
  it("answers NOT_FOUND when B's owner changes the role of A's user", async () => {
    const result = await supergraph.graphql(
      updateRoleMutation,
      { input: { userId: a.user.id, role: 'VIEWER' } },
      b.accessToken,
    );
    expect(result.data ?? null).toBeNull();
    expect(errorCode(result)).toBe('NOT_FOUND');

    // A is still OWNER of A.
    const me = await supergraph.graphql<{ me: { memberships: { role: string }[] } }>(
      '{ me { memberships { role organization { id } } } }',
      {},
      a.accessToken,
    );
    expect(me.data?.me.memberships).toEqual([
      { role: 'OWNER', organization: { id: a.organization.id } },
    ]);
  });

  it("answers NOT_FOUND when B revokes A's API key, and leaves the key working", async () => {
    const created = await supergraph.graphql<{
      createApiKey: { secret: string; apiKey: { id: string } };
    }>(
      'mutation ($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret apiKey { id } } }',
      { input: { name: 'A key', role: 'VIEWER' } },
      a.accessToken,
    );
    expect(created.errors).toBeUndefined();
    const key = created.data!.createApiKey;

    const result = await supergraph.graphql(
      'mutation ($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }',
      { id: key.apiKey.id },
      b.accessToken,
    );
    expect(result.data ?? null).toBeNull();
    expect(errorCode(result)).toBe('NOT_FOUND');

    const still = await supergraph.graphql('{ organization { id } }', {}, key.secret);
    expect(still.errors).toBeUndefined();
    expect(still.data).toEqual({ organization: { id: a.organization.id } });
  });

  it("answers organization with the token's own organization only", async () => {
    const forA = await supergraph.graphql('{ organization { id name slug } }', {}, a.accessToken);
    const forB = await supergraph.graphql('{ organization { id name slug } }', {}, b.accessToken);
    expect(forA.errors).toBeUndefined();
    expect(forA.data).toEqual({
      organization: { id: a.organization.id, name: a.organization.name, slug: a.organization.slug },
    });
    expect(forB.data).toMatchObject({ organization: { id: b.organization.id } });

    const anonymous = await supergraph.graphql('{ organization { id } }');
    expect(errorCode(anonymous)).toBe('UNAUTHENTICATED');
  });

  it("resolves no entity of B for A's token at the identity subgraph itself", async () => {
    const foreign = await identityDirect<{ _entities: unknown[] }>(
      supergraph,
      entitiesQuery,
      {
        r: [
          { __typename: 'Organization', id: b.organization.id },
          { __typename: 'User', id: b.user.id },
        ],
      },
      a.accessToken,
    );
    expect(foreign.status).toBe(200);
    expect(foreign.errors).toBeUndefined();
    expect(foreign.data).toEqual({ _entities: [null, null] });

    // Control: the same query resolves A's own entities, so the nulls above are tenant scoping.
    const own = await identityDirect<{ _entities: unknown[] }>(
      supergraph,
      entitiesQuery,
      {
        r: [
          { __typename: 'Organization', id: a.organization.id },
          { __typename: 'User', id: a.user.id },
        ],
      },
      a.accessToken,
    );
    expect(own.errors).toBeUndefined();
    expect(own.data).toEqual({
      _entities: [
        { id: a.organization.id, name: a.organization.name },
        { id: a.user.id, email: a.email },
      ],
    });
  });

  it('answers entity fetches without a valid token with nothing', async () => {
    const representations = {
      r: [
        { __typename: 'Organization', id: b.organization.id },
        { __typename: 'User', id: b.user.id },
      ],
    };
    const garbage = await identityDirect(supergraph, entitiesQuery, representations, 'garbage');
    expect(garbage.status).toBe(401);
    expect(garbage.data ?? null).toBeNull();
    expect(errorCode(garbage)).toBe('UNAUTHENTICATED');
    expect(garbage.errors?.[0]?.message).toBe('Access token is malformed');

    // No token at all: the subgraph must also serve sign-up and login, so the request itself is
    // accepted, but no entity resolves without a principal.
    const anonymous = await identityDirect<{ _entities: unknown[] }>(
      supergraph,
      entitiesQuery,
      representations,
    );
    expect(anonymous.status).toBe(200);
    expect(anonymous.errors).toBeUndefined();
    expect(anonymous.data).toEqual({ _entities: [null, null] });
  });
});

describe(`members (${backends.database})`, () => {
  let owner: SignedUp;
  let invitedEmail: string;
  let invitedPassword: string;
  let invitedUserId: string;
  let invitation: string;
  let member: AuthPayload;

  beforeAll(async () => {
    owner = await signUp(supergraph, 'team-owner');
    const account = newAccount('x');
    invitedEmail = account.email;
    invitedPassword = account.password;
  });

  it('invites a new person as OPERATOR with a one-time invitation token', async () => {
    const result = await supergraph.graphql<{
      inviteMember: {
        role: string;
        status: string;
        invitationToken: string | null;
        invitationExpiresAt: string | null;
        user: { id: string; email: string };
        organization: { id: string };
      };
    }>(
      inviteMutation,
      { input: { email: invitedEmail.toUpperCase(), role: 'OPERATOR' } },
      owner.accessToken,
    );
    expect(result.errors).toBeUndefined();
    const membership = result.data!.inviteMember;
    expect(membership).toMatchObject({
      role: 'OPERATOR',
      status: 'INVITED',
      user: { email: invitedEmail },
      organization: { id: owner.organization.id },
    });
    expect(membership.invitationToken).toMatch(/^lbi_/);
    expect(Date.parse(membership.invitationExpiresAt!)).toBeGreaterThan(Date.now());
    invitation = membership.invitationToken!;
    invitedUserId = membership.user.id;

    // Invited is not yet a member: they cannot sign in (no password yet).
    const login = await supergraph.graphql(
      'mutation ($input: LoginInput!) { login(input: $input) { accessToken } }',
      { input: { email: invitedEmail, password: invitedPassword } },
    );
    expect(errorCode(login)).toBe('UNAUTHENTICATED');
  });

  it('accepts the invitation with a new password and signs in as OPERATOR of that org', async () => {
    const result = await supergraph.graphql<{ acceptInvitation: AuthPayload }>(acceptMutation, {
      input: { token: invitation, password: invitedPassword, displayName: 'Xavier' },
    });
    expect(result.errors).toBeUndefined();
    member = result.data!.acceptInvitation;
    expect(member.user).toEqual({ id: invitedUserId, email: invitedEmail });
    expect(member.organization.id).toBe(owner.organization.id);
    expect(decodeJwtPayload(member.accessToken)).toMatchObject({
      sub: invitedUserId,
      org: owner.organization.id,
      role: 'OPERATOR',
    });

    // The password set here works for login from now on.
    const login = await supergraph.graphql<{ login: { accessToken: string } }>(
      'mutation ($input: LoginInput!) { login(input: $input) { accessToken } }',
      { input: { email: invitedEmail, password: invitedPassword } },
    );
    expect(login.errors).toBeUndefined();
    expect(decodeJwtPayload(login.data!.login.accessToken).org).toBe(owner.organization.id);
  });

  it('does not accept the same invitation token twice', async () => {
    const result = await supergraph.graphql(acceptMutation, {
      input: { token: invitation, password: 'Another strong passphrase 42' },
    });
    expect(result.data ?? null).toBeNull();
    expect(errorCode(result)).toBe('UNAUTHENTICATED');
    expect(result.errors?.[0]?.message).toBe('Invitation is invalid or has expired');
  });

  it('does not let an OPERATOR invite members', async () => {
    const result = await supergraph.graphql(
      inviteMutation,
      { input: { email: newAccount('nope').email, role: 'VIEWER' } },
      member.accessToken,
    );
    expect(result.data ?? null).toBeNull();
    expect(errorCode(result)).toBe('FORBIDDEN');
    expect(result.errors?.[0]?.message).toMatch(/ADMIN role/);
  });

  it('keeps the only OWNER: demoting them answers CONFLICT', async () => {
    const result = await supergraph.graphql(
      updateRoleMutation,
      { input: { userId: owner.user.id, role: 'ADMIN' } },
      owner.accessToken,
    );
    expect(result.data ?? null).toBeNull();
    expect(errorCode(result)).toBe('CONFLICT');
    expect(result.errors?.[0]?.message).toMatch(/at least one OWNER/);
  });

  it('promotes the member to ADMIN; the refreshed access token carries the new role', async () => {
    const promoted = await supergraph.graphql<{
      updateMemberRole: { role: string; status: string };
    }>(updateRoleMutation, { input: { userId: invitedUserId, role: 'ADMIN' } }, owner.accessToken);
    expect(promoted.errors).toBeUndefined();
    expect(promoted.data?.updateMemberRole).toMatchObject({
      role: 'ADMIN',
      status: 'ACTIVE',
      user: { id: invitedUserId },
      organization: { id: owner.organization.id },
    });

    const refreshed = await supergraph.graphql<{ refreshToken: AuthPayload }>(refreshMutation, {
      input: { refreshToken: member.refreshToken },
    });
    expect(refreshed.errors).toBeUndefined();
    member = refreshed.data!.refreshToken;
    expect(decodeJwtPayload(member.accessToken)).toMatchObject({
      sub: invitedUserId,
      org: owner.organization.id,
      role: 'ADMIN',
    });
  });

  it('does not let an ADMIN grant OWNER or change an OWNER', async () => {
    const inviteOwner = await supergraph.graphql(
      inviteMutation,
      { input: { email: newAccount('wannabe').email, role: 'OWNER' } },
      member.accessToken,
    );
    expect(errorCode(inviteOwner)).toBe('FORBIDDEN');
    expect(inviteOwner.errors?.[0]?.message).toMatch(/OWNER/);

    const selfPromotion = await supergraph.graphql(
      updateRoleMutation,
      { input: { userId: invitedUserId, role: 'OWNER' } },
      member.accessToken,
    );
    expect(errorCode(selfPromotion)).toBe('FORBIDDEN');

    const demoteOwner = await supergraph.graphql(
      updateRoleMutation,
      { input: { userId: owner.user.id, role: 'VIEWER' } },
      member.accessToken,
    );
    expect(errorCode(demoteOwner)).toBe('FORBIDDEN');

    // An ADMIN may still invite below OWNER.
    const inviteViewer = await supergraph.graphql<{ inviteMember: { role: string } }>(
      inviteMutation,
      { input: { email: newAccount('viewer').email, role: 'VIEWER' } },
      member.accessToken,
    );
    expect(inviteViewer.errors).toBeUndefined();
    expect(inviteViewer.data?.inviteMember.role).toBe('VIEWER');
  });

  it('lists the members of the organization with roles and status', async () => {
    const result = await supergraph.graphql<{
      organization: { members: { role: string; status: string; user: { email: string } }[] };
    }>('{ organization { members { role status user { email } } } }', {}, owner.accessToken);
    expect(result.errors).toBeUndefined();
    const members = result.data!.organization.members;
    expect(members).toEqual(
      expect.arrayContaining([
        { role: 'OWNER', status: 'ACTIVE', user: { email: owner.email } },
        { role: 'ADMIN', status: 'ACTIVE', user: { email: invitedEmail } },
      ]),
    );
    // The VIEWER invited by the admin is listed as INVITED; nobody from other organizations is.
    expect(members).toHaveLength(3);
    expect(members.filter((m) => m.status === 'INVITED')).toHaveLength(1);
    expect(members.map((m) => m.user.email)).not.toContain(a.email);
  });
});
