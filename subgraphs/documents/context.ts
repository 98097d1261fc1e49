import type { BaseContext } from '../../platform/subgraph-server.ts';
import type { DocumentsDeps } from './domain/deps.ts';

export interface DocumentsContext extends BaseContext {
  deps: DocumentsDeps;
}
