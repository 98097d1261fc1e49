import { MigCommandError, SmiCommandError, type MigFailureReason } from '../errors.ts';

/** A "Successfully created GPU instance …" line, with its compute instance when `-C` made one. */
export interface CreatedGpuInstance {
  gpuIndex: number;
  gpuInstanceId: number;
  /** "1g.10gb" */
  profile: string;
  profileId: number;
  computeInstanceId: number | null;
}

const GI_CREATED =
  /Successfully created GPU instance ID\s+(\d+)\s+on GPU\s+(\d+)\s+using profile MIG\s+(\S+)\s+\(ID\s+(\d+)\)/gi;
const CI_CREATED =
  /Successfully created compute instance ID\s+(\d+)\s+on GPU\s+(\d+)\s+GPU instance ID\s+(\d+)/gi;

/**
 * Parses the output of `nvidia-smi mig -cgi … [-C]`: one entry per GPU instance created, e.g.
 * "Successfully created GPU instance ID  5 on GPU  0 using profile MIG 1g.10gb (ID 19)" followed
 * by "Successfully created compute instance ID  0 on GPU  0 GPU instance ID  5 …".
 */
export function parseCreateOutput(output: string): CreatedGpuInstance[] {
  const created = [...output.matchAll(GI_CREATED)].map((m) => ({
    gpuIndex: Number(m[2]),
    gpuInstanceId: Number(m[1]),
    profile: m[3] ?? '',
    profileId: Number(m[4]),
    computeInstanceId: null as number | null,
  }));
  for (const m of output.matchAll(CI_CREATED)) {
    const gi = created.find((c) => c.gpuIndex === Number(m[2]) && c.gpuInstanceId === Number(m[3]));
    if (gi && gi.computeInstanceId === null) gi.computeInstanceId = Number(m[1]);
  }
  return created;
}

// Driver wording, matched case-insensitively: DCGM#95 quotes it lower-case. "Not Found" and
// "Invalid Argument" are NVML's own error strings, which nvidia-smi appends after a colon.
const REASONS: [RegExp, MigFailureReason][] = [
  [/insufficient resources/i, 'INSUFFICIENT_RESOURCES'],
  [/no mig-enabled devices found/i, 'MIG_DISABLED'],
  [/no mig-supported devices found/i, 'MIG_NOT_SUPPORTED'],
  [/in use by another client/i, 'IN_USE'],
  [/insufficient permissions|permission denied|must be run as root/i, 'PERMISSION_DENIED'],
  [/no devices were found|invalid gpu|unable to determine the device handle/i, 'GPU_NOT_FOUND'],
];

/** What the failed command was doing, to read NVML's generic "Not Found"/"Invalid Argument". */
export type MigOperation = 'create' | 'destroy';

/** The MigFailureReason for a driver message; COMMAND_FAILED when nothing matches. */
export function migFailureReason(message: string, operation: MigOperation): MigFailureReason {
  for (const [pattern, reason] of REASONS) if (pattern.test(message)) return reason;
  if (/:\s*(not found|invalid argument)\b/i.test(message)) {
    return operation === 'create' ? 'UNKNOWN_PROFILE' : 'INSTANCE_NOT_FOUND';
  }
  return 'COMMAND_FAILED';
}

/**
 * Turns a failed MIG command into a MigCommandError carrying NVIDIA's reason and words. A timeout
 * or a missing binary stays COMMAND_FAILED with the runner's message; MigCommandErrors pass through.
 */
export function toMigCommandError(error: unknown, operation: MigOperation): MigCommandError {
  if (error instanceof MigCommandError) return error;
  if (error instanceof SmiCommandError && error.kind === 'EXIT') {
    return new MigCommandError(migFailureReason(error.message, operation), error.message);
  }
  return new MigCommandError(
    'COMMAND_FAILED',
    error instanceof Error ? error.message : String(error),
  );
}
