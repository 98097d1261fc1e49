import { SmiParseError } from '../errors.ts';
import type { EccCounts, GpuProcessState, GpuState } from '../model.ts';
import { flag, integer, isAbsentToken, number, text } from './smi-values.ts';
import {
  at,
  children,
  readSmiXmlDocument,
  textAt,
  type XmlElement,
  type XmlValue,
} from './xml-document.ts';

/** One `<mig_device>`: the XML carries ids and memory, but no profile name and no MIG UUID. */
export interface ParsedMigDevice {
  /** MIG device index on its GPU: the `Device N` of `nvidia-smi -L`. */
  index: number | null;
  gpuInstanceId: number;
  computeInstanceId: number | null;
  memoryTotalMiB: number | null;
  memoryUsedMiB: number | null;
  multiprocessors: number | null;
}

/**
 * A GPU as `-q -x` describes it. MIG profiles, instance names/UUIDs and the confidential-computing
 * mode come from other commands and are joined later (build-snapshot.ts).
 */
export interface ParsedGpu extends Omit<
  GpuState,
  'memoryTotalMiB' | 'migProfiles' | 'migInstances' | 'confidentialComputeMode'
> {
  /** null when the driver could not read it (a lost GPU reports "GPU is lost"). */
  memoryTotalMiB: number | null;
  /** /dev/nvidiaN; differs from the nvidia-smi index inside containers that see a subset. */
  minorNumber: number | null;
  /** The GPU reports a MIG mode at all (`mig_mode` is not N/A). */
  migCapable: boolean;
  migDevices: ParsedMigDevice[];
}

export interface ParsedSmiLog {
  driverVersion: string | null;
  cudaVersion: string | null;
  /** As nvidia-smi prints it (ctime, e.g. "Fri Aug  4 11:44:30 2023"). */
  timestamp: string | null;
  gpus: ParsedGpu[];
}

export interface ParseSmiXmlOptions {
  /** Reject larger input before parsing; defaults to 16 MiB. */
  maxBytes?: number;
}

/** Reads values off one element, naming the element path in any SmiParseError. */
class Reader {
  constructor(
    private readonly node: XmlValue | undefined,
    private readonly prefix: string,
  ) {}

  /** The first of `paths` that holds a real value: new element names first, then the old. */
  private first(paths: string[]): { raw: string; field: string } | null {
    for (const path of paths) {
      const raw = textAt(this.node, path);
      if (raw !== undefined && !isAbsentToken(raw)) {
        return { raw, field: `${this.prefix}.${path.replaceAll('/', '.')}` };
      }
    }
    return null;
  }

  text(...paths: string[]): string | null {
    return text(this.first(paths)?.raw);
  }

  number(...paths: string[]): number | null {
    const hit = this.first(paths);
    return hit ? number(hit.raw, hit.field) : null;
  }

  integer(...paths: string[]): number | null {
    const hit = this.first(paths);
    return hit ? integer(hit.raw, hit.field) : null;
  }

  flag(...paths: string[]): boolean | null {
    const hit = this.first(paths);
    return hit ? flag(hit.raw, hit.field) : null;
  }

  /** Sum of the parts that are present; null when none is. */
  sum(...paths: string[]): number | null {
    const values = paths.map((path) => this.integer(path)).filter((v): v is number => v !== null);
    return values.length === 0 ? null : values.reduce((a, b) => a + b, 0);
  }
}

function allNull(record: Record<string, unknown>): boolean {
  return Object.values(record).every((value) => value === null);
}

function readEcc(r: Reader): EccCounts | null {
  // Ampere+ splits SRAM/DRAM (and, from 570, SRAM parity/SECDED); Pascal–Turing on older drivers
  // report single_bit/double_bit totals.
  const corrected = (scope: string) =>
    r.sum(`ecc_errors/${scope}/sram_correctable`, `ecc_errors/${scope}/dram_correctable`) ??
    r.integer(`ecc_errors/${scope}/single_bit/total`);
  const uncorrected = (scope: string) =>
    r.sum(
      `ecc_errors/${scope}/sram_uncorrectable`,
      `ecc_errors/${scope}/sram_uncorrectable_parity`,
      `ecc_errors/${scope}/sram_uncorrectable_secded`,
      `ecc_errors/${scope}/dram_uncorrectable`,
    ) ?? r.integer(`ecc_errors/${scope}/double_bit/total`);
  const counts: EccCounts = {
    volatileCorrected: corrected('volatile'),
    volatileUncorrected: uncorrected('volatile'),
    aggregateCorrected: corrected('aggregate'),
    aggregateUncorrected: uncorrected('aggregate'),
  };
  return allNull({ ...counts }) ? null : counts;
}

function readRetiredPages(r: Reader): GpuState['retiredPages'] {
  const pages = {
    singleBit: r.integer('retired_pages/multiple_single_bit_retirement/retired_count'),
    doubleBit: r.integer('retired_pages/double_bit_retirement/retired_count'),
    pending: r.flag('retired_pages/pending_retirement'),
  };
  return allNull(pages) ? null : pages;
}

function readRemappedRows(r: Reader): GpuState['remappedRows'] {
  // Pre-Ampere and consumer GPUs print the text N/A in place of the children.
  const rows = {
    correctable: r.integer('remapped_rows/remapped_row_corr'),
    uncorrectable: r.integer('remapped_rows/remapped_row_unc'),
    pending: r.flag('remapped_rows/remapped_row_pending'),
    failure: r.flag('remapped_rows/remapped_row_failure'),
  };
  return allNull(rows) ? null : rows;
}

function readMigDevices(gpu: XmlElement, prefix: string): ParsedMigDevice[] {
  // `<mig_devices>None</mig_devices>` when MIG is on but nothing is created.
  return children(at(gpu, 'mig_devices'), 'mig_device').map((device, i) => {
    const r = new Reader(device, `${prefix}.mig_devices.mig_device[${i}]`);
    const gpuInstanceId = r.integer('gpu_instance_id');
    if (gpuInstanceId === null) {
      throw new SmiParseError(`${prefix}.mig_devices.mig_device[${i}].gpu_instance_id`, 'missing');
    }
    return {
      index: r.integer('index'),
      gpuInstanceId,
      computeInstanceId: r.integer('compute_instance_id'),
      memoryTotalMiB: r.number('fb_memory_usage/total'),
      memoryUsedMiB: r.number('fb_memory_usage/used'),
      multiprocessors: r.integer('device_attributes/shared/multiprocessor_count'),
    };
  });
}

function readProcesses(gpu: XmlElement, prefix: string): GpuProcessState[] {
  return children(at(gpu, 'processes'), 'process_info').flatMap((info, i) => {
    const r = new Reader(info, `${prefix}.processes.process_info[${i}]`);
    const pid = r.integer('pid');
    if (pid === null) return [];
    return [
      {
        pid,
        name: r.text('process_name') ?? '',
        type: r.text('type'),
        usedMemoryMiB: r.number('used_memory'),
        gpuInstanceId: r.integer('gpu_instance_id'),
        computeInstanceId: r.integer('compute_instance_id'),
      },
    ];
  });
}

function readGpu(gpu: XmlElement, index: number): ParsedGpu {
  const prefix = `gpu[${index}]`;
  const r = new Reader(gpu, prefix);
  const uuid = r.text('uuid');
  if (uuid === null) throw new SmiParseError(`${prefix}.uuid`, 'missing');
  const migCurrent = r.flag('mig_mode/current_mig');
  const migPending = r.flag('mig_mode/pending_mig');
  const pciAttribute = typeof gpu['@id'] === 'string' ? text(gpu['@id']) : null;
  return {
    uuid,
    // nvidia-smi lists GPUs in its own index order, which `-i` and the GPU column of the MIG
    // listings use; minor_number is the device node and can differ (containers, trimmed output).
    index,
    minorNumber: r.integer('minor_number'),
    name: r.text('product_name') ?? '',
    serial: r.text('serial'),
    vbiosVersion: r.text('vbios_version'),
    pciBusId: r.text('pci/pci_bus_id') ?? pciAttribute,
    architecture: r.text('product_architecture'),
    memoryTotalMiB: r.number('fb_memory_usage/total'),
    memoryUsedMiB: r.number('fb_memory_usage/used'),
    utilizationPercent: r.number('utilization/gpu_util'),
    memoryUtilizationPercent: r.number('utilization/memory_util'),
    temperatureC: r.number('temperature/gpu_temp'),
    // 535 moved power under gpu_power_readings; ~570 dropped power_draw for average/instant.
    powerDrawW: r.number(
      'gpu_power_readings/power_draw',
      'gpu_power_readings/average_power_draw',
      'gpu_power_readings/instant_power_draw',
      'power_readings/power_draw',
      'power_readings/average_power_draw',
      'power_readings/instant_power_draw',
    ),
    // The enforced limit is what the GPU obeys; power_limit is only what was requested.
    powerLimitW: r.number(
      'gpu_power_readings/current_power_limit',
      'gpu_power_readings/enforced_power_limit',
      'power_readings/enforced_power_limit',
      'power_readings/current_power_limit',
      'power_readings/power_limit',
    ),
    eccEnabled: r.flag('ecc_mode/current_ecc'),
    eccErrors: readEcc(r),
    retiredPages: readRetiredPages(r),
    remappedRows: readRemappedRows(r),
    clocks: {
      graphicsMHz: r.number('clocks/graphics_clock'),
      smMHz: r.number('clocks/sm_clock'),
      memoryMHz: r.number('clocks/mem_clock'),
      videoMHz: r.number('clocks/video_clock'),
    },
    migMode: { current: migCurrent === true, pending: migPending === true },
    migCapable: migCurrent !== null || migPending !== null,
    migDevices: readMigDevices(gpu, prefix),
    processes: readProcesses(gpu, prefix),
  };
}

/**
 * Parses `nvidia-smi -q -x` output from any driver since R418 (DTD none/v10 … v13). Absent values
 * (`N/A`, `[Not Supported]`, "GPU is lost", …) become null, never 0; units are stripped. GPUs are
 * counted from the `<gpu>` elements, not `attached_gpus`, which trimmed captures contradict.
 * Throws SmiParseError naming the field for unusable input (see readSmiXmlDocument for the
 * document-level checks).
 */
export function parseSmiXml(xml: string | Buffer, options: ParseSmiXmlOptions = {}): ParsedSmiLog {
  const root = readSmiXmlDocument(xml, options.maxBytes);
  const r = new Reader(root, 'nvidia_smi_log');
  const gpus = children(root, 'gpu').map((gpu, index) => readGpu(gpu, index));
  const seen = new Set<string>();
  gpus.forEach((gpu) => {
    if (seen.has(gpu.uuid)) {
      throw new SmiParseError(`gpu[${gpu.index}].uuid`, `duplicate UUID ${gpu.uuid}`);
    }
    seen.add(gpu.uuid);
  });
  return {
    driverVersion: r.text('driver_version'),
    cudaVersion: r.text('cuda_version'),
    timestamp: r.text('timestamp'),
    gpus,
  };
}
