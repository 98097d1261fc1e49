import type { Principal } from '../../platform/auth/principal.ts';
import { forbidden } from '../../platform/errors.ts';
import { DateTimeScalar } from '../../platform/graphql/scalars.ts';
import type { Resolvers } from '../../generated/graphql/identity/resolvers-types.ts';
import { acceptInvitation, login, signUp } from './domain/accounts.ts';
import { createApiKey, listApiKeys, revokeApiKey } from './domain/api-keys.ts';
import { inviteMember, updateMemberRole } from './domain/members.ts';
import { logout, rotateRefreshToken } from './domain/sessions.ts';
import { isUuid } from './domain/validation.ts';
import type { IdentityContext } from './context.ts';

/** The principal, which graphql-shield has already required for every resolver that calls this. */
function caller(ctx: IdentityContext): Principal {
  if (!ctx.principal) throw new Error('resolver reached without a principal; check permissions.ts');
  return ctx.principal;
}

/** Foreign keys guarantee these rows; a miss is a bug worth an internal error, not a null. */
function existing<T>(row: T | null, what: string, id: string): T {
  if (!row) throw new Error(`${what} ${id} referenced by a membership does not exist`);
  return row;
}

export const identityResolvers: Resolvers = {
  DateTime: DateTimeScalar,
  Query: {
    me: (_parent, _args, ctx) =>
      ctx.principal?.userId ? ctx.loaders.user.load(ctx.principal.userId) : null,
    organization: (_parent, _args, ctx) =>
      ctx.loaders.organization.load(caller(ctx).organizationId),
    apiKeys: (_parent, _args, ctx) => listApiKeys(ctx.deps, caller(ctx)),
  },
  Mutation: {
    signUp: (_parent, { input }, ctx) => signUp(ctx.deps, ctx.throttle, input, ctx.ip),
    login: (_parent, { input }, ctx) => login(ctx.deps, ctx.throttle, input, ctx.ip),
    refreshToken: (_parent, { input }, ctx) => rotateRefreshToken(ctx.deps, input.refreshToken),
    logout: (_parent, { input }, ctx) => logout(ctx.deps, input.refreshToken),
    acceptInvitation: (_parent, { input }, ctx) =>
      acceptInvitation(ctx.deps, ctx.throttle, input, ctx.ip),
    createApiKey: (_parent, { input }, ctx) => createApiKey(ctx.deps, caller(ctx), input),
    revokeApiKey: (_parent, { id }, ctx) => revokeApiKey(ctx.deps, caller(ctx), id),
    inviteMember: (_parent, { input }, ctx) => inviteMember(ctx.deps, caller(ctx), input),
    updateMemberRole: (_parent, { input }, ctx) => updateMemberRole(ctx.deps, caller(ctx), input),
  },
  User: {
    // Another subgraph may reference any user id; only the caller and members of the caller's
    // organization resolve, everyone else is null (as if it did not exist).
    __resolveReference: async (ref, ctx) => {
      const principal = ctx.principal;
      if (!principal || !isUuid(ref.id)) return null;
      if (ref.id === principal.userId) return ctx.loaders.user.load(ref.id);
      const membership = await ctx.deps.prisma.membership.findUnique({
        where: {
          userId_organizationId: { userId: ref.id, organizationId: principal.organizationId },
        },
      });
      return membership ? ctx.loaders.user.load(ref.id) : null;
    },
    memberships: (user, _args, ctx) => {
      const principal = ctx.principal;
      if (!principal) return [];
      const own = user.id === principal.userId;
      return ctx.deps.prisma.membership.findMany({
        where: own
          ? { userId: user.id }
          : { userId: user.id, organizationId: principal.organizationId },
        orderBy: { createdAt: 'asc' },
      });
    },
  },
  Organization: {
    __resolveReference: (ref, ctx) =>
      ctx.principal && ref.id === ctx.principal.organizationId
        ? ctx.loaders.organization.load(ref.id)
        : null,
    members: (organization, _args, ctx) => {
      if (organization.id !== ctx.principal?.organizationId) {
        throw forbidden(
          'Members of another organization are not visible with this token; sign in to that organization',
        );
      }
      return ctx.deps.prisma.membership.findMany({
        where: { organizationId: organization.id },
        orderBy: { createdAt: 'asc' },
      });
    },
  },
  Membership: {
    user: async (m, _args, ctx) =>
      existing(await ctx.loaders.user.load(m.userId), 'user', m.userId),
    organization: async (m, _args, ctx) =>
      existing(
        await ctx.loaders.organization.load(m.organizationId),
        'organization',
        m.organizationId,
      ),
    status: (m) => (m.acceptedAt ? 'ACTIVE' : 'INVITED'),
    invitationToken: (m) => m.invitationToken ?? null,
    invitationExpiresAt: (m) => (m.acceptedAt ? null : m.inviteExpiresAt),
  },
};
