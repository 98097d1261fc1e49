import type { DocumentNode } from 'graphql';
import { shieldRulesFromSdl } from '../../platform/auth/shield-from-schema.ts';

/** Every model-attestation field needs a signed-in caller with the role its directive names. */
export const modelAttestationPublicRootFields: string[] = [];

export function modelAttestationPermissions(typeDefs: DocumentNode) {
  return shieldRulesFromSdl(typeDefs, { publicRootFields: modelAttestationPublicRootFields });
}
