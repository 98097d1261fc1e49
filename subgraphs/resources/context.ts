import type { BaseContext } from '../../platform/subgraph-server.ts';
import type { ResourcesDeps } from './domain/deps.ts';

export interface ResourcesContext extends BaseContext {
  deps: ResourcesDeps;
}
