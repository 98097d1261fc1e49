/**
 * One simulated GPU: identity, MIG layout (through the placement engine), processes and
 * telemetry, and the GpuState it reports. The node (simulated-node.ts) owns several and the clock.
 */
import { MigCommandError } from '../errors.ts';
import { MigPlacementEngine } from '../mig/placement.ts';
import type { GpuModelSpec, GpuInstanceProfile } from '../mig/profiles.ts';
import type { GpuProcessState, GpuState, MigInstanceState, MigProfileState } from '../model.ts';
import { boardSerial, gpuUuid, migUuid, type Random } from './random.ts';
import {
  clocksFor,
  nextUtilization,
  settledThermal,
  stepThermal,
  type ThermalState,
} from './telemetry.ts';

/** PCI bus ids of the eight GPUs in an HGX H100 board (`k8s-test-infra/hw-qx-h100.xml`). */
const HGX_BUS_NUMBERS = [0x53, 0x64, 0x75, 0x86, 0x97, 0xa8, 0xb9, 0xca];

/** Process names as nvidia-smi prints them (full path when the binary was started by path). */
const PROCESS_NAMES = [
  'python3',
  '/usr/bin/python3',
  '/opt/tritonserver/bin/tritonserver',
  '/usr/local/bin/python',
  'pt_main_thread',
  '/opt/conda/bin/python',
];

/**
 * Memory the GPU reports beyond a process's own usage on a whole (non-MIG) GPU: 4627 MiB used
 * with one 4618 MiB process in `prickle-exporter/h100-default-20260729`.
 */
const PROCESS_OVERHEAD_MIB = 9;

/** Simulated process lifetimes, in seconds of simulated time. */
const AUTO_PROCESS_SECONDS = { min: 60, max: 900 };
/** Chance per simulated second that an idle target starts a process by itself. */
const AUTO_START_PER_SECOND = 0.01;

/** A running process; `endsAt` is null for processes started by hand (runProcess). */
interface SimProcess {
  pid: number;
  name: string;
  gpuInstanceId: number | null;
  usedMemoryMiB: number;
  /** Utilization (0–100) the process drives on its target. */
  demand: number;
  endsAt: number | null;
}

interface SimInstance {
  gpuInstanceId: number;
  profile: GpuInstanceProfile;
  placement: { start: number; size: number };
  uuid: string;
  utilization: number;
}

/** What a GPU is built from. */
export interface SimulatedGpuInit {
  spec: GpuModelSpec;
  index: number;
  migEnabled: boolean;
  /** `nvidia-smi conf-compute -f` as the board reports it; default OFF. */
  confidentialComputeMode?: ConfidentialComputeMode;
  /** Seed material for ids: the same value gives the same UUID and serial. */
  identity: string;
  rng: Random;
  nextPid: () => number;
}

/** Confidential-computing modes `nvidia-smi conf-compute -f` reports. */
export type ConfidentialComputeMode = 'ON' | 'OFF' | 'DEVTOOLS';

/** Options for a process started by hand. */
export interface ProcessOptions {
  name?: string;
  usedMemoryMiB?: number;
  /** Utilization (0–100) the process drives; default 90. */
  utilizationPercent?: number;
}

/** The PCI bus id for a GPU index: the HGX layout for the first eight, then 0xD0 onwards. */
export function pciBusId(index: number): string {
  const bus = HGX_BUS_NUMBERS[index] ?? 0xd0 + ((index - HGX_BUS_NUMBERS.length) % 0x30);
  return `00000000:${bus.toString(16).toUpperCase().padStart(2, '0')}:00.0`;
}

/**
 * A simulated board. MIG changes go through MigPlacementEngine, so they succeed and fail exactly
 * where the engine says the driver would; telemetry only moves in `step`.
 */
export class SimulatedGpu {
  readonly spec: GpuModelSpec;
  readonly index: number;
  readonly uuid: string;
  readonly serial: string;
  readonly pciBusId: string;
  readonly migEnabled: boolean;
  /** Changed by an operator (CC mode switch + GPU reset); attestation notices the drift. */
  confidentialComputeMode: ConfidentialComputeMode;
  private readonly rng: Random;
  private readonly nextPid: () => number;
  private readonly engine: MigPlacementEngine;
  private readonly instances = new Map<number, SimInstance>();
  private processes: SimProcess[] = [];
  private utilization = 0;
  /** Busy fraction of the whole GPU (0–1) at the last step: drives power and clocks. */
  private load = 0;
  private readonly thermal: ThermalState;
  /** Compute slices of the whole GPU (7 on A100/H100/H200): weights MIG instances' load. */
  private readonly computeSlices: number;
  /** Cached lgip rows; recomputed only when the layout changes. */
  private profileRows: MigProfileState[] | null = null;

  constructor(init: SimulatedGpuInit) {
    this.spec = init.spec;
    this.index = init.index;
    this.migEnabled = init.migEnabled;
    this.confidentialComputeMode = init.confidentialComputeMode ?? 'OFF';
    this.rng = init.rng;
    this.nextPid = init.nextPid;
    this.uuid = gpuUuid(init.identity);
    this.serial = boardSerial(init.identity);
    this.pciBusId = pciBusId(init.index);
    this.engine = new MigPlacementEngine(init.spec.profiles, [], init.spec.placementUnits);
    this.thermal = settledThermal(init.spec, 0);
    this.computeSlices = Math.max(1, ...init.spec.profiles.map((p) => p.computeSlices));
  }

  /** Creates a GPU instance and its default compute instance (`-cgi <profile> -C`). */
  createInstance(profileRef: string): MigInstanceState {
    this.requireMig();
    const placed = this.engine.create(profileRef);
    const instance: SimInstance = {
      gpuInstanceId: placed.gpuInstanceId,
      profile: placed.profile,
      placement: placed.placement,
      uuid: migUuid(this.uuid, placed.gpuInstanceId, 0),
      utilization: 0,
    };
    this.instances.set(instance.gpuInstanceId, instance);
    this.profileRows = null;
    return this.instanceState(instance);
  }

  /** Destroys the compute instance and then the GPU instance (`-dci`, `-dgi`). */
  destroyInstance(gpuInstanceId: number): void {
    this.requireMig();
    if (!this.instances.has(gpuInstanceId)) {
      throw new MigCommandError(
        'INSTANCE_NOT_FOUND',
        `No GPU instance with ID ${gpuInstanceId} on GPU ${this.index}`,
      );
    }
    if (this.processes.some((p) => p.gpuInstanceId === gpuInstanceId)) {
      throw new MigCommandError('IN_USE', 'In use by another client');
    }
    this.engine.remove(gpuInstanceId);
    this.instances.delete(gpuInstanceId);
    this.profileRows = null;
  }

  /**
   * Starts a process on the whole GPU (MIG off, `gpuInstanceId` null) or on a MIG instance. Hand-
   * started processes (`endsAt` null) run until stopProcess; the simulator's own ones expire.
   */
  startProcess(
    gpuInstanceId: number | null,
    options: ProcessOptions = {},
    endsAt: number | null = null,
  ): GpuProcessState {
    if (this.migEnabled && gpuInstanceId === null) {
      throw new MigCommandError(
        'INSTANCE_NOT_FOUND',
        `GPU ${this.index} is in MIG mode: a process needs a GPU instance`,
      );
    }
    if (!this.migEnabled && gpuInstanceId !== null) {
      throw new MigCommandError('MIG_DISABLED', 'No MIG-enabled devices found.');
    }
    const instance = gpuInstanceId === null ? undefined : this.instances.get(gpuInstanceId);
    if (gpuInstanceId !== null && !instance) {
      throw new MigCommandError(
        'INSTANCE_NOT_FOUND',
        `No GPU instance with ID ${gpuInstanceId} on GPU ${this.index}`,
      );
    }
    const free = this.freeMemoryMiB(gpuInstanceId);
    const used = options.usedMemoryMiB ?? Math.round(free * this.rng.between(0.2, 0.7));
    if (used > free) {
      throw new RangeError(`process needs ${used} MiB but only ${free} MiB is free`);
    }
    const started: SimProcess = {
      pid: this.nextPid(),
      name: options.name ?? this.rng.pick(PROCESS_NAMES),
      gpuInstanceId,
      usedMemoryMiB: used,
      demand: options.utilizationPercent ?? (endsAt === null ? 90 : this.rng.between(55, 99)),
      endsAt,
    };
    this.processes.push(started);
    return this.processState(started);
  }

  /** Stops a process by pid; false when it is not on this GPU. */
  stopProcess(pid: number): boolean {
    const before = this.processes.length;
    this.processes = this.processes.filter((p) => p.pid !== pid);
    return this.processes.length !== before;
  }

  /** Starts simulator-owned processes on idle targets, e.g. so a new fleet is not all idle. */
  seedActivity(now: number, busyFraction: number): void {
    for (const target of this.targets()) {
      if (this.rng.chance(busyFraction)) this.startAutoProcess(target, now);
    }
    this.settle();
  }

  /** Advances processes and telemetry by `dtS` seconds; `now` is simulated time in ms. */
  step(now: number, dtS: number, autoProcesses: boolean): void {
    if (autoProcesses) {
      this.processes = this.processes.filter((p) => p.endsAt === null || p.endsAt > now);
      for (const target of this.targets()) {
        if (!this.hasProcess(target) && this.rng.chance(AUTO_START_PER_SECOND * dtS)) {
          this.startAutoProcess(target, now);
        }
      }
    }
    if (this.migEnabled) {
      let weighted = 0;
      for (const instance of this.instances.values()) {
        instance.utilization = nextUtilization(
          instance.utilization,
          this.demand(instance.gpuInstanceId),
          dtS,
          this.rng,
        );
        weighted += instance.utilization * instance.profile.computeSlices;
      }
      this.load = weighted / (this.computeSlices * 100);
    } else {
      this.utilization = nextUtilization(this.utilization, this.demand(null), dtS, this.rng);
      this.load = this.utilization / 100;
    }
    stepThermal(this.thermal, this.spec, this.load, dtS, this.rng);
  }

  /** The GPU as a collector would report it; every object is new (callers may mutate it). */
  snapshot(): GpuState {
    const mig = this.migEnabled;
    const instances = [...this.instances.values()]
      .sort((a, b) => a.gpuInstanceId - b.gpuInstanceId)
      .map((i) => this.instanceState(i));
    const memoryUsedMiB = mig
      ? instances.reduce((sum, i) => sum + (i.memoryUsedMiB ?? 0), 0)
      : this.wholeGpuMemoryUsedMiB();
    const utilization = Math.round(this.utilization);
    return {
      uuid: this.uuid,
      index: this.index,
      name: this.spec.productName,
      serial: this.serial,
      vbiosVersion: this.spec.vbiosVersion,
      pciBusId: this.pciBusId,
      architecture: this.spec.architecture,
      memoryTotalMiB: this.spec.memoryTotalMiB,
      memoryUsedMiB,
      // With MIG on, nvidia-smi reports whole-GPU utilization as N/A (FACTS.md §1).
      utilizationPercent: mig ? null : utilization,
      memoryUtilizationPercent: mig ? null : Math.round(utilization * 0.45),
      temperatureC: Math.round(this.thermal.temperatureC),
      powerDrawW: Math.round(this.thermal.powerW * 100) / 100,
      powerLimitW: this.spec.powerLimitW,
      eccEnabled: true,
      eccErrors: {
        volatileCorrected: 0,
        volatileUncorrected: 0,
        aggregateCorrected: 0,
        aggregateUncorrected: 0,
      },
      // Ampere and Hopper remap rows; retired pages read N/A on them.
      retiredPages: null,
      remappedRows: { correctable: 0, uncorrectable: 0, pending: false, failure: false },
      clocks: clocksFor(this.spec, this.load, this.thermal.powerW),
      migMode: { current: mig, pending: mig },
      migProfiles: this.profileStates(),
      migInstances: instances,
      processes: this.processes
        .slice()
        .sort((a, b) => a.pid - b.pid)
        .map((p) => this.processState(p)),
      // Confidential computing starts with Hopper: an Ampere board reports no CC state at all.
      confidentialComputeMode:
        this.spec.architecture === 'Hopper' ? this.confidentialComputeMode : null,
      // A CC-capable board accepts CC work once CC is on (`conf-compute -grs`: ready).
      confidentialComputeReady:
        this.spec.architecture === 'Hopper' ? this.confidentialComputeMode === 'ON' : null,
    };
  }

  /** Whether a process runs on the instance (or, for null, on the GPU). */
  private hasProcess(gpuInstanceId: number | null): boolean {
    return this.processes.some((p) => p.gpuInstanceId === gpuInstanceId);
  }

  private requireMig(): void {
    if (!this.migEnabled) {
      throw new MigCommandError('MIG_DISABLED', 'No MIG-enabled devices found.');
    }
  }

  /** The compute targets processes run on: each MIG instance, or the whole GPU. */
  private targets(): (number | null)[] {
    return this.migEnabled ? [...this.instances.keys()] : [null];
  }

  private startAutoProcess(target: number | null, now: number): void {
    const seconds = this.rng.between(AUTO_PROCESS_SECONDS.min, AUTO_PROCESS_SECONDS.max);
    if (this.freeMemoryMiB(target) < 256) return;
    this.startProcess(target, {}, now + seconds * 1000);
  }

  /** Jumps utilization and thermals to their steady state for the current processes. */
  private settle(): void {
    let weighted = 0;
    for (const instance of this.instances.values()) {
      instance.utilization = this.demand(instance.gpuInstanceId);
      weighted += instance.utilization * instance.profile.computeSlices;
    }
    this.utilization = this.migEnabled ? 0 : this.demand(null);
    this.load = this.migEnabled ? weighted / (this.computeSlices * 100) : this.utilization / 100;
    Object.assign(this.thermal, settledThermal(this.spec, this.load));
  }

  private demand(target: number | null): number {
    let demand = 0;
    for (const p of this.processes) if (p.gpuInstanceId === target) demand += p.demand;
    return Math.min(100, demand);
  }

  private freeMemoryMiB(target: number | null): number {
    if (target === null) {
      return this.spec.memoryTotalMiB - this.wholeGpuMemoryUsedMiB() - PROCESS_OVERHEAD_MIB;
    }
    const instance = this.instances.get(target);
    if (!instance) return 0;
    return instance.profile.memoryMiB - this.instanceMemoryUsedMiB(target);
  }

  private wholeGpuMemoryUsedMiB(): number {
    let used = 0;
    for (const p of this.processes) used += p.usedMemoryMiB + PROCESS_OVERHEAD_MIB;
    return used;
  }

  private instanceMemoryUsedMiB(gpuInstanceId: number): number {
    let used = this.spec.migDeviceBaseUsedMiB;
    for (const p of this.processes) if (p.gpuInstanceId === gpuInstanceId) used += p.usedMemoryMiB;
    return used;
  }

  private instanceState(instance: SimInstance): MigInstanceState {
    return {
      gpuInstanceId: instance.gpuInstanceId,
      computeInstanceId: 0,
      profile: instance.profile.name,
      profileId: instance.profile.id,
      memoryMiB: instance.profile.memoryMiB,
      memoryUsedMiB: this.instanceMemoryUsedMiB(instance.gpuInstanceId),
      uuid: instance.uuid,
      placement: { ...instance.placement },
      utilizationPercent: Math.round(instance.utilization),
    };
  }

  private processState(p: SimProcess): GpuProcessState {
    return {
      pid: p.pid,
      name: p.name,
      type: 'C',
      usedMemoryMiB: p.usedMemoryMiB,
      gpuInstanceId: p.gpuInstanceId,
      computeInstanceId: p.gpuInstanceId === null ? null : 0,
    };
  }

  private profileStates(): MigProfileState[] {
    this.profileRows ??= this.engine.profileAvailability().map(({ profile, instancesFree }) => ({
      name: profile.name,
      id: profile.id,
      instancesFree,
      instancesTotal: profile.maxInstances,
      memoryMiB: profile.memoryMiB,
      multiprocessors: profile.multiprocessors,
      placements: profile.placements.map((p) => ({ ...p })),
    }));
    return this.profileRows.map((row) => ({
      ...row,
      placements: row.placements.map((p) => ({ ...p })),
    }));
  }
}
