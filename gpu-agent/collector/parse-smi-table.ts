import { SmiParseError } from '../errors.ts';
import type { GpuProcessState } from '../model.ts';
import { integer, number, text } from './smi-values.ts';

/** A row of the "MIG devices:" box of plain `nvidia-smi`. */
export interface TableMigDevice {
  gpuIndex: number;
  gpuInstanceId: number;
  computeInstanceId: number;
  /** The `MIG Dev` column: the `Device N` of `nvidia-smi -L`. */
  deviceIndex: number;
  memoryUsedMiB: number | null;
  memoryTotalMiB: number | null;
}

export interface TableProcess extends GpuProcessState {
  gpuIndex: number;
}

/** A GPU row of the first box: what the CSV queries of the captures lack. */
export interface TableGpu {
  index: number;
  pciBusId: string | null;
  /** The "MIG M." cell: true "Enabled", false "Disabled", null "N/A" (not MIG-capable). */
  migEnabled: boolean | null;
}

/** What the default `nvidia-smi` table adds to CSV captures: MIG device ids and process GI/CI. */
export interface SmiTable {
  driverVersion: string | null;
  cudaVersion: string | null;
  gpus: TableGpu[];
  migDevices: TableMigDevice[];
  processes: TableProcess[];
}

/** Lines of the box that follows the line containing `title`, up to the first blank line. */
function section(output: string, title: string): string[] {
  const lines = output.split('\n');
  const start = lines.findIndex((line) => line.includes(title));
  if (start === -1) return [];
  const end = lines.findIndex((line, i) => i > start && line.trim() === '');
  return lines.slice(start + 1, end === -1 ? undefined : end);
}

/** Cells of a `| … | … |` row, trimmed. */
function cells(line: string): string[] {
  return line
    .trim()
    .replace(/^\||\|$/g, '')
    .split('|')
    .map((cell) => cell.trim());
}

function readGpus(output: string): TableGpu[] {
  const lines = output.split('\n');
  const gpus: TableGpu[] = [];
  // Each GPU takes three lines: index/name/bus id, then usage, then the MIG mode in the last cell.
  lines.forEach((line, i) => {
    const row = cells(line);
    const first = /^(\d+)\s+\S/.exec(row[0] ?? '');
    const bus = /^([0-9A-Fa-f]+:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-9A-Fa-f])\b/.exec(row[1] ?? '');
    if (!first || !bus) return;
    const mig = text(cells(lines[i + 2] ?? '').at(-1));
    gpus.push({
      index: Number(first[1]),
      pciBusId: bus[1] ?? null,
      migEnabled: mig === null ? null : mig === 'Enabled',
    });
  });
  return gpus;
}

function readMigDevices(output: string): TableMigDevice[] {
  const devices: TableMigDevice[] = [];
  for (const line of section(output, 'MIG devices:')) {
    const [ids, memory] = cells(line);
    const idTokens = ids?.split(/\s+/) ?? [];
    // Each device spans several lines; only the first has the ids (the next one is BAR1).
    if (idTokens.length !== 4 || !idTokens.every((token) => /^\d+$/.test(token))) continue;
    const field = `nvidia-smi MIG devices[${devices.length}]`;
    const usage = /^(\S+)\s*\/\s*(\S+)$/.exec(memory ?? '');
    const [gpu, gi, ci, dev] = idTokens.map(Number) as [number, number, number, number];
    devices.push({
      gpuIndex: gpu,
      gpuInstanceId: gi,
      computeInstanceId: ci,
      deviceIndex: dev,
      memoryUsedMiB: usage ? number(usage[1], `${field}.memoryUsed`) : null,
      memoryTotalMiB: usage ? number(usage[2], `${field}.memoryTotal`) : null,
    });
  }
  return devices;
}

function readProcesses(output: string): TableProcess[] {
  const processes: TableProcess[] = [];
  for (const line of section(output, 'Processes:')) {
    const tokens = (cells(line)[0] ?? '').split(/\s+/);
    // Header rows start with words; "No running processes found" has no PID.
    if (tokens.length < 7 || !/^\d+$/.test(tokens[0] ?? '') || !/^\d+$/.test(tokens[3] ?? '')) {
      continue;
    }
    const field = `nvidia-smi Processes[${processes.length}]`;
    processes.push({
      gpuIndex: Number(tokens[0]),
      gpuInstanceId: integer(tokens[1], `${field}.gi`),
      computeInstanceId: integer(tokens[2], `${field}.ci`),
      pid: Number(tokens[3]),
      type: text(tokens[4]),
      name: tokens.slice(5, -1).join(' '),
      usedMemoryMiB: number(tokens.at(-1), `${field}.memory`),
    });
  }
  return processes;
}

/**
 * Parses the default `nvidia-smi` table for what the CSV queries lack: which GI/CI each MIG device
 * number is, MIG memory use, and the GI/CI of each process. Used for captures that have no
 * `-q -x` XML. Throws SmiParseError when the banner is missing.
 */
export function parseSmiTable(output: string): SmiTable {
  const banner = /Driver Version:\s*(\S+)\s+CUDA Version:\s*(\S+)/.exec(output);
  if (!banner) throw new SmiParseError('nvidia-smi', 'no "Driver Version" banner');
  return {
    driverVersion: text(banner[1]),
    cudaVersion: text(banner[2]),
    gpus: readGpus(output),
    migDevices: readMigDevices(output),
    processes: readProcesses(output),
  };
}
