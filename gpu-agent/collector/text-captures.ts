import { SmiParseError } from '../errors.ts';
import type { GpuProcessState } from '../model.ts';
import type { ParsedGpu, ParsedSmiLog } from './parse-smi-xml.ts';
import { parseQueryCsv } from './parse-query-csv.ts';
import { parseSmiTable } from './parse-smi-table.ts';
import { integer, number, text } from './smi-values.ts';

/** The `--query-gpu` fields a `query-gpu.csv` capture holds, in this order (noheader,nounits). */
export const QUERY_GPU_FIELDS = [
  'index',
  'uuid',
  'name',
  'utilization.gpu',
  'memory.used',
  'memory.total',
  'temperature.gpu',
  'power.draw',
] as const;

/** The `--query-compute-apps` fields of `query-compute-apps.csv` (noheader,nounits). */
export const QUERY_COMPUTE_APPS_FIELDS = [
  'gpu_uuid',
  'pid',
  'process_name',
  'used_gpu_memory',
] as const;

export interface TextCaptures {
  /** `nvidia-smi --query-gpu=<QUERY_GPU_FIELDS> --format=csv,noheader,nounits` */
  queryGpuCsv: string;
  /** Plain `nvidia-smi`. */
  smiTable: string;
  /** `nvidia-smi --query-compute-apps=<QUERY_COMPUTE_APPS_FIELDS> --format=csv,noheader,nounits` */
  computeAppsCsv?: string | null;
}

/**
 * Builds the `-q -x` view from captures that have no XML (the prickle-exporter trees): GPUs from
 * the CSV query, MIG mode, bus ids, MIG devices and process GI/CI from the default table, full
 * process names from the compute-apps CSV. What none of them carry (ECC, clocks, …) is null.
 */
export function parsedLogFromTextCaptures(captures: TextCaptures): ParsedSmiLog {
  const table = parseSmiTable(captures.smiTable);
  const rows = parseQueryCsv(captures.queryGpuCsv, QUERY_GPU_FIELDS);
  const apps = captures.computeAppsCsv
    ? parseQueryCsv(captures.computeAppsCsv, QUERY_COMPUTE_APPS_FIELDS, 'process_name')
    : [];
  const gpus = rows.map((row, i): ParsedGpu => {
    const field = (name: string) => `query-gpu[${i}].${name}`;
    const index = integer(row.index, field('index')) ?? i;
    const uuid = text(row.uuid);
    if (uuid === null) throw new SmiParseError(field('uuid'), 'missing');
    const tableGpu = table.gpus.find((g) => g.index === index);
    const fullNames = new Map(
      apps.filter((app) => app.gpu_uuid === uuid).map((app) => [app.pid, app.process_name]),
    );
    const processes: GpuProcessState[] = table.processes
      .filter((p) => p.gpuIndex === index)
      .map(({ gpuIndex: _gpuIndex, ...p }) => ({
        ...p,
        name: fullNames.get(String(p.pid)) ?? p.name,
      }));
    return {
      uuid,
      index,
      minorNumber: null,
      name: row.name ?? '',
      serial: null,
      vbiosVersion: null,
      pciBusId: tableGpu?.pciBusId ?? null,
      architecture: null,
      memoryTotalMiB: number(row['memory.total'], field('memory.total')),
      memoryUsedMiB: number(row['memory.used'], field('memory.used')),
      utilizationPercent: number(row['utilization.gpu'], field('utilization.gpu')),
      memoryUtilizationPercent: null,
      temperatureC: number(row['temperature.gpu'], field('temperature.gpu')),
      powerDrawW: number(row['power.draw'], field('power.draw')),
      powerLimitW: null,
      eccEnabled: null,
      eccErrors: null,
      retiredPages: null,
      remappedRows: null,
      clocks: { graphicsMHz: null, smMHz: null, memoryMHz: null, videoMHz: null },
      migMode: { current: tableGpu?.migEnabled === true, pending: tableGpu?.migEnabled === true },
      migCapable: tableGpu !== undefined && tableGpu.migEnabled !== null,
      migDevices: table.migDevices
        .filter((d) => d.gpuIndex === index)
        .map((d) => ({
          index: d.deviceIndex,
          gpuInstanceId: d.gpuInstanceId,
          computeInstanceId: d.computeInstanceId,
          memoryTotalMiB: d.memoryTotalMiB,
          memoryUsedMiB: d.memoryUsedMiB,
          multiprocessors: null,
        })),
      processes,
    };
  });
  return {
    driverVersion: table.driverVersion,
    cudaVersion: table.cudaVersion,
    timestamp: null,
    gpus,
  };
}
