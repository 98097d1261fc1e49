import { fileURLToPath } from 'node:url';
import type { Config } from '../../platform/config.ts';
import type { Logger } from '../../platform/logger.ts';
import { createNvidiaSmiSource } from '../collector/nvidia-smi-source.ts';
import { createReplaySource } from '../collector/replay-source.ts';
import { createSmiRunner } from '../collector/run-nvidia-smi.ts';
import type { GpuModelKey } from '../mig/profiles.ts';
import type { GpuSource } from '../model.ts';
import { createSimulatedSource, type SimulatedGpuOptions } from '../simulator/index.ts';

/** The capture replayed when GPU_SOURCE=replay names no directory: a real H100 node with MIG. */
export const defaultReplayDirectory = fileURLToPath(
  new URL('../fixtures/prickle-exporter/h100-mig-mixed-20260729', import.meta.url),
);

/** Parses GPU_SIMULATED_GPUS (`H100-80GB:mig,A100-40GB`). */
export function simulatedGpus(spec: string): SimulatedGpuOptions[] {
  return spec.split(',').map((entry) => {
    const [model, mig] = entry.split(':');
    return { model: model as GpuModelKey, migEnabled: mig === 'mig' };
  });
}

/** True when `nvidia-smi -L` answers: a driver and at least one GPU are there. */
export async function nvidiaSmiAvailable(config: Config): Promise<boolean> {
  const runner = createSmiRunner({ binary: config.NVIDIA_SMI_PATH, timeoutMs: 5_000 });
  try {
    return /^GPU \d+:/m.test(await runner.run(['-L']));
  } catch {
    return false;
  } finally {
    runner.close();
  }
}

/**
 * The source GPU_SOURCE asks for. `auto` takes nvidia-smi when it answers and the simulator
 * otherwise, and says which in the log, so a GPU machine whose driver is broken is not mistaken
 * for a simulated one silently.
 */
export async function createGpuSource(
  config: Config,
  hostname: string,
  logger: Logger,
): Promise<GpuSource> {
  let kind = config.GPU_SOURCE;
  if (kind === 'auto') {
    kind = (await nvidiaSmiAvailable(config)) ? 'nvidia-smi' : 'simulator';
    logger.info(
      { source: kind, nvidiaSmi: config.NVIDIA_SMI_PATH },
      kind === 'simulator'
        ? 'nvidia-smi not available: simulating GPUs'
        : 'reading GPUs with nvidia-smi',
    );
  }
  switch (kind) {
    case 'nvidia-smi':
      return createNvidiaSmiSource({
        hostname,
        binary: config.NVIDIA_SMI_PATH,
        timeoutMs: config.NVIDIA_SMI_TIMEOUT_MS,
        onWarning: (message, error) => logger.warn({ err: error }, message),
      });
    case 'replay':
      return createReplaySource({
        directory: config.GPU_REPLAY_DIR ?? defaultReplayDirectory,
        hostname,
      });
    default:
      return createSimulatedSource({ hostname, gpus: simulatedGpus(config.GPU_SIMULATED_GPUS) });
  }
}
