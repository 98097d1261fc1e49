/**
 * MIG GPU-instance profile tables and the GPU-level facts the simulator needs, per GPU model.
 *
 * Sources (all under /work/shared/fixtures/gpu, summarised in FACTS.md §1):
 * - A100-SXM4-40GB: `mig/a100-sxm4-40gb__lgip__mps-test.txt` (lgip), placements from the NVIDIA MIG
 *   User Guide (`mig/a100-sxm4-40gb__mig-user-guide__session.txt`, `-lgipp`).
 * - A100-80GB: `mig/a100-80gb-pcie__515.86.01__lgip.txt` (driver 515.86.01). 1g.20gb is not listed
 *   there; FACTS.md gives its name from the MIG guide and its values by analogy (unverified).
 * - H100 80GB HBM3: `prickle-exporter/h100-*\/mig-profiles.txt` (driver 580.173.02),
 *   `mig/h100-80gb-hbm3_x4__lgip__stackhpc.txt`, `-lgipp` in `mig/h100-80gb-hbm3__session…`.
 * - H200: `prickle-exporter/h200-mig-20260726/mig-profiles.txt` (driver 580.173.02).
 *
 * Memory is the lgip "GiB" column × 1024, rounded (so 19.62 GiB → 20091 MiB). lgip prints the
 * value of one driver; other drivers print slightly different numbers (FACTS.md §1 gives ranges),
 * and this table keeps the driver named above for each model.
 */

/** A placement on the memory-slice axis, as `nvidia-smi mig -lgipp` prints `{start}:size`. */
export interface MigPlacement {
  start: number;
  size: number;
}

/** A compute-instance profile inside a GPU instance (`-lcip`): `<n>c`, with its `-cci` id. */
export interface ComputeInstanceProfile {
  /** "1c", "2c", "3c", "4c" or "7c". */
  name: string;
  id: number;
  computeSlices: number;
}

/** A GPU-instance profile as `nvidia-smi mig -lgip`/`-lgipp` describes it. */
export interface GpuInstanceProfile {
  /** As the driver names it, e.g. "1g.10gb+me". */
  name: string;
  /** The lgip `ID` column: what `-cgi` takes. */
  id: number;
  maxInstances: number;
  memoryMiB: number;
  multiprocessors: number;
  /** The `Ng` part: compute slices (GPCs) the instance owns. */
  computeSlices: number;
  copyEngines: number;
  decoders: number;
  encoders: number;
  jpegDecoders: number;
  ofa: number;
  /** `+me` profiles carry the media engines; only one can exist per GPU. */
  mediaExtensions: boolean;
  placements: readonly MigPlacement[];
  /** The CI profile `-cgi … -C` creates: the one as large as the GPU instance. */
  defaultComputeInstanceProfileId: number;
  /** CI profiles that fit inside the GPU instance (`n` ≤ the instance's compute slices). */
  computeInstanceProfiles: readonly ComputeInstanceProfile[];
}

/** The GPU models the simulator can stand in for. */
export type GpuModelKey = 'H100-80GB' | 'A100-80GB' | 'A100-40GB' | 'H200-141GB';

/** Board-level facts, with the capture each comes from. */
export interface GpuModelSpec {
  key: GpuModelKey;
  /** `product_name` / the `name` CSV field. */
  productName: string;
  architecture: 'Hopper' | 'Ampere';
  /** `fb_memory_usage/total` as nvidia-smi reports it (not the marketing size). */
  memoryTotalMiB: number;
  powerLimitW: number;
  /** Power draw of an idle board with persistence mode on. */
  idlePowerW: number;
  /** A representative VBIOS; the simulator keeps the prefix and varies the last field. */
  vbiosVersion: string;
  clocks: {
    idleGraphicsMHz: number;
    maxGraphicsMHz: number;
    memoryMHz: number;
    idleVideoMHz: number;
    maxVideoMHz: number;
  };
  idleTemperatureC: number;
  /** Steady-state core temperature at the power limit (air/liquid cooled SXM boards). */
  fullLoadTemperatureC: number;
  /** Memory an empty MIG device reports as used (`15MiB / 9984MiB` in the H100 capture). */
  migDeviceBaseUsedMiB: number;
  /** Units on the placement axis: 8 memory slices on 7-compute-slice GPUs. */
  placementUnits: number;
  profiles: readonly GpuInstanceProfile[];
}

/** `-lcip` ids: 1c=0, 2c=1, 3c=2, 4c=3, 7c=4 (FACTS.md §1, "Compute-instance (CI) profile IDs"). */
const CI_PROFILES: readonly ComputeInstanceProfile[] = [
  { name: '1c', id: 0, computeSlices: 1 },
  { name: '2c', id: 1, computeSlices: 2 },
  { name: '3c', id: 2, computeSlices: 3 },
  { name: '4c', id: 3, computeSlices: 4 },
  { name: '7c', id: 4, computeSlices: 7 },
];

/** Placements shared by every 7-slice GPU (A100, H100, H200): `-lgipp` in the MIG guide / H100. */
const PLACEMENTS_7_SLICE = {
  oneSlice: [0, 1, 2, 3, 4, 5, 6].map((start) => ({ start, size: 1 })),
  oneSliceDoubleMemory: [0, 2, 4, 6].map((start) => ({ start, size: 2 })),
  twoSlice: [0, 2, 4].map((start) => ({ start, size: 2 })),
  threeSlice: [0, 4].map((start) => ({ start, size: 4 })),
  fourSlice: [{ start: 0, size: 4 }],
  sevenSlice: [{ start: 0, size: 8 }],
} as const;

/** One lgip row: name, ID, max instances, GiB as printed, SMs, CE/DEC/JPEG/OFA, compute slices. */
type Row = [
  name: string,
  id: number,
  max: number,
  gib: number,
  sm: number,
  engines: [ce: number, dec: number, jpeg: number, ofa: number],
  slices: number,
  placements: readonly MigPlacement[],
];

function profile([
  name,
  id,
  max,
  gib,
  sm,
  [ce, dec, jpeg, ofa],
  slices,
  placements,
]: Row): GpuInstanceProfile {
  const fitting = CI_PROFILES.filter((ci) => ci.computeSlices <= slices);
  const full = fitting[fitting.length - 1];
  if (!full) throw new Error(`profile ${name}: no compute-instance profile fits`);
  return {
    name,
    id,
    maxInstances: max,
    memoryMiB: Math.round(gib * 1024),
    multiprocessors: sm,
    computeSlices: slices,
    copyEngines: ce,
    decoders: dec,
    encoders: 0,
    jpegDecoders: jpeg,
    ofa,
    mediaExtensions: name.endsWith('+me'),
    placements,
    defaultComputeInstanceProfileId: full.id,
    computeInstanceProfiles: fitting,
  };
}

const P = PLACEMENTS_7_SLICE;

/** FACTS.md §1 rows "A100-40GB" (lgip from `mig/a100-sxm4-40gb__lgip__mps-test.txt`). */
const A100_40GB_PROFILES = (
  [
    ['1g.5gb', 19, 7, 4.75, 14, [1, 0, 0, 0], 1, P.oneSlice],
    ['1g.5gb+me', 20, 1, 4.75, 14, [1, 1, 1, 1], 1, P.oneSlice],
    ['1g.10gb', 15, 4, 9.62, 14, [1, 1, 0, 0], 1, P.oneSliceDoubleMemory],
    ['2g.10gb', 14, 3, 9.62, 28, [2, 1, 0, 0], 2, P.twoSlice],
    ['3g.20gb', 9, 2, 19.5, 42, [3, 2, 0, 0], 3, P.threeSlice],
    ['4g.20gb', 5, 1, 19.5, 56, [4, 2, 0, 0], 4, P.fourSlice],
    ['7g.40gb', 0, 1, 39.25, 98, [7, 5, 1, 1], 7, P.sevenSlice],
  ] satisfies Row[]
).map(profile);

/**
 * FACTS.md §1 rows "A100-80GB" (lgip from `mig/a100-80gb-pcie__515.86.01__lgip.txt`). The
 * 1g.20gb row is not in that capture: name from the MIG guide, values by analogy with the
 * A100-40GB 1g.10gb row (same memory as 2g.20gb), so it is unverified against real output.
 */
const A100_80GB_PROFILES = (
  [
    ['1g.10gb', 19, 7, 9.5, 14, [1, 0, 0, 0], 1, P.oneSlice],
    ['1g.10gb+me', 20, 1, 9.5, 14, [1, 1, 1, 1], 1, P.oneSlice],
    ['1g.20gb', 15, 4, 19.5, 14, [1, 1, 0, 0], 1, P.oneSliceDoubleMemory],
    ['2g.20gb', 14, 3, 19.5, 28, [2, 1, 0, 0], 2, P.twoSlice],
    ['3g.40gb', 9, 2, 39.25, 42, [3, 2, 0, 0], 3, P.threeSlice],
    ['4g.40gb', 5, 1, 39.25, 56, [4, 2, 0, 0], 4, P.fourSlice],
    ['7g.80gb', 0, 1, 79, 98, [7, 5, 1, 1], 7, P.sevenSlice],
  ] satisfies Row[]
).map(profile);

/** FACTS.md §1 rows "H100-80GB" (lgip from `prickle-exporter/h100-default-20260729`, 580.173.02). */
const H100_80GB_PROFILES = (
  [
    ['1g.10gb', 19, 7, 9.75, 16, [1, 1, 1, 0], 1, P.oneSlice],
    ['1g.10gb+me', 20, 1, 9.75, 16, [1, 1, 1, 1], 1, P.oneSlice],
    ['1g.20gb', 15, 4, 19.62, 26, [1, 1, 1, 0], 1, P.oneSliceDoubleMemory],
    ['2g.20gb', 14, 3, 19.62, 32, [2, 2, 2, 0], 2, P.twoSlice],
    ['3g.40gb', 9, 2, 39.5, 60, [3, 3, 3, 0], 3, P.threeSlice],
    ['4g.40gb', 5, 1, 39.5, 64, [4, 4, 4, 0], 4, P.fourSlice],
    ['7g.80gb', 0, 1, 79.25, 132, [8, 7, 7, 1], 7, P.sevenSlice],
  ] satisfies Row[]
).map(profile);

/**
 * FACTS.md §1 row "H200 141GB" (lgip from `prickle-exporter/h200-mig-20260726`, 580.173.02, which
 * prints 32.50 / 69.75 where an older driver printed 32.25 / 69.50).
 */
const H200_141GB_PROFILES = (
  [
    ['1g.18gb', 19, 7, 16, 16, [1, 1, 1, 0], 1, P.oneSlice],
    ['1g.18gb+me', 20, 1, 16, 16, [1, 1, 1, 1], 1, P.oneSlice],
    ['1g.35gb', 15, 4, 32.5, 26, [1, 1, 1, 0], 1, P.oneSliceDoubleMemory],
    ['2g.35gb', 14, 3, 32.5, 32, [2, 2, 2, 0], 2, P.twoSlice],
    ['3g.71gb', 9, 2, 69.75, 60, [3, 3, 3, 0], 3, P.threeSlice],
    ['4g.71gb', 5, 1, 69.75, 64, [4, 4, 4, 0], 4, P.fourSlice],
    ['7g.141gb', 0, 1, 140, 132, [8, 7, 7, 1], 7, P.sevenSlice],
  ] satisfies Row[]
).map(profile);

/**
 * Board facts. Memory totals, power limits, VBIOS and clocks are from real captures:
 * - H100: `k8s-test-infra/hw-qx-h100.xml` (81559 MiB, 700 W limit, ~68 W idle, 345/1980 MHz
 *   graphics, 2619 MHz memory, 765/1545 MHz video, 29–32 °C idle); VBIOS 96.00.A5.00.01 from
 *   `csv/…h100-80gb-hbm3__590.48.01…`; 66 °C at 355 W in `prickle-exporter/h100-default-20260729`.
 * - H200: `csv/…h200__590.48.01__load…` (143771 MiB, 700 W, VBIOS 96.00.A5.00.03, 1980 MHz
 *   graphics, 3201 MHz memory, 1545 MHz video).
 * - A100-40GB: `k8s-test-infra/hw-qx-a100.xml` (40960 MiB, 400 W, ~50 W idle, VBIOS
 *   92.00.45.00.03, 210/1410 MHz graphics, 1215 MHz memory, 585/1290 MHz video, 33 °C idle).
 * - A100-80GB: `telegraf/a100-sxm4-v12.xml` (81920 MiB, VBIOS 92.00.36.00.02); 400 W and the
 *   clocks as the 40 GB board except HBM2e at 1593 MHz (NVIDIA A100 datasheet), not in a capture.
 * Full-load temperatures are estimates (SXM boards slow down in the high 80s °C), not captured;
 * `migDeviceBaseUsedMiB` is 15 MiB on the Hopper captures and 19 MiB on the A100 MIG capture
 * (`netdata/a100-sxm4-mig.xml`).
 */
export const GPU_MODELS: Readonly<Record<GpuModelKey, GpuModelSpec>> = {
  'H100-80GB': {
    key: 'H100-80GB',
    productName: 'NVIDIA H100 80GB HBM3',
    architecture: 'Hopper',
    memoryTotalMiB: 81559,
    powerLimitW: 700,
    idlePowerW: 68,
    vbiosVersion: '96.00.A5.00.01',
    clocks: {
      idleGraphicsMHz: 345,
      maxGraphicsMHz: 1980,
      memoryMHz: 2619,
      idleVideoMHz: 765,
      maxVideoMHz: 1545,
    },
    idleTemperatureC: 30,
    fullLoadTemperatureC: 82,
    migDeviceBaseUsedMiB: 15,
    placementUnits: 8,
    profiles: H100_80GB_PROFILES,
  },
  'H200-141GB': {
    key: 'H200-141GB',
    productName: 'NVIDIA H200',
    architecture: 'Hopper',
    memoryTotalMiB: 143771,
    powerLimitW: 700,
    idlePowerW: 75,
    vbiosVersion: '96.00.A5.00.03',
    clocks: {
      idleGraphicsMHz: 345,
      maxGraphicsMHz: 1980,
      memoryMHz: 3201,
      idleVideoMHz: 765,
      maxVideoMHz: 1545,
    },
    idleTemperatureC: 31,
    fullLoadTemperatureC: 83,
    migDeviceBaseUsedMiB: 15,
    placementUnits: 8,
    profiles: H200_141GB_PROFILES,
  },
  'A100-80GB': {
    key: 'A100-80GB',
    productName: 'NVIDIA A100-SXM4-80GB',
    architecture: 'Ampere',
    memoryTotalMiB: 81920,
    powerLimitW: 400,
    idlePowerW: 55,
    vbiosVersion: '92.00.36.00.02',
    clocks: {
      idleGraphicsMHz: 210,
      maxGraphicsMHz: 1410,
      memoryMHz: 1593,
      idleVideoMHz: 585,
      maxVideoMHz: 1290,
    },
    idleTemperatureC: 33,
    fullLoadTemperatureC: 76,
    migDeviceBaseUsedMiB: 19,
    placementUnits: 8,
    profiles: A100_80GB_PROFILES,
  },
  'A100-40GB': {
    key: 'A100-40GB',
    productName: 'NVIDIA A100-SXM4-40GB',
    architecture: 'Ampere',
    memoryTotalMiB: 40960,
    powerLimitW: 400,
    idlePowerW: 50,
    vbiosVersion: '92.00.45.00.03',
    clocks: {
      idleGraphicsMHz: 210,
      maxGraphicsMHz: 1410,
      memoryMHz: 1215,
      idleVideoMHz: 585,
      maxVideoMHz: 1290,
    },
    idleTemperatureC: 33,
    fullLoadTemperatureC: 75,
    migDeviceBaseUsedMiB: 19,
    placementUnits: 8,
    profiles: A100_40GB_PROFILES,
  },
};

/** Every model key, in a stable order (tests iterate it). */
export const GPU_MODEL_KEYS: readonly GpuModelKey[] = Object.keys(GPU_MODELS) as GpuModelKey[];

/** The spec for a model key; throws for a key that is not in the table. */
export function gpuModel(key: GpuModelKey): GpuModelSpec {
  const spec = GPU_MODELS[key];
  if (!spec) throw new Error(`unknown GPU model ${String(key)}`);
  return spec;
}
