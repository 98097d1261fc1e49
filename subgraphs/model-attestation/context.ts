import type { BaseContext } from '../../platform/subgraph-server.ts';
import type { ModelAttestationDeps } from './domain/deps.ts';

export interface ModelAttestationContext extends BaseContext {
  deps: ModelAttestationDeps;
}
