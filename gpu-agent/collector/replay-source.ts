import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MigCommandError, SmiParseError } from '../errors.ts';
import type { GpuSource, NodeSnapshot } from '../model.ts';
import { buildSnapshot, type CollectedOutputs } from './build-snapshot.ts';
import {
  parseComputeInstances,
  parseConfComputeStatus,
  parseDeviceList,
  parseGiPlacements,
  parseGiProfiles,
  parseGpuInstances,
} from './parse-mig-listings.ts';
import { parseSmiXml, type ParsedSmiLog } from './parse-smi-xml.ts';
import { parsedLogFromTextCaptures } from './text-captures.ts';

export interface ReplaySourceOptions {
  /** A folder of captures named as in REPLAY_FILES. */
  directory: string;
  hostname: string;
  /** For tests. */
  now?: () => Date;
}

/**
 * File names a replay directory may hold. Every file but the state itself is optional.
 * - `*.xml`: `nvidia-smi -q -x` captures; with several, each collect() serves the next (by name).
 * - Without any XML: `query-gpu.csv` + `smi.txt` (+ `query-compute-apps.csv`), see text-captures.ts.
 */
export const REPLAY_FILES = {
  profiles: 'mig-profiles.txt', // nvidia-smi mig -lgip
  placements: 'mig-placements.txt', // nvidia-smi mig -lgipp
  gpuInstances: 'mig-gi.txt', // nvidia-smi mig -lgi
  computeInstances: 'mig-ci.txt', // nvidia-smi mig -lci
  devices: 'gpus.txt', // nvidia-smi -L
  confCompute: 'conf-compute.txt', // nvidia-smi conf-compute -f
  queryGpu: 'query-gpu.csv',
  smiTable: 'smi.txt',
  computeApps: 'query-compute-apps.csv',
} as const;

async function readOptional(directory: string, name: string): Promise<string | null> {
  try {
    return await readFile(join(directory, name), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

function parseOptional<T>(content: string | null, parse: (text: string) => T): T | null {
  return content === null ? null : parse(content);
}

/**
 * A read-only GpuSource that serves recorded captures (REPLAY_FILES): for demos, tests and nodes
 * without GPUs. Files are read on every collect(), so a directory can be edited while it runs.
 * MIG changes are refused with MigCommandError('COMMAND_FAILED').
 */
export function createReplaySource(options: ReplaySourceOptions): GpuSource {
  const { directory } = options;
  const now = options.now ?? (() => new Date());
  let next = 0;

  async function readLog(): Promise<ParsedSmiLog> {
    const xmlFiles = (await readdir(directory)).filter((name) => name.endsWith('.xml')).sort();
    if (xmlFiles.length > 0) {
      const name = xmlFiles[next % xmlFiles.length] ?? '';
      next += 1;
      return parseSmiXml(await readFile(join(directory, name)));
    }
    const queryGpuCsv = await readOptional(directory, REPLAY_FILES.queryGpu);
    const smiTable = await readOptional(directory, REPLAY_FILES.smiTable);
    if (queryGpuCsv === null || smiTable === null) {
      throw new SmiParseError(
        'replay',
        `${directory} has neither a -q -x XML nor ${REPLAY_FILES.queryGpu} + ${REPLAY_FILES.smiTable}`,
      );
    }
    const computeAppsCsv = await readOptional(directory, REPLAY_FILES.computeApps);
    return parsedLogFromTextCaptures({ queryGpuCsv, smiTable, computeAppsCsv });
  }

  async function collect(): Promise<NodeSnapshot> {
    const read = (name: string) => readOptional(directory, name);
    const outputs: CollectedOutputs = {
      log: await readLog(),
      profiles: parseOptional(await read(REPLAY_FILES.profiles), parseGiProfiles),
      placements: parseOptional(await read(REPLAY_FILES.placements), parseGiPlacements),
      gpuInstances: parseOptional(await read(REPLAY_FILES.gpuInstances), parseGpuInstances),
      computeInstances: parseOptional(
        await read(REPLAY_FILES.computeInstances),
        parseComputeInstances,
      ),
      devices: parseOptional(await read(REPLAY_FILES.devices), parseDeviceList),
      confidentialComputeMode: parseOptional(
        await read(REPLAY_FILES.confCompute),
        parseConfComputeStatus,
      ),
    };
    return buildSnapshot(outputs, {
      hostname: options.hostname,
      source: 'replay',
      collectedAt: now(),
    });
  }

  const readOnly = () =>
    Promise.reject(new MigCommandError('COMMAND_FAILED', 'replay source is read-only'));

  return {
    kind: 'replay',
    collect,
    createMigInstance: readOnly,
    destroyMigInstance: readOnly,
    close: () => Promise.resolve(),
  };
}
