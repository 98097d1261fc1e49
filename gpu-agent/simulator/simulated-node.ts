/**
 * A simulated GPU node: a GpuSource that behaves like `nvidia-smi` on a node of A100/H100/H200
 * boards, MIG included, with deterministic identities and telemetry that moves between reads.
 */
import { MigCommandError } from '../errors.ts';
import { gpuModel, type GpuModelKey } from '../mig/profiles.ts';
import type { GpuProcessState, GpuSource, MigInstanceState, NodeSnapshot } from '../model.ts';
import { Random } from './random.ts';
import {
  SimulatedGpu,
  type ConfidentialComputeMode,
  type ProcessOptions,
} from './simulated-gpu.ts';

/** Driver and CUDA version of the real captures (`prickle-exporter/*`, driver 580.173.02). */
export const SIMULATED_DRIVER_VERSION = '580.173.02';
export const SIMULATED_CUDA_VERSION = '13.0';

/**
 * Each collect advances the simulation by the real time since the last one, but at least this
 * much, so a tight polling loop (tests, benchmarks) still sees telemetry move…
 */
const MIN_STEP_S = 1;
/** …and at most this much, so a long pause does not jump straight to steady state. */
const MAX_STEP_S = 60;

export interface SimulatedGpuOptions {
  model: GpuModelKey;
  migEnabled: boolean;
  /** Profiles (names or ids) to create at start, in order, as `-cgi a,b,c -C` would. */
  migInstances?: readonly string[];
  /** Default OFF; H100/H200 boards can run with CC ON. */
  confidentialComputeMode?: ConfidentialComputeMode;
}

export interface SimulatedSourceOptions {
  hostname: string;
  gpus: readonly SimulatedGpuOptions[];
  /** Same seed and hostname → same UUIDs, serials, pids and telemetry. Default 0. */
  seed?: number;
  /** Milliseconds since the epoch; default Date.now. Drives `collectedAt` and telemetry steps. */
  clock?: () => number;
  /**
   * Whether the simulator starts and ends processes by itself (default true). Turn it off when a
   * test needs to know exactly what runs; runProcess works either way.
   */
  autoProcesses?: boolean;
  /** Fraction of compute targets busy at start when autoProcesses is on (default 0.6). */
  initialBusyFraction?: number;
  /** The NVIDIA driver the node reports; default SIMULATED_DRIVER_VERSION. */
  driverVersion?: string;
}

/** A GpuSource with controls for tests and demos. */
export interface SimulatedSource extends GpuSource {
  readonly kind: 'simulator';
  readonly hostname: string;
  /** UUIDs of the node's GPUs, by index. */
  readonly gpuUuids: readonly string[];
  /**
   * Starts a process on a MIG instance (or the whole GPU when MIG is off and the id is null or
   * omitted). It runs until stopProcess and makes destroyMigInstance refuse with IN_USE.
   */
  runProcess(
    gpuUuid: string,
    gpuInstanceId?: number | null,
    options?: ProcessOptions,
  ): GpuProcessState;
  /** Stops a process by pid; false when no GPU of the node runs it. */
  stopProcess(pid: number): boolean;
  /** Simulates a driver upgrade or downgrade (seen from the next collect). */
  setDriverVersion(version: string): void;
  /** Simulates switching a GPU's CC mode (`nvidia-smi conf-compute -srs` + reset). */
  setConfidentialComputeMode(gpuUuid: string, mode: ConfidentialComputeMode): void;
}

/** Runs synchronous work as a settled promise, so a throw becomes a rejection. */
function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

/** Builds a simulated node. Throws when an initial MIG layout does not fit or MIG is off. */
export function createSimulatedSource(options: SimulatedSourceOptions): SimulatedSource {
  const seed = options.seed ?? 0;
  const clock = options.clock ?? Date.now;
  const autoProcesses = options.autoProcesses ?? true;
  const rng = new Random(`node\u0000${seed}\u0000${options.hostname}`);
  let pid = rng.int(1800, 40000);
  const nextPid = (): number => (pid += rng.int(1, 40));

  const gpus = options.gpus.map((gpuOptions, index) => {
    const gpu = new SimulatedGpu({
      spec: gpuModel(gpuOptions.model),
      index,
      migEnabled: gpuOptions.migEnabled,
      ...(gpuOptions.confidentialComputeMode
        ? { confidentialComputeMode: gpuOptions.confidentialComputeMode }
        : {}),
      identity: `${seed}\u0000${options.hostname}\u0000${index}`,
      rng,
      nextPid,
    });
    for (const profile of gpuOptions.migInstances ?? []) gpu.createInstance(profile);
    return gpu;
  });

  let lastRead = clock();
  let simulatedNow = lastRead;
  if (autoProcesses) {
    for (const gpu of gpus) gpu.seedActivity(simulatedNow, options.initialBusyFraction ?? 0.6);
  }
  let closed = false;
  let driverVersion = options.driverVersion ?? SIMULATED_DRIVER_VERSION;

  function gpuByUuid(uuid: string): SimulatedGpu {
    const gpu = gpus.find((g) => g.uuid === uuid);
    if (!gpu)
      throw new MigCommandError('GPU_NOT_FOUND', `No GPU with UUID ${uuid} on ${options.hostname}`);
    return gpu;
  }

  function ensureOpen(): void {
    if (closed) throw new Error(`simulated source for ${options.hostname} is closed`);
  }

  return {
    kind: 'simulator',
    hostname: options.hostname,
    gpuUuids: gpus.map((g) => g.uuid),

    collect(): Promise<NodeSnapshot> {
      return settle(() => {
        ensureOpen();
        const now = clock();
        const dtS = Math.min(MAX_STEP_S, Math.max(MIN_STEP_S, (now - lastRead) / 1000));
        lastRead = now;
        simulatedNow += dtS * 1000;
        for (const gpu of gpus) gpu.step(simulatedNow, dtS, autoProcesses);
        return {
          hostname: options.hostname,
          driverVersion,
          cudaVersion: SIMULATED_CUDA_VERSION,
          collectedAt: new Date(now).toISOString(),
          source: 'simulator',
          gpus: gpus.map((g) => g.snapshot()),
        };
      });
    },

    createMigInstance(gpuUuid: string, profile: string): Promise<MigInstanceState> {
      return settle(() => {
        ensureOpen();
        return gpuByUuid(gpuUuid).createInstance(profile);
      });
    },

    destroyMigInstance(gpuUuid: string, gpuInstanceId: number): Promise<void> {
      return settle(() => {
        ensureOpen();
        gpuByUuid(gpuUuid).destroyInstance(gpuInstanceId);
      });
    },

    runProcess(gpuUuid, gpuInstanceId = null, processOptions = {}) {
      ensureOpen();
      return gpuByUuid(gpuUuid).startProcess(gpuInstanceId, processOptions);
    },

    stopProcess(pidToStop) {
      return gpus.some((g) => g.stopProcess(pidToStop));
    },

    setDriverVersion(version) {
      driverVersion = version;
    },

    setConfidentialComputeMode(gpuUuid, mode) {
      gpuByUuid(gpuUuid).confidentialComputeMode = mode;
    },

    close(): Promise<void> {
      closed = true;
      return Promise.resolve();
    },
  };
}
