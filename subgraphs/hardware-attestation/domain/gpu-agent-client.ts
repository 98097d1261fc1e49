import type { GpuState, MigInstanceState } from '../../../gpu-agent/model.ts';
import type { GpuEvidence } from './evidence.ts';

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

/** Thrown when the gpu-agent cannot answer; the caller sees INTERNAL_SERVER_ERROR, nothing is stored. */
export class GpuAgentUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'GpuAgentUnavailableError';
  }
}

export interface GpuAgentClient {
  /**
   * The GPU as the caller may see it, asked of the gpu-agent with the caller's own credential:
   * null when it is not on a node of the caller's organization (the gpu-agent scopes it).
   */
  gpu(authorization: string, uuid: string): Promise<GpuView | null>;
}

export function createGpuAgentClient(gpuAgentUrl: string): GpuAgentClient {
  return {
    async gpu(authorization, uuid) {
      let response: Response;
      try {
        response = await fetch(gpuAgentUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization },
          body: JSON.stringify({ query: gpuQuery, variables: { uuid } }),
          signal: AbortSignal.timeout(5_000),
        });
      } catch (error) {
        throw new GpuAgentUnavailableError('the gpu-agent did not answer', { cause: error });
      }
      const body = (await response.json().catch(() => null)) as {
        data?: { gpu: GpuView | null } | null;
        errors?: { message: string }[];
      } | null;
      if (!body?.data || (body.errors?.length ?? 0) > 0) {
        throw new GpuAgentUnavailableError(
          `the gpu-agent answered ${response.status}: ${body?.errors?.[0]?.message ?? 'no data'}`,
        );
      }
      return body.data.gpu;
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
