import { SmiParseError } from '../errors.ts';
import type { MigFailureReason } from '../errors.ts';
import { gibToMiB, integer, number } from './smi-values.ts';

/** One row of `nvidia-smi mig -lgip`. */
export interface GiProfileListing {
  gpuIndex: number;
  /** Without the "MIG " prefix: "1g.10gb", "1g.10gb+me". */
  name: string;
  id: number;
  instancesFree: number;
  instancesTotal: number;
  memoryMiB: number;
  multiprocessors: number | null;
}

/** One line of `nvidia-smi mig -lgipp`. */
export interface GiPlacementListing {
  gpuIndex: number;
  profileId: number;
  placements: { start: number; size: number }[];
}

/** One row of `nvidia-smi mig -lgi`. */
export interface GpuInstanceListing {
  gpuIndex: number;
  profile: string;
  profileId: number;
  gpuInstanceId: number;
  placement: { start: number; size: number } | null;
}

/** One row of `nvidia-smi mig -lci`; `name` is "1g.10gb" or, for a split GI, "1c.3g.40gb". */
export interface ComputeInstanceListing {
  gpuIndex: number;
  gpuInstanceId: number;
  name: string;
  profileId: number;
  computeInstanceId: number;
  /** Older drivers print no Placement column. */
  placement: { start: number; size: number } | null;
}

/** One `MIG … Device N:` line of `nvidia-smi -L`. */
export interface ListedMigDevice {
  /** "1g.10gb", "1c.3g.40gb". */
  name: string;
  /** The `Device N` number: the `<index>` of the matching `<mig_device>` in `-q -x`. */
  deviceIndex: number;
  uuid: string;
  /** Only pre-R470 drivers encode these in the UUID (`MIG-GPU-<uuid>/<gi>/<ci>`). */
  gpuInstanceId: number | null;
  computeInstanceId: number | null;
}

/** One `GPU N:` line of `nvidia-smi -L` with the MIG devices listed under it. */
export interface ListedGpu {
  index: number;
  name: string;
  uuid: string;
  migDevices: ListedMigDevice[];
}

const NO_DEVICES: [RegExp, MigFailureReason][] = [
  [/No MIG-enabled devices found/i, 'MIG_DISABLED'],
  [/No MIG-supported devices found/i, 'MIG_NOT_SUPPORTED'],
];

/**
 * "MIG_DISABLED" for "No MIG-enabled devices found." (MIG-capable GPU, MIG off), "MIG_NOT_SUPPORTED"
 * for "No MIG-supported devices found.", otherwise null. The listing parsers read both as empty.
 */
export function noMigDevicesReason(output: string): 'MIG_DISABLED' | 'MIG_NOT_SUPPORTED' | null {
  for (const [pattern, reason] of NO_DEVICES) {
    if (pattern.test(output)) return reason as 'MIG_DISABLED' | 'MIG_NOT_SUPPORTED';
  }
  return null;
}

/**
 * The data rows of a boxed nvidia-smi table, split on `|` and whitespace: column widths changed
 * between drivers (and `-lci` gained a Placement column), so fixed offsets are not safe. Rows are
 * those whose first cell starts with a number (the GPU index, or the second line of a `-lgip`
 * profile); header rows start with words. `what` names the command in errors.
 */
function tableRows(output: string, what: string, header: RegExp): string[][] {
  const trimmed = output.trim();
  // "No MIG-enabled devices found." and the like: nothing to list.
  if (trimmed === '' || noMigDevicesReason(trimmed) !== null) return [];
  if (/^No\b[^\n]*\bfound\.?$/i.test(trimmed)) return [];
  if (!header.test(trimmed)) {
    throw new SmiParseError(what, `unrecognised output: ${JSON.stringify(trimmed.slice(0, 120))}`);
  }
  return trimmed
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('|') && /^\|\s*\d/.test(line))
    .map((line) =>
      line
        .replace(/^\||\|$/g, '')
        .trim()
        .split(/\s+/),
    );
}

function placementOf(token: string | undefined): { start: number; size: number } | null {
  const match = token === undefined ? null : /^(\d+):(\d+)$/.exec(token);
  return match ? { start: Number(match[1]), size: Number(match[2]) } : null;
}

function stripMig(tokens: string[]): string {
  return (tokens[0] === 'MIG' ? tokens.slice(1) : tokens).join(' ');
}

function requireInt(token: string | undefined, field: string): number {
  const value = integer(token ?? '', field);
  if (value === null) throw new SmiParseError(field, 'missing');
  return value;
}

/** Parses `nvidia-smi mig -lgip`; memory is converted from the printed GiB to MiB. */
export function parseGiProfiles(output: string): GiProfileListing[] {
  const rows = tableRows(output, 'mig -lgip', /^\|\s*GPU instance profiles:/m);
  const profiles: GiProfileListing[] = [];
  rows.forEach((tokens, row) => {
    const slash = tokens.findIndex((token) => /^\d+\/\d+$/.test(token));
    // The second line of each profile (CE / JPEG / OFA) has no Free/Total cell.
    if (slash === -1) return;
    const field = `mig -lgip[${profiles.length}]`;
    const [free, total] = (tokens[slash] ?? '').split('/');
    const memoryGiB = number(tokens[slash + 1], `${field}.memory`);
    if (memoryGiB === null || slash < 3) throw new SmiParseError(field, `row ${row} is incomplete`);
    const sm = tokens.slice(slash + 2).find((token) => /^\d+$/.test(token));
    profiles.push({
      gpuIndex: requireInt(tokens[0], `${field}.gpu`),
      name: stripMig(tokens.slice(1, slash - 1)),
      id: requireInt(tokens[slash - 1], `${field}.id`),
      instancesFree: requireInt(free, `${field}.free`),
      instancesTotal: requireInt(total, `${field}.total`),
      memoryMiB: gibToMiB(memoryGiB),
      multiprocessors: sm === undefined ? null : Number(sm),
    });
  });
  return profiles;
}

const PLACEMENT_LINE =
  /^GPU\s+(\d+)\s+Profile\s+ID\s+(\d+)\s+Placements?\s*:\s*\{([\d,\s]*)\}:(\d+)/;

/** Parses `nvidia-smi mig -lgipp` ("GPU  0 Profile ID 19 Placements: {0,1,2,3,4,5,6}:1"). */
export function parseGiPlacements(output: string): GiPlacementListing[] {
  if (noMigDevicesReason(output) !== null) return [];
  return output
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line, i) => {
      const match = PLACEMENT_LINE.exec(line);
      if (!match) {
        throw new SmiParseError(`mig -lgipp[${i}]`, `unrecognised line ${JSON.stringify(line)}`);
      }
      const size = Number(match[4]);
      const starts = (match[3] ?? '').split(',').filter((s) => s.trim() !== '');
      return {
        gpuIndex: Number(match[1]),
        profileId: Number(match[2]),
        placements: starts.map((start) => ({ start: Number(start), size })),
      };
    });
}

/** Parses `nvidia-smi mig -lgi`. */
export function parseGpuInstances(output: string): GpuInstanceListing[] {
  return tableRows(output, 'mig -lgi', /^\|\s*GPU instances:/m).map((tokens, i) => {
    const field = `mig -lgi[${i}]`;
    const placement = placementOf(tokens.at(-1));
    const ids = placement ? tokens.slice(0, -1) : tokens;
    if (ids.length < 4) throw new SmiParseError(field, 'row is incomplete');
    return {
      gpuIndex: requireInt(tokens[0], `${field}.gpu`),
      profile: stripMig(ids.slice(1, -2)),
      profileId: requireInt(ids.at(-2), `${field}.profileId`),
      gpuInstanceId: requireInt(ids.at(-1), `${field}.instanceId`),
      placement,
    };
  });
}

/** Parses `nvidia-smi mig -lci`, with or without the Placement column. */
export function parseComputeInstances(output: string): ComputeInstanceListing[] {
  return tableRows(output, 'mig -lci', /^\|\s*Compute instances:/m).map((tokens, i) => {
    const field = `mig -lci[${i}]`;
    const placement = placementOf(tokens.at(-1));
    const ids = placement ? tokens.slice(0, -1) : tokens;
    if (ids.length < 5) throw new SmiParseError(field, 'row is incomplete');
    return {
      gpuIndex: requireInt(tokens[0], `${field}.gpu`),
      gpuInstanceId: requireInt(tokens[1], `${field}.gpuInstanceId`),
      name: stripMig(ids.slice(2, -2)),
      profileId: requireInt(ids.at(-2), `${field}.profileId`),
      computeInstanceId: requireInt(ids.at(-1), `${field}.instanceId`),
      placement,
    };
  });
}

const GPU_LINE = /^GPU\s+(\d+):\s+(.*?)\s+\(UUID:\s*(GPU-[^)\s]+)\)\s*$/;
const MIG_LINE = /^MIG\s+(\S+)\s+Device\s+(\d+):\s+\(UUID:\s*(MIG-[^)\s]+)\)\s*$/;
const OLD_MIG_UUID = /^MIG-GPU-[^/]+\/(\d+)\/(\d+)$/;

/** Parses `nvidia-smi -L`: GPUs with their UUIDs and the MIG devices under each. */
export function parseDeviceList(output: string): ListedGpu[] {
  const gpus: ListedGpu[] = [];
  output.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    const gpu = GPU_LINE.exec(line);
    const mig = gpu ? null : MIG_LINE.exec(line);
    if (gpu) {
      gpus.push({ index: Number(gpu[1]), name: gpu[2] ?? '', uuid: gpu[3] ?? '', migDevices: [] });
    } else if (mig) {
      const parent = gpus.at(-1);
      if (!parent) throw new SmiParseError(`-L[${i}]`, 'MIG device listed before any GPU');
      const old = OLD_MIG_UUID.exec(mig[3] ?? '');
      parent.migDevices.push({
        name: mig[1] ?? '',
        deviceIndex: Number(mig[2]),
        uuid: mig[3] ?? '',
        gpuInstanceId: old ? Number(old[1]) : null,
        computeInstanceId: old ? Number(old[2]) : null,
      });
    } else if (/^(GPU|MIG)\s/.test(line)) {
      throw new SmiParseError(`-L[${i}]`, `unrecognised line ${JSON.stringify(line)}`);
    }
  });
  return gpus;
}

/** `nvidia-smi conf-compute -f` → "ON", "OFF", "DEVTOOLS"…; null when the output says nothing. */
export function parseConfComputeStatus(output: string): string | null {
  const match = /CC status:\s*([A-Za-z-]+)/i.exec(output);
  return match?.[1] ? match[1].toUpperCase() : null;
}
