import { allow, type IRules } from 'graphql-shield';
import { hasRole, isAuthenticated } from '../../platform/auth/shield-rules.ts';

/**
 * Who may call what in the identity subgraph. Anything not listed is denied (deny fallback in
 * the subgraph server). Object types are open because every way to reach them is guarded here or
 * scoped to the caller's organization in the resolvers.
 */
export const identityPermissions: IRules = {
  Query: {
    me: allow,
    organization: isAuthenticated,
    apiKeys: hasRole('ADMIN'),
  },
  Mutation: {
    signUp: allow,
    login: allow,
    refreshToken: allow,
    logout: allow,
    acceptInvitation: allow,
    createApiKey: hasRole('ADMIN'),
    revokeApiKey: hasRole('ADMIN'),
    inviteMember: hasRole('ADMIN'),
    updateMemberRole: hasRole('ADMIN'),
  },
  User: allow,
  Organization: allow,
  Membership: allow,
  ApiKey: allow,
  CreatedApiKey: allow,
  AuthPayload: allow,
};
