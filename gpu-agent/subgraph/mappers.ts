import type { NodeRecord } from '../fleet/fleet-state.ts';
import type { GpuState } from '../model.ts';

/** A GPU as resolvers pass it on: its reported state plus the node it is in. */
export type GpuParent = GpuState & { node: NodeRecord };

export function gpuParent(node: NodeRecord, gpu: GpuState): GpuParent {
  return { ...gpu, node };
}
