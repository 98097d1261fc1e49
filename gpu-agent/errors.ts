/** Why the driver (or the simulator, which follows it) refused a MIG change. */
export type MigFailureReason =
  /** "Insufficient Resources": no free placement for the profile. */
  | 'INSUFFICIENT_RESOURCES'
  /** "No MIG-enabled devices found.": MIG-capable GPU with MIG mode off. */
  | 'MIG_DISABLED'
  /** "No MIG-supported devices found.": the GPU cannot do MIG at all. */
  | 'MIG_NOT_SUPPORTED'
  /** "In use by another client": a process or handle holds the instance. */
  | 'IN_USE'
  /** The profile name or id does not exist on this GPU model. */
  | 'UNKNOWN_PROFILE'
  /** No GPU with that UUID on the node. */
  | 'GPU_NOT_FOUND'
  /** No GPU instance with that id on the GPU. */
  | 'INSTANCE_NOT_FOUND'
  /** "Insufficient Permissions" (e.g. a vGPU guest). */
  | 'PERMISSION_DENIED'
  /** Anything else nvidia-smi printed; the message carries its text. */
  | 'COMMAND_FAILED';

/** A refused MIG change, with NVIDIA's reason and the driver's own words where there are any. */
export class MigCommandError extends Error {
  constructor(
    readonly reason: MigFailureReason,
    message: string,
  ) {
    super(message);
    this.name = 'MigCommandError';
  }
}

/** Output of nvidia-smi that cannot be understood; `field` names where parsing stopped. */
export class SmiParseError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'SmiParseError';
  }
}

/** nvidia-smi did not answer in time, could not be started, or exited non-zero. */
export class SmiCommandError extends Error {
  constructor(
    readonly kind: 'TIMEOUT' | 'NOT_FOUND' | 'EXIT' | 'OUTPUT_TOO_LARGE',
    message: string,
    readonly stderr = '',
  ) {
    super(message);
    this.name = 'SmiCommandError';
  }
}
