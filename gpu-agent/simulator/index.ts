/** The simulated GPU source: single nodes for tests and demos, fleets for benchmarks. */
export {
  createSimulatedSource,
  SIMULATED_CUDA_VERSION,
  SIMULATED_DRIVER_VERSION,
  type SimulatedGpuOptions,
  type SimulatedSource,
  type SimulatedSourceOptions,
} from './simulated-node.ts';
export type { ProcessOptions } from './simulated-gpu.ts';
export { simulatedFleet, type SimulatedFleetOptions } from './fleet.ts';
