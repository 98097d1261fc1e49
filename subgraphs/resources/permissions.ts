import type { DocumentNode } from 'graphql';
import { shieldRulesFromSdl } from '../../platform/auth/shield-from-schema.ts';

/** Every resources field needs a signed-in caller with the role its directive names. */
export const resourcesPublicRootFields: string[] = [];

export function resourcesPermissions(typeDefs: DocumentNode) {
  return shieldRulesFromSdl(typeDefs, { publicRootFields: resourcesPublicRootFields });
}
