import type { SigningKeyRing } from '../../../platform/auth/key-ring.ts';
import type { Config } from '../../../platform/config.ts';
import type { EventBus } from '../../../platform/events/index.ts';
import type { Logger } from '../../../platform/logger.ts';
import type { QuotaClient } from '../../../platform/quota/client.ts';
import type { ObjectStore } from '../../../platform/objects/index.ts';
import type { PrismaClient } from '../../../generated/prisma/hardware-attestation/client.ts';
import type { GpuAgentClient } from './gpu-agent-client.ts';
import type { ObservedGpu } from './gpu-monitor.ts';
import type { NrasVerifierOptions } from './nras.ts';
import type { Outbox } from './outbox.ts';

/** What the hardware-attestation domain works with; one per service instance. */
export interface HardwareAttestationDeps {
  prisma: PrismaClient;
  config: Config;
  logger: Logger;
  events: EventBus;
  objects: ObjectStore;
  /** Signs attestation results (EAR); its public keys are served at /.well-known/jwks.json. */
  resultKeys: SigningKeyRing;
  gpus: GpuAgentClient;
  /** Asks the resources subgraph for attestation quota (per day, concurrent) before accepting. */
  quotas: QuotaClient;
  /** The GPU as the event bus last reported it, when fresh (saves asking the gpu-agent). */
  observedGpu: (organizationId: string, gpuUuid: string) => ObservedGpu | null;
  nras: NrasVerifierOptions;
  outbox: Outbox;
  /** Tells this replica's workers that a job is waiting (others find it on their next poll). */
  wakeWorkers: () => void;
}
