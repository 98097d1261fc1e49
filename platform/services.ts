import type { Runtime } from './runtime.ts';
import type { RunningService } from './subgraph-server.ts';
import { startIdentity } from '../subgraphs/identity/index.ts';
import { identityPublicRootFields } from '../subgraphs/identity/permissions.ts';
import { startGpuAgent } from '../gpu-agent/subgraph/index.ts';
import { gpuAgentPublicRootFields } from '../gpu-agent/subgraph/permissions.ts';
import { startHardwareAttestation } from '../subgraphs/hardware-attestation/index.ts';
import { hardwareAttestationPublicRootFields } from '../subgraphs/hardware-attestation/permissions.ts';
import { startResources } from '../subgraphs/resources/index.ts';
import { resourcesPublicRootFields } from '../subgraphs/resources/permissions.ts';
import { startModelAttestation } from '../subgraphs/model-attestation/index.ts';
import { modelAttestationPublicRootFields } from '../subgraphs/model-attestation/permissions.ts';
import { startDocuments } from '../subgraphs/documents/index.ts';
import { documentsPublicRootFields } from '../subgraphs/documents/permissions.ts';

/** What a subgraph needs to know of the others when it starts. */
export interface Peers {
  /** identity's /graphql URL: its key set verifies tokens, its exchange turns API keys into tokens. */
  identityUrl: string;
  /** gpu-agent's /graphql URL: hardware attestation reads GPU state, resources the MIG layout. */
  gpuAgentUrl: string;
  /** resources' /graphql URL: consumers reserve quota from the same origin (`/quota/…`). */
  resourcesUrl: string;
  /** hardware-attestation's /graphql URL: documents reads an attestation to regenerate its report. */
  hardwareAttestationUrl: string;
  /** model-attestation's /graphql URL: documents reads a model attestation for the same reason. */
  modelAttestationUrl: string;
}

/** A subgraph this build can run, with the port it takes when run alone. */
export interface SubgraphModule {
  name: string;
  defaultPort: number;
  /** Root fields served without an auth directive; checked against the SDL by a test. */
  publicRootFields: string[];
  start(
    runtime: Runtime,
    listen: { host: string; port: number },
    peers: Peers,
  ): Promise<RunningService>;
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
    start: (runtime, listen) => startIdentity(runtime, listen),
  },
  {
    name: 'gpu-agent',
    defaultPort: 4006,
    publicRootFields: gpuAgentPublicRootFields,
    start: startGpuAgent,
  },
  {
    name: 'resources',
    defaultPort: 4005,
    publicRootFields: resourcesPublicRootFields,
    start: startResources,
  },
  {
    name: 'hardware-attestation',
    defaultPort: 4002,
    publicRootFields: hardwareAttestationPublicRootFields,
    start: startHardwareAttestation,
  },
  {
    name: 'model-attestation',
    defaultPort: 4003,
    publicRootFields: modelAttestationPublicRootFields,
    start: startModelAttestation,
  },
  {
    name: 'documents',
    defaultPort: 4004,
    publicRootFields: documentsPublicRootFields,
    start: startDocuments,
  },
];

export const gatewayDefaultPort = 4000;

/** identity's URL for a service started alone: SUBGRAPH_IDENTITY_URL, else its default port. */
export function standaloneIdentityUrl(configured: string | undefined): string {
  return configured ?? 'http://localhost:4001/graphql';
}

/** The peers of a service started alone: SUBGRAPH_<NAME>_URL, else each one's default port. */
export function standalonePeers(config: {
  SUBGRAPH_IDENTITY_URL?: string;
  SUBGRAPH_GPU_AGENT_URL?: string;
  SUBGRAPH_RESOURCES_URL?: string;
  SUBGRAPH_HARDWARE_ATTESTATION_URL?: string;
  SUBGRAPH_MODEL_ATTESTATION_URL?: string;
}): Peers {
  return {
    identityUrl: standaloneIdentityUrl(config.SUBGRAPH_IDENTITY_URL),
    gpuAgentUrl: config.SUBGRAPH_GPU_AGENT_URL ?? 'http://localhost:4006/graphql',
    resourcesUrl: config.SUBGRAPH_RESOURCES_URL ?? 'http://localhost:4005/graphql',
    hardwareAttestationUrl:
      config.SUBGRAPH_HARDWARE_ATTESTATION_URL ?? 'http://localhost:4002/graphql',
    modelAttestationUrl: config.SUBGRAPH_MODEL_ATTESTATION_URL ?? 'http://localhost:4003/graphql',
  };
}
