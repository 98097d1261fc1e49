import { queryPeer } from '../../../platform/graphql/peer-query.ts';
import { modelForProductName, type GpuCapacity } from './placement.ts';

/** The gpu-agent fields placement needs: nodes, GPUs, MIG mode and the live instance layout. */
export const fleetQuery = /* GraphQL */ `
  query AllocationFleet {
    gpuNodes {
      id
      hostname
      online
      gpus {
        uuid
        index
        name
        migMode {
          current
        }
        migInstances {
          gpuInstanceId
          profile
          placementStart
          placementSize
        }
      }
    }
  }
`;

/** The gpu-agent's answer to `fleetQuery`. */
export interface FleetAnswer {
  gpuNodes: {
    id: string;
    hostname: string;
    online: boolean;
    gpus: {
      uuid: string;
      index: number;
      name: string;
      migMode: { current: boolean };
      migInstances: {
        gpuInstanceId: number;
        profile: string;
        placementStart: number | null;
        placementSize: number | null;
      }[];
    }[];
  }[];
}

/** The organization's GPUs as placement sees them, before bookings are laid on. */
export interface FleetSource {
  capacity(organizationId: string, authorization: string): Promise<GpuCapacity[]>;
}

/**
 * Reads the live MIG layout from the gpu-agent with the caller's credential (so the gpu-agent
 * scopes it to the caller's organization). A burst of allocation requests shares one read per
 * organization for `maxAgeMs`: the layout changes on MIG commands, not per request, and the
 * booking itself is checked against the database, never against this snapshot.
 */
export function gpuAgentFleet(gpuAgentUrl: string, maxAgeMs = 1_000): FleetSource {
  const cache = new Map<string, { at: number; fleet: Promise<GpuCapacity[]> }>();
  return {
    capacity(organizationId, authorization) {
      const cached = cache.get(organizationId);
      if (cached && Date.now() - cached.at < maxAgeMs) return cached.fleet;
      const fleet = queryPeer<FleetAnswer>(
        gpuAgentUrl,
        authorization,
        fleetQuery,
        {},
        {
          peer: 'gpu-agent',
        },
      ).then(toCapacity);
      cache.set(organizationId, { at: Date.now(), fleet });
      // A failed read is not cached: the next request asks again.
      fleet.catch(() => cache.delete(organizationId));
      return fleet;
    },
  };
}

/** The answer as placement input, one entry per GPU, nothing booked yet. */
export function toCapacity(answer: FleetAnswer): GpuCapacity[] {
  return answer.gpuNodes.flatMap((node) =>
    node.gpus.map((gpu) => ({
      nodeId: node.id,
      hostname: node.hostname,
      gpuUuid: gpu.uuid,
      index: gpu.index,
      model: modelForProductName(gpu.name),
      online: node.online,
      migEnabled: gpu.migMode.current,
      instances: gpu.migInstances
        .filter((i) => i.placementStart !== null && i.placementSize !== null)
        .map((i) => ({
          gpuInstanceId: i.gpuInstanceId,
          profile: i.profile,
          start: i.placementStart ?? 0,
          size: i.placementSize ?? 0,
        })),
      booked: [],
    })),
  );
}
