import type { BaseContext } from '../../platform/subgraph-server.ts';
import type { HardwareAttestationDeps } from './domain/deps.ts';

export interface HardwareAttestationContext extends BaseContext {
  deps: HardwareAttestationDeps;
}
