import type { DocumentNode } from 'graphql';
import { shieldRulesFromSdl } from '../../platform/auth/shield-from-schema.ts';

/** Every documents field needs a signed-in caller with the role its directive names. */
export const documentsPublicRootFields: string[] = [];

export function documentsPermissions(typeDefs: DocumentNode) {
  return shieldRulesFromSdl(typeDefs, { publicRootFields: documentsPublicRootFields });
}
