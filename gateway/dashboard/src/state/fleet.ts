import type {
  FleetQuery,
  FleetTelemetrySubscription,
  GpuLiveFragment,
} from '../../../../generated/graphql/dashboard/operations.ts';

export type FleetNode = FleetQuery['gpuNodes'][number];
type Telemetry = FleetTelemetrySubscription['gpuTelemetry'];

/**
 * Folds one telemetry report into the fleet: the reporting node is replaced (or added, for a node
 * enrolled after the page loaded), the others are kept. Nodes stay ordered by hostname so cards
 * do not jump around as reports arrive.
 */
export function applyTelemetry(nodes: readonly FleetNode[], report: Telemetry): FleetNode[] {
  const updated: FleetNode = { ...report.node, gpus: report.gpus };
  const others = nodes.filter((node) => node.id !== updated.id);
  return [...others, updated].sort((a, b) => a.hostname.localeCompare(b.hostname));
}

/** A MIG instance drawn on the GPU's slice grid. */
export interface MigSliceView {
  gpuInstanceId: number;
  profile: string;
  start: number;
  size: number;
  memoryMiB: number;
}

/**
 * The GPU's MIG layout as slices on its placement grid (eight memory slices on A100/H100/H200).
 * Instances the driver reports without a placement are laid after the placed ones, so they are
 * still visible rather than silently dropped.
 */
export function migLayout(gpu: GpuLiveFragment): { slots: number; slices: MigSliceView[] } {
  const placed = gpu.migInstances.filter(
    (i) => i.placementStart !== null && i.placementSize !== null,
  );
  const unplaced = gpu.migInstances.filter(
    (i) => i.placementStart === null || i.placementSize === null,
  );
  const slices: MigSliceView[] = placed.map((i) => ({
    gpuInstanceId: i.gpuInstanceId,
    profile: i.profile,
    start: i.placementStart ?? 0,
    size: i.placementSize ?? 1,
    memoryMiB: i.memoryMiB,
  }));
  let end = Math.max(8, ...slices.map((s) => s.start + s.size));
  for (const i of unplaced) {
    slices.push({
      gpuInstanceId: i.gpuInstanceId,
      profile: i.profile,
      start: end,
      size: 1,
      memoryMiB: i.memoryMiB,
    });
    end += 1;
  }
  return { slots: end, slices: slices.sort((a, b) => a.start - b.start) };
}
