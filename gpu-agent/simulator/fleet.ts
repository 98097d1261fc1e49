/**
 * Many simulated nodes at once, for benchmarks and demos: a fleet of HGX-style nodes, each with
 * one GPU model (real 8-GPU boards are homogeneous), models mixed across the fleet, and some GPUs
 * in MIG mode with layouts people actually run.
 */
import type { GpuModelKey } from '../mig/profiles.ts';
import {
  createSimulatedSource,
  type SimulatedGpuOptions,
  type SimulatedSource,
} from './simulated-node.ts';

/** Model per node, cycled: H100-heavy, as current fleets are. */
const MODEL_ROTATION: readonly GpuModelKey[] = [
  'H100-80GB',
  'H100-80GB',
  'A100-80GB',
  'H200-141GB',
  'A100-40GB',
];

/**
 * Layouts for MIG-mode GPUs, by lgip profile id so they work on every model: all 7×1g; 3g+2g+1g+1g;
 * 4g+3g; 2×3g; 1g.(double memory)×4; and MIG on with nothing created yet.
 */
const MIG_LAYOUTS: readonly (readonly string[])[] = [
  ['19', '19', '19', '19', '19', '19', '19'],
  ['9', '14', '19', '19'],
  ['5', '9'],
  ['9', '9'],
  ['15', '15', '15', '15'],
  [],
];

export interface SimulatedFleetOptions {
  /** Base seed; node i uses seed + i. Default 0. */
  seed?: number;
  clock?: () => number;
  /** GPUs per node; default 8. */
  gpusPerNode?: number;
  /** Hostnames are `${prefix}-${i}` with i zero-padded to 3 digits; default "gpu-node". */
  hostnamePrefix?: string;
  /** Every n-th GPU of a node is in MIG mode (n ≥ 1); default 2 (half). 0 means none. */
  migEvery?: number;
  autoProcesses?: boolean;
}

/** `count` simulated nodes of `gpusPerNode` GPUs each, deterministic for a seed. */
export function simulatedFleet(
  count: number,
  options: SimulatedFleetOptions = {},
): SimulatedSource[] {
  const seed = options.seed ?? 0;
  const gpusPerNode = options.gpusPerNode ?? 8;
  const prefix = options.hostnamePrefix ?? 'gpu-node';
  const migEvery = options.migEvery ?? 2;
  const nodes: SimulatedSource[] = [];
  for (let n = 0; n < count; n += 1) {
    const model = MODEL_ROTATION[n % MODEL_ROTATION.length] ?? 'H100-80GB';
    const gpus: SimulatedGpuOptions[] = [];
    for (let g = 0; g < gpusPerNode; g += 1) {
      const migEnabled = migEvery > 0 && g % migEvery === migEvery - 1;
      const layout = migEnabled ? MIG_LAYOUTS[(n + g) % MIG_LAYOUTS.length] : undefined;
      gpus.push({ model, migEnabled, migInstances: layout ?? [] });
    }
    nodes.push(
      createSimulatedSource({
        hostname: `${prefix}-${String(n).padStart(3, '0')}`,
        gpus,
        seed: seed + n,
        ...(options.clock ? { clock: options.clock } : {}),
        ...(options.autoProcesses === undefined ? {} : { autoProcesses: options.autoProcesses }),
      }),
    );
  }
  return nodes;
}
