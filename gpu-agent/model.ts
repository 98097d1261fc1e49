/**
 * The shape of one GPU node's state, as every source (nvidia-smi, simulator, replay) reports it and
 * as agents publish it to the gpu-agent subgraph. Plain JSON: snapshots travel over HTTP and the
 * event bus and are stored as JSON.
 *
 * Convention: `null` means "the driver did not report it" (`N/A`, `[Not Supported]`, missing
 * element) — never 0. Sizes are MiB, temperatures °C, power W, clocks MHz, percentages 0–100.
 */

/** Which kind of source produced a snapshot. */
export type GpuSourceKind = 'nvidia-smi' | 'simulator' | 'replay';

export interface MigModeState {
  current: boolean;
  pending: boolean;
}

/** A GPU-instance profile as `nvidia-smi mig -lgip` lists it, with what is free right now. */
export interface MigProfileState {
  /** e.g. "1g.10gb", "1g.10gb+me", "7g.80gb" — as the driver names it, never derived from memory. */
  name: string;
  /** The `ID` column: what `nvidia-smi mig -cgi` takes. */
  id: number;
  instancesFree: number;
  instancesTotal: number;
  memoryMiB: number;
  /** Streaming multiprocessors per instance, when known. */
  multiprocessors: number | null;
  /** Valid placements (`-lgipp`): start slice and size in memory slices, when known. */
  placements: { start: number; size: number }[];
}

/** One MIG device: a GPU instance and (when created) its compute instance. */
export interface MigInstanceState {
  gpuInstanceId: number;
  /** null when the GPU instance has no compute instance yet. */
  computeInstanceId: number | null;
  /** Profile name, e.g. "3g.40gb" (from `-lgi`, joined by GPU instance id). */
  profile: string;
  profileId: number | null;
  memoryMiB: number;
  memoryUsedMiB: number | null;
  /** "MIG-…" from `nvidia-smi -L`, when known. */
  uuid: string | null;
  placement: { start: number; size: number } | null;
  /** Real drivers report none for MIG devices; the simulator does. */
  utilizationPercent: number | null;
}

export interface GpuProcessState {
  pid: number;
  name: string;
  /** "C" compute, "G" graphics, "C+G". */
  type: string | null;
  usedMemoryMiB: number | null;
  gpuInstanceId: number | null;
  computeInstanceId: number | null;
}

export interface EccCounts {
  volatileCorrected: number | null;
  volatileUncorrected: number | null;
  aggregateCorrected: number | null;
  aggregateUncorrected: number | null;
}

export interface GpuState {
  uuid: string;
  index: number;
  name: string;
  serial: string | null;
  vbiosVersion: string | null;
  /** e.g. "00000000:53:00.0" (upper-case hex as nvidia-smi -q -x prints it). */
  pciBusId: string | null;
  architecture: string | null;
  memoryTotalMiB: number;
  memoryUsedMiB: number | null;
  utilizationPercent: number | null;
  memoryUtilizationPercent: number | null;
  temperatureC: number | null;
  powerDrawW: number | null;
  powerLimitW: number | null;
  eccEnabled: boolean | null;
  eccErrors: EccCounts | null;
  /** Pre-Ampere page retirement; null where the GPU uses row remapping instead. */
  retiredPages: {
    singleBit: number | null;
    doubleBit: number | null;
    pending: boolean | null;
  } | null;
  /** Ampere+ row remapping; null where not supported. */
  remappedRows: {
    correctable: number | null;
    uncorrectable: number | null;
    pending: boolean | null;
    failure: boolean | null;
  } | null;
  clocks: {
    graphicsMHz: number | null;
    smMHz: number | null;
    memoryMHz: number | null;
    videoMHz: number | null;
  };
  migMode: MigModeState;
  /** Empty when the GPU is not MIG-capable. */
  migProfiles: MigProfileState[];
  /** Empty when MIG is off. */
  migInstances: MigInstanceState[];
  processes: GpuProcessState[];
  /** e.g. "ON", "OFF", "DEVTOOLS" from `nvidia-smi conf-compute`; null when unknown. */
  confidentialComputeMode: string | null;
  /**
   * `nvidia-smi conf-compute -grs`: whether the GPU accepts confidential workloads; null or absent
   * when unknown (the nvidia-smi collector does not read it yet).
   */
  confidentialComputeReady?: boolean | null;
}

export interface NodeSnapshot {
  hostname: string;
  driverVersion: string | null;
  cudaVersion: string | null;
  /** ISO 8601 time the source read the state. */
  collectedAt: string;
  source: GpuSourceKind;
  gpus: GpuState[];
}

/**
 * Where a node's state comes from. Sources are single-node: the agent on a node owns one.
 * Implementations must never hang: every call is bounded by the source's own timeout.
 */
export interface GpuSource {
  readonly kind: GpuSourceKind;
  /** Reads the node's current state. */
  collect(): Promise<NodeSnapshot>;
  /**
   * Creates a GPU instance with its default compute instance (`nvidia-smi mig -cgi <id> -C`).
   * `profile` is a name ("1g.10gb") or a numeric profile id as a string ("19").
   * Throws MigCommandError with NVIDIA's reason when the driver would refuse.
   */
  createMigInstance(gpuUuid: string, profile: string): Promise<MigInstanceState>;
  /** Destroys the compute instances of a GPU instance, then the GPU instance (`-dci`, `-dgi`). */
  destroyMigInstance(gpuUuid: string, gpuInstanceId: number): Promise<void>;
  close(): Promise<void>;
}
