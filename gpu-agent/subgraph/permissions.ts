import type { DocumentNode } from 'graphql';
import { shieldRulesFromSdl } from '../../platform/auth/shield-from-schema.ts';

/** Every gpu-agent root field carries an auth directive: none is public. */
export const gpuAgentPublicRootFields: string[] = [];

export function gpuAgentPermissions(typeDefs: DocumentNode) {
  return shieldRulesFromSdl(typeDefs, { publicRootFields: gpuAgentPublicRootFields });
}
