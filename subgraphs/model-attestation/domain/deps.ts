import type { SigningKeyRing } from '../../../platform/auth/key-ring.ts';
import type { Config } from '../../../platform/config.ts';
import type { EventBus } from '../../../platform/events/index.ts';
import type { Logger } from '../../../platform/logger.ts';
import type { ObjectStore } from '../../../platform/objects/index.ts';
import type { PrismaClient } from '../../../generated/prisma/model-attestation/client.ts';
import type { ModelAttestations } from './attestations.ts';
import type { AuditChain } from './audit-chain.ts';
import type { KeysAndPolicies } from './keys-and-policies.ts';
import type { ModelService } from './models.ts';
import type { ModelAttestationPipeline } from './pipeline.ts';

/** What the model-attestation subgraph's resolvers work with. */
export interface ModelAttestationDeps {
  prisma: PrismaClient;
  config: Config;
  logger: Logger;
  events: EventBus;
  objects: ObjectStore;
  audit: AuditChain;
  models: ModelService;
  keysAndPolicies: KeysAndPolicies;
  attestations: ModelAttestations;
  pipeline: ModelAttestationPipeline;
  resultKeys: SigningKeyRing;
}

/** A file as `ModelFile` shows it. */
export interface ModelFileView {
  path: string;
  sizeBytes: number;
  sha256: string;
}
