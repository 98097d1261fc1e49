import { shieldRulesFromSdl } from '../../platform/auth/shield-from-schema.ts';
import type { DocumentNode } from 'graphql';

/**
 * Root fields anyone may call. Everything else on Query and Mutation is guarded by the auth
 * directives in schema.graphql (the gateway enforces the same directives from the supergraph);
 * a root field in neither place is denied by the subgraph's fallback.
 */
export const identityPublicRootFields = [
  'Query.me',
  'Mutation.signUp',
  'Mutation.login',
  'Mutation.refreshToken',
  'Mutation.logout',
  'Mutation.acceptInvitation',
];

export function identityPermissions(typeDefs: DocumentNode) {
  return shieldRulesFromSdl(typeDefs, { publicRootFields: identityPublicRootFields });
}
