import type { GpuState, MigInstanceState } from '../../../gpu-agent/model.ts';
import type { GpuEvidence } from './evidence.ts';
import { queryPeer } from '../../../platform/graphql/peer-query.ts';

/** A GPU as the gpu-agent serves it, with the node fields evidence needs. */
export type GpuView = Pick<
  GpuState,
  | 'uuid'
  | 'index'
  | 'name'
  | 'serial'
  | 'vbiosVersion'
  | 'pciBusId'
  | 'architecture'
  | 'memoryTotalMiB'
  | 'eccEnabled'
  | 'eccErrors'
  | 'retiredPages'
  | 'remappedRows'
  | 'migMode'
  | 'confidentialComputeMode'
> & {
  migInstances: Pick<MigInstanceState, 'gpuInstanceId' | 'profile' | 'memoryMiB'>[];
  confidentialComputeReady: boolean | null;
  node: {
    id: string;
    hostname: string;
    driverVersion: string | null;
    cudaVersion: string | null;
    lastSeenAt: string;
  };
};

const gpuQuery = /* GraphQL */ `
  query AttestationEvidence($uuid: ID!) {
    gpu(uuid: $uuid) {
      uuid
      index
      name
      serial
      vbiosVersion
      pciBusId
      architecture
      memoryTotalMiB
      eccEnabled
      eccErrors {
        volatileCorrected
        volatileUncorrected
        aggregateCorrected
        aggregateUncorrected
      }
      retiredPages {
        singleBit
        doubleBit
        pending
      }
      remappedRows {
        correctable
        uncorrectable
        pending
        failure
      }
      migMode {
        current
        pending
      }
      migInstances {
        gpuInstanceId
        profile
        memoryMiB
      }
      confidentialComputeMode
      confidentialComputeReady
      node {
        id
        hostname
        driverVersion
        cudaVersion
        lastSeenAt
      }
    }
  }
`;

export interface GpuAgentClient {
  /**
   * The GPU as the caller may see it, asked of the gpu-agent with the caller's own credential:
   * null when it is not on a node of the caller's organization (the gpu-agent scopes it). Throws
   * PeerUnavailableError when the gpu-agent cannot answer (the caller sees INTERNAL_SERVER_ERROR,
   * nothing is stored).
   */
  gpu(authorization: string, uuid: string): Promise<GpuView | null>;
}

export function createGpuAgentClient(gpuAgentUrl: string): GpuAgentClient {
  return {
    async gpu(authorization, uuid) {
      const data = await queryPeer<{ gpu: GpuView | null }>(
        gpuAgentUrl,
        authorization,
        gpuQuery,
        { uuid },
        { peer: 'gpu-agent' },
      );
      return data.gpu;
    },
  };
}

/** Evidence from the gpu-agent's view of a GPU, bound to `nonce`. */
export function evidenceFromGpu(gpu: GpuView, nonce: string): GpuEvidence {
  const { node, ...state } = gpu;
  return {
    nonce,
    collectedAt: node.lastSeenAt,
    node: {
      id: node.id,
      hostname: node.hostname,
      driverVersion: node.driverVersion,
      cudaVersion: node.cudaVersion,
    },
    gpu: { ...state, pciDeviceId: null },
  };
}
