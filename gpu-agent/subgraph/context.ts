import type { Config } from '../../platform/config.ts';
import type { BaseContext } from '../../platform/subgraph-server.ts';
import type { FleetState } from '../fleet/fleet-state.ts';
import type { MigCommandQueue } from '../fleet/mig-commands.ts';
import type { PrismaClient } from '../../generated/prisma/gpu-agent/client.ts';

export interface GpuAgentDeps {
  prisma: PrismaClient;
  fleet: FleetState;
  commands: MigCommandQueue;
  config: Config;
}

export interface GpuAgentContext extends BaseContext {
  deps: GpuAgentDeps;
}
