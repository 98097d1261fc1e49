import { MigCommandError, SmiCommandError } from '../errors.ts';
import type { GpuSource, GpuState, MigInstanceState, NodeSnapshot } from '../model.ts';
import { buildSnapshot, type CollectedOutputs } from './build-snapshot.ts';
import { migFailureReason, parseCreateOutput, toMigCommandError } from './mig-command-output.ts';
import {
  parseComputeInstances,
  parseConfComputeStatus,
  parseDeviceList,
  parseGiPlacements,
  parseGiProfiles,
  parseGpuInstances,
  noMigDevicesReason,
} from './parse-mig-listings.ts';
import { parseSmiXml } from './parse-smi-xml.ts';
import { createSmiRunner, type SmiRunner } from './run-nvidia-smi.ts';

export interface NvidiaSmiSourceOptions {
  hostname: string;
  /** Path to nvidia-smi; default "nvidia-smi" looked up on /usr/bin and friends. */
  binary?: string;
  /** Limit per nvidia-smi command (telegraf uses 5 s); default 10 s. */
  timeoutMs?: number;
  maxOutputBytes?: number;
  /** Called when an optional listing fails and the snapshot goes out without it. */
  onWarning?: (message: string, error: unknown) => void;
  /** For tests. */
  now?: () => Date;
}

/**
 * A GpuSource that runs nvidia-smi: `-q -x`, then `mig -lgip`/`-lgipp` when a GPU is MIG-capable,
 * `mig -lgi`/`-lci` and `-L` when MIG is on, and `conf-compute -f`. A failing or hanging `-q -x`
 * fails the collection; a listing that fails (other than by timing out) is left out and reported
 * through onWarning, so one odd subcommand does not blank the node.
 */
export function createNvidiaSmiSource(options: NvidiaSmiSourceOptions): GpuSource {
  const runner: SmiRunner = createSmiRunner({
    binary: options.binary,
    timeoutMs: options.timeoutMs,
    maxOutputBytes: options.maxOutputBytes,
  });
  const now = options.now ?? (() => new Date());
  const warn = options.onWarning ?? (() => undefined);

  /** Runs a listing; null when it failed, [] when the driver says there is nothing to list. */
  async function listing<T>(args: string[], parse: (output: string) => T[]): Promise<T[] | null> {
    try {
      return parse(await runner.run(args));
    } catch (error) {
      // A hung driver would make every later command wait out its timeout too.
      if (error instanceof SmiCommandError && error.kind !== 'EXIT') throw error;
      if (error instanceof SmiCommandError && noMigDevicesReason(error.message) !== null) return [];
      warn(`nvidia-smi ${args.join(' ')} failed; snapshot sent without it`, error);
      return null;
    }
  }

  async function confidentialCompute(): Promise<string | null> {
    try {
      return parseConfComputeStatus(await runner.run(['conf-compute', '-f']));
    } catch (error) {
      if (error instanceof SmiCommandError && error.kind === 'TIMEOUT') throw error;
      // Drivers before R535 and GPUs without CC have no such subcommand: the mode is unknown.
      return null;
    }
  }

  async function collectOutputs(): Promise<CollectedOutputs> {
    const log = parseSmiXml(await runner.run(['-q', '-x']));
    const capable = log.gpus.some((gpu) => gpu.migCapable);
    const enabled = log.gpus.some((gpu) => gpu.migMode.current);
    const outputs: CollectedOutputs = { log };
    if (capable) {
      outputs.profiles = await listing(['mig', '-lgip'], parseGiProfiles);
      outputs.placements = await listing(['mig', '-lgipp'], parseGiPlacements);
    }
    if (enabled) {
      outputs.gpuInstances = await listing(['mig', '-lgi'], parseGpuInstances);
      outputs.computeInstances = await listing(['mig', '-lci'], parseComputeInstances);
      outputs.devices = await listing(['-L'], parseDeviceList);
    }
    outputs.confidentialComputeMode = await confidentialCompute();
    return outputs;
  }

  async function collect(): Promise<NodeSnapshot> {
    const outputs = await collectOutputs();
    return buildSnapshot(outputs, {
      hostname: options.hostname,
      source: 'nvidia-smi',
      collectedAt: now(),
    });
  }

  async function gpuByUuid(gpuUuid: string): Promise<GpuState> {
    const gpu = (await collect()).gpus.find((g) => g.uuid === gpuUuid);
    if (!gpu)
      throw new MigCommandError('GPU_NOT_FOUND', `no GPU ${gpuUuid} on ${options.hostname}`);
    return gpu;
  }

  /** The `-cgi` argument: the profile id, checked against `-lgip` where it was listed. */
  function profileArgument(gpu: GpuState, profile: string): string {
    const wanted = profile.trim().replace(/^MIG\s+/i, '');
    if (gpu.migProfiles.length === 0) return wanted;
    const match = gpu.migProfiles.find((p) => p.name === wanted || String(p.id) === wanted);
    if (!match) {
      const known = gpu.migProfiles.map((p) => `${p.name} (${p.id})`).join(', ');
      throw new MigCommandError(
        'UNKNOWN_PROFILE',
        `no profile ${profile} on ${gpu.name}; it has ${known}`,
      );
    }
    return String(match.id);
  }

  return {
    kind: 'nvidia-smi',
    collect,

    async createMigInstance(gpuUuid, profile) {
      const gpu = await gpuByUuid(gpuUuid);
      const index = String(gpu.index);
      let output: string;
      try {
        output = await runner.run([
          'mig',
          '-i',
          index,
          '-cgi',
          profileArgument(gpu, profile),
          '-C',
        ]);
      } catch (error) {
        // A GI made before its CI failed would otherwise be left behind, half created.
        const orphan =
          error instanceof SmiCommandError ? parseCreateOutput(error.message)[0] : undefined;
        if (orphan) {
          await runner
            .run(['mig', '-dgi', '-gi', String(orphan.gpuInstanceId), '-i', index])
            .catch(() => undefined);
        }
        throw toMigCommandError(error, 'create');
      }
      const created = parseCreateOutput(output)[0];
      if (!created) {
        // Exit status 0 without a success line: read the words anyway.
        const text = `nvidia-smi mig -cgi printed: ${output.trim()}`;
        throw new MigCommandError(migFailureReason(text, 'create'), text);
      }
      const fresh = (await gpuByUuid(gpuUuid)).migInstances.find(
        (i) =>
          i.gpuInstanceId === created.gpuInstanceId &&
          i.computeInstanceId === created.computeInstanceId,
      );
      return fresh ?? fromCreateOutput(created, gpu);
    },

    async destroyMigInstance(gpuUuid, gpuInstanceId) {
      const gpu = await gpuByUuid(gpuUuid);
      const instances = gpu.migInstances.filter((i) => i.gpuInstanceId === gpuInstanceId);
      if (gpu.migMode.current && instances.length === 0) {
        throw new MigCommandError(
          'INSTANCE_NOT_FOUND',
          `no GPU instance ${gpuInstanceId} on GPU ${gpu.index} (${gpuUuid})`,
        );
      }
      const target = ['-gi', String(gpuInstanceId), '-i', String(gpu.index)];
      try {
        // Compute instances first: -dgi on a GI that still has one is "In use by another client".
        if (instances.some((i) => i.computeInstanceId !== null)) {
          await runner.run(['mig', '-dci', ...target]);
        }
        await runner.run(['mig', '-dgi', ...target]);
      } catch (error) {
        throw toMigCommandError(error, 'destroy');
      }
    },

    close() {
      runner.close();
      return Promise.resolve();
    },
  };
}

/** The instance as the create output describes it, for when the re-read does not show it yet. */
function fromCreateOutput(
  created: ReturnType<typeof parseCreateOutput>[number],
  gpu: GpuState,
): MigInstanceState {
  const profile = gpu.migProfiles.find((p) => p.id === created.profileId);
  return {
    gpuInstanceId: created.gpuInstanceId,
    computeInstanceId: created.computeInstanceId,
    profile: created.profile,
    profileId: created.profileId,
    memoryMiB: profile?.memoryMiB ?? 0,
    memoryUsedMiB: null,
    uuid: null,
    placement: null,
    utilizationPercent: null,
  };
}
