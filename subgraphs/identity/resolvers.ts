import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import type { Principal } from '../../platform/auth/principal.ts';
import type { Role } from '../../platform/auth/roles.ts';
import { forbidden } from '../../platform/errors.ts';
import { DateTimeScalar } from '../../platform/graphql/scalars.ts';
import type { Membership, Organization, User } from '../../generated/prisma/identity/client.ts';
import { acceptInvitation, login, signUp } from './domain/accounts.ts';
import { createApiKey, listApiKeys, revokeApiKey } from './domain/api-keys.ts';
import { inviteMember, updateMemberRole, type MembershipWithInvite } from './domain/members.ts';
import { logout, rotateRefreshToken } from './domain/sessions.ts';
import { isUuid } from './domain/validation.ts';
import type { IdentityContext } from './context.ts';

type Args<T> = { input: T };

/** The principal, which graphql-shield has already required for every resolver that calls this. */
function caller(ctx: IdentityContext): Principal {
  if (!ctx.principal) throw new Error('resolver reached without a principal; check permissions.ts');
  return ctx.principal;
}

export const identityResolvers: GraphQLResolverMap<IdentityContext> = {
  DateTime: DateTimeScalar,
  Query: {
    me: (_parent, _args, ctx) => (ctx.principal?.userId ? ctx.loaders.user.load(ctx.principal.userId) : null),
    organization: (_parent, _args, ctx) => ctx.loaders.organization.load(caller(ctx).organizationId),
    apiKeys: (_parent, _args, ctx) => listApiKeys(ctx.deps, caller(ctx)),
  },
  Mutation: {
    signUp: (_parent, { input }: Args<Parameters<typeof signUp>[2]>, ctx) => signUp(ctx.deps, ctx.throttle, input, ctx.ip),
    login: (_parent, { input }: Args<Parameters<typeof login>[2]>, ctx) => login(ctx.deps, ctx.throttle, input, ctx.ip),
    refreshToken: (_parent, { input }: Args<{ refreshToken: string }>, ctx) => rotateRefreshToken(ctx.deps, input.refreshToken),
    logout: (_parent, { input }: Args<{ refreshToken: string }>, ctx) => logout(ctx.deps, input.refreshToken),
    acceptInvitation: (_parent, { input }: Args<Parameters<typeof acceptInvitation>[2]>, ctx) =>
      acceptInvitation(ctx.deps, ctx.throttle, input, ctx.ip),
    createApiKey: (_parent, { input }: Args<{ name: string; role: Role; expiresAt?: Date | null }>, ctx) =>
      createApiKey(ctx.deps, caller(ctx), input),
    revokeApiKey: (_parent, { id }: { id: string }, ctx) => revokeApiKey(ctx.deps, caller(ctx), id),
    inviteMember: (_parent, { input }: Args<{ email: string; role: Role }>, ctx) => inviteMember(ctx.deps, caller(ctx), input),
    updateMemberRole: (_parent, { input }: Args<{ userId: string; role: Role }>, ctx) =>
      updateMemberRole(ctx.deps, caller(ctx), input),
  },
  User: {
    // Another subgraph may reference any user id; only the caller and members of the caller's
    // organization resolve, everyone else is null (as if it did not exist).
    __resolveReference: async (ref: { id: string }, ctx: IdentityContext) => {
      const principal = ctx.principal;
      if (!principal || !isUuid(ref.id)) return null;
      if (ref.id === principal.userId) return ctx.loaders.user.load(ref.id);
      const membership = await ctx.deps.prisma.membership.findUnique({
        where: { userId_organizationId: { userId: ref.id, organizationId: principal.organizationId } },
      });
      return membership ? ctx.loaders.user.load(ref.id) : null;
    },
    memberships: (user: User, _args, ctx) => {
      const principal = ctx.principal;
      if (!principal) return [];
      const own = user.id === principal.userId;
      return ctx.deps.prisma.membership.findMany({
        where: own ? { userId: user.id } : { userId: user.id, organizationId: principal.organizationId },
        orderBy: { createdAt: 'asc' },
      });
    },
  },
  Organization: {
    __resolveReference: (ref: { id: string }, ctx: IdentityContext) =>
      ctx.principal && ref.id === ctx.principal.organizationId ? ctx.loaders.organization.load(ref.id) : null,
    members: (organization: Organization, _args, ctx) => {
      if (organization.id !== ctx.principal?.organizationId) {
        throw forbidden('Members of another organization are not visible with this token; sign in to that organization');
      }
      return ctx.deps.prisma.membership.findMany({ where: { organizationId: organization.id }, orderBy: { createdAt: 'asc' } });
    },
  },
  Membership: {
    user: (m: Membership, _args, ctx) => ctx.loaders.user.load(m.userId),
    organization: (m: Membership, _args, ctx) => ctx.loaders.organization.load(m.organizationId),
    status: (m: Membership) => (m.acceptedAt ? 'ACTIVE' : 'INVITED'),
    invitationToken: (m: MembershipWithInvite) => m.invitationToken ?? null,
    invitationExpiresAt: (m: Membership) => (m.acceptedAt ? null : m.inviteExpiresAt),
  },
};
