import type { Config } from '../../../platform/config.ts';
import type { Logger } from '../../../platform/logger.ts';
import type { PrismaClient } from '../../../generated/prisma/resources/client.ts';
import type { AllocationService } from './allocations.ts';
import type { QuotaService } from './quotas.ts';
import type { UsageMeter } from './usage.ts';

/** What the resources subgraph's resolvers and routes work with. */
export interface ResourcesDeps {
  prisma: PrismaClient;
  config: Config;
  logger: Logger;
  quotas: QuotaService;
  allocations: AllocationService;
  usage: UsageMeter;
}

/** Entity references the resources subgraph hands the gateway to resolve elsewhere. */
export interface OrganizationRef {
  id: string;
}
export interface GpuNodeRef {
  id: string;
}
export interface GpuRef {
  uuid: string;
}
