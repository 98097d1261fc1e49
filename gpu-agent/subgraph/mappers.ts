import type { NodeRecord } from '../fleet/fleet-state.ts';
import type { GpuState } from '../model.ts';

/** A GPU as resolvers pass it on: its reported state plus the node it is in. */
export type GpuParent = GpuState & { node: NodeRecord };

export function gpuParent(node: NodeRecord, gpu: GpuState): GpuParent {
  return { ...gpu, node };
}

// A record is replaced, never changed, when its node reports again, so its GPUs' parents can be
// built once per report instead of once per request (an inventory of 800 GPUs otherwise copies
// every GPU's state on every query).
const parentsOfRecord = new WeakMap<NodeRecord, GpuParent[]>();

/** The node's GPUs as resolver parents, in nvidia-smi's order. */
export function gpuParentsOf(node: NodeRecord): GpuParent[] {
  let parents = parentsOfRecord.get(node);
  if (!parents) {
    parents = (node.snapshot?.gpus ?? []).map((gpu) => gpuParent(node, gpu));
    parentsOfRecord.set(node, parents);
  }
  return parents;
}
