import type { Runtime } from './runtime.ts';
import type { RunningService } from './subgraph-server.ts';
import { startIdentity } from '../subgraphs/identity/index.ts';
import { identityPublicRootFields } from '../subgraphs/identity/permissions.ts';

/** A subgraph this build can run, with the port it takes when run alone. */
export interface SubgraphModule {
  name: string;
  defaultPort: number;
  /** Root fields served without an auth directive; checked against the SDL by a test. */
  publicRootFields: string[];
  start(runtime: Runtime, listen: { host: string; port: number }): Promise<RunningService>;
}

/**
 * Every subgraph that exists, in start order (identity first: the others verify tokens against
 * its key set). Must match schema/supergraph.yaml; a test checks it.
 */
export const subgraphModules: SubgraphModule[] = [
  {
    name: 'identity',
    defaultPort: 4001,
    publicRootFields: identityPublicRootFields,
    start: startIdentity,
  },
];

export const gatewayDefaultPort = 4000;
