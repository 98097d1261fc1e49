import type { DocumentNode } from 'graphql';
import { shieldRulesFromSdl } from '../../platform/auth/shield-from-schema.ts';

/**
 * `verifyAttestationResult` is public on purpose: a relying party checks a result without an
 * account (it could equally check it offline against the published key set).
 */
export const hardwareAttestationPublicRootFields: string[] = ['Query.verifyAttestationResult'];

export function hardwareAttestationPermissions(typeDefs: DocumentNode) {
  return shieldRulesFromSdl(typeDefs, { publicRootFields: hardwareAttestationPublicRootFields });
}
