/**
 * Where a GPU allocation goes: a whole GPU, or a MIG GPU instance on the 8-unit memory-slice
 * placement axis (see `gpu-agent/mig/placement.ts`). Pure: callers load the fleet's capacity
 * (live MIG layout from the gpu-agents, ranges held by active allocations) and apply the choice.
 *
 * Two allocations conflict exactly when their ranges overlap on that axis, so the whole problem is
 * one-dimensional bin packing per GPU. The ranking is best-fit: reuse idle instances (no
 * reconfiguration), then the board where the profile takes the fewest slots (a profile name means
 * different sizes on different boards: 1g.10gb is one slice of an H100 but two of an A100-40GB),
 * then the tightest GPU and, on it, the placement that keeps the largest block free, so that big
 * profiles (4g, 7g, whole GPUs) still find room later.
 */
import {
  GPU_MODELS,
  type GpuInstanceProfile,
  type GpuModelSpec,
} from '../../../gpu-agent/mig/profiles.ts';

/** The word a caller uses for a whole (non-MIG) GPU. */
export const WHOLE_GPU = 'GPU';

/** A span on the placement axis; `{start, size}` as `nvidia-smi mig -lgipp` prints `start:size`. */
export interface PlacedRange {
  start: number;
  size: number;
}

/** What one GPU can still take: the input the ranking works on, one per GPU in the fleet. */
export interface GpuCapacity {
  nodeId: string;
  hostname: string;
  gpuUuid: string;
  index: number;
  /** The board's model (from its product name); null for a board we have no MIG tables for. */
  model: GpuModelSpec | null;
  online: boolean;
  migEnabled: boolean;
  /** MIG GPU instances that exist on the GPU now (the live layout from the gpu-agent). */
  instances: { gpuInstanceId: number; profile: string; start: number; size: number }[];
  /** Ranges held by active allocations (a whole-GPU allocation holds {start:0,size:slots}). */
  booked: PlacedRange[];
}

/** What the user asked for, before it is resolved against each GPU's model. */
export interface PlacementRequest {
  /** WHOLE_GPU, or a MIG profile name as nvidia-smi prints it ("1g.10gb", "3g.40gb", "1g.10gb+me", "1g.20gb", ...) or its numeric profile id as a string ("19"). Case-insensitive. */
  profile: string;
  nodeId?: string | null;
}

/** One feasible place for a request: enough for the caller to book it and tell the gpu-agent. */
export interface PlacementChoice {
  nodeId: string;
  hostname: string;
  gpuUuid: string;
  gpuIndex: number;
  /** Canonical profile name (the model's name for it), or WHOLE_GPU. */
  profile: string;
  start: number;
  size: number;
  /** The existing MIG instance this choice reuses; null when an instance would have to be created (or whole GPU). */
  gpuInstanceId: number | null;
  memoryMiB: number;
}

/** Every 7-compute-slice board has 8 memory slices; unknown boards get the same so whole-GPU bookings still measure the same. */
const DEFAULT_SLOTS = 8;

/** Placement slots on the axis: 8 for every known model (A100/H100/H200) and for unknown boards. */
export function gpuSlots(gpu: GpuCapacity): number {
  return gpu.model?.placementUnits ?? DEFAULT_SLOTS;
}

/**
 * Resolves a request's profile against a model; null when the model has no such profile. Names
 * differ between models ("1g.10gb" on H100 is "1g.5gb" on A100-40GB) while lgip ids agree, so a
 * caller may pass either; the "MIG " prefix nvidia-smi puts on device names is accepted too.
 */
export function resolveProfile(model: GpuModelSpec, profile: string): GpuInstanceProfile | null {
  const key = `${model.key}\u0000${profile}`;
  const cached = resolved.get(key);
  if (cached !== undefined) return cached;
  const found = lookUpProfile(model, profile);
  if (resolved.size > 10_000) resolved.clear();
  resolved.set(key, found);
  return found;
}

/** Profile look-ups by (model, text): the same few pairs are resolved per GPU per request. */
const resolved = new Map<string, GpuInstanceProfile | null>();

function lookUpProfile(model: GpuModelSpec, profile: string): GpuInstanceProfile | null {
  const text = profile
    .trim()
    .replace(/^MIG\s+/i, '')
    .toLowerCase();
  if (/^\d+$/.test(text)) return model.profiles.find((p) => p.id === Number(text)) ?? null;
  return model.profiles.find((p) => p.name.toLowerCase() === text) ?? null;
}

function overlaps(a: PlacedRange, b: PlacedRange): boolean {
  return a.start < b.start + b.size && b.start < a.start + a.size;
}

function overlapsAny(range: PlacedRange, others: readonly PlacedRange[]): boolean {
  return others.some((other) => overlaps(range, other));
}

/**
 * Which slots are taken, as a bit mask (bit n = slot n; the axis has 8 slots): ranking scores
 * thousands of candidates per request over a large fleet, and masks make each score a few integer
 * operations instead of arrays to allocate. Clipped to the axis so a malformed range cannot
 * inflate the counts.
 */
function takenMask(slots: number, ranges: readonly PlacedRange[]): number {
  let mask = 0;
  for (const range of ranges) {
    for (
      let slot = Math.max(0, range.start);
      slot < Math.min(slots, range.start + range.size);
      slot++
    ) {
      mask |= 1 << slot;
    }
  }
  return mask;
}

function freeCount(mask: number, slots: number): number {
  let free = 0;
  for (let slot = 0; slot < slots; slot++) if ((mask & (1 << slot)) === 0) free++;
  return free;
}

function largestFreeBlock(mask: number, slots: number): number {
  let best = 0;
  let run = 0;
  for (let slot = 0; slot < slots; slot++) {
    run = (mask & (1 << slot)) === 0 ? run + 1 : 0;
    if (run > best) best = run;
  }
  return best;
}

/** A choice with the numbers the ranking compares. */
interface Candidate {
  choice: PlacementChoice;
  reuse: boolean;
  freeAfter: number;
  largestBlockAfter: number;
}

function isWholeGpu(profile: string): boolean {
  return profile.trim().toLowerCase() === WHOLE_GPU.toLowerCase();
}

function candidate(gpu: GpuCapacity, choice: PlacementChoice, reuse: boolean): Candidate {
  const slots = gpuSlots(gpu);
  const taken = takenMask(slots, gpu.booked) | takenMask(slots, [choice]);
  return {
    choice,
    reuse,
    freeAfter: freeCount(taken, slots),
    largestBlockAfter: largestFreeBlock(taken, slots),
  };
}

function baseChoice(gpu: GpuCapacity) {
  return {
    nodeId: gpu.nodeId,
    hostname: gpu.hostname,
    gpuUuid: gpu.gpuUuid,
    gpuIndex: gpu.index,
  };
}

/** A whole GPU needs MIG off (a MIG-mode GPU cannot run a plain CUDA job) and nothing else on it. */
function wholeGpuCandidates(gpu: GpuCapacity): Candidate[] {
  if (gpu.migEnabled || gpu.booked.length > 0) return [];
  const choice: PlacementChoice = {
    ...baseChoice(gpu),
    profile: WHOLE_GPU,
    start: 0,
    size: gpuSlots(gpu),
    gpuInstanceId: null,
    memoryMiB: gpu.model?.memoryTotalMiB ?? 0,
  };
  return [candidate(gpu, choice, false)];
}

/** Idle instances of the same profile: taking one needs no `-cgi`, so nothing is reconfigured. */
function reuseCandidates(
  gpu: GpuCapacity,
  model: GpuModelSpec,
  profile: GpuInstanceProfile,
): Candidate[] {
  return gpu.instances
    .filter((instance) => resolveProfile(model, instance.profile)?.name === profile.name)
    .filter((instance) => !overlapsAny(instance, gpu.booked))
    .map((instance) =>
      candidate(
        gpu,
        {
          ...baseChoice(gpu),
          profile: profile.name,
          start: instance.start,
          size: instance.size,
          gpuInstanceId: instance.gpuInstanceId,
          memoryMiB: profile.memoryMiB,
        },
        true,
      ),
    );
}

/** The driver allows one media-extension (`+me`) instance per GPU, whatever its placement. */
function mediaExtensionsTaken(gpu: GpuCapacity, model: GpuModelSpec): boolean {
  return gpu.instances.some((i) => resolveProfile(model, i.profile)?.mediaExtensions === true);
}

/** New instances go where the driver allows the profile and nothing (instance or booking) sits. */
function createCandidates(
  gpu: GpuCapacity,
  model: GpuModelSpec,
  profile: GpuInstanceProfile,
): Candidate[] {
  if (profile.mediaExtensions && mediaExtensionsTaken(gpu, model)) return [];
  return profile.placements
    .filter((p) => !overlapsAny(p, gpu.instances) && !overlapsAny(p, gpu.booked))
    .map((p) =>
      candidate(
        gpu,
        {
          ...baseChoice(gpu),
          profile: profile.name,
          start: p.start,
          size: p.size,
          gpuInstanceId: null,
          memoryMiB: profile.memoryMiB,
        },
        false,
      ),
    );
}

function migCandidates(gpu: GpuCapacity, request: PlacementRequest): Candidate[] {
  if (!gpu.migEnabled || !gpu.model) return [];
  const profile = resolveProfile(gpu.model, request.profile);
  if (!profile) return [];
  return [
    ...reuseCandidates(gpu, gpu.model, profile),
    ...createCandidates(gpu, gpu.model, profile),
  ];
}

function gpuCandidates(gpu: GpuCapacity, request: PlacementRequest): Candidate[] {
  if (!gpu.online) return [];
  if (request.nodeId != null && gpu.nodeId !== request.nodeId) return [];
  return isWholeGpu(request.profile) ? wholeGpuCandidates(gpu) : migCandidates(gpu, request);
}

/** Best-fit order (module comment); the trailing keys only make equal candidates deterministic. */
function compareCandidates(a: Candidate, b: Candidate): number {
  return (
    Number(b.reuse) - Number(a.reuse) ||
    a.choice.size - b.choice.size ||
    a.freeAfter - b.freeAfter ||
    b.largestBlockAfter - a.largestBlockAfter ||
    a.choice.hostname.localeCompare(b.choice.hostname) ||
    a.choice.gpuIndex - b.choice.gpuIndex ||
    a.choice.start - b.choice.start ||
    a.choice.gpuUuid.localeCompare(b.choice.gpuUuid)
  );
}

/** Every feasible choice for the request over the fleet, best first (see ranking below). Empty when nothing fits. Never returns a choice whose range overlaps a booked range. */
export function rankPlacements(
  fleet: readonly GpuCapacity[],
  request: PlacementRequest,
): PlacementChoice[] {
  return fleet
    .flatMap((gpu) => gpuCandidates(gpu, request))
    .sort(compareCandidates)
    .map((c) => c.choice);
}

/** The best choice or null; null also for a profile no GPU's model knows (the caller's BAD_USER_INPUT). */
export function choosePlacement(
  fleet: readonly GpuCapacity[],
  request: PlacementRequest,
): PlacementChoice | null {
  // One pass keeping the best: a burst of requests over hundreds of GPUs calls this per request,
  // and sorting every candidate each time was most of an allocation's CPU.
  let best: Candidate | null = null;
  for (const gpu of fleet) {
    for (const c of gpuCandidates(gpu, request)) {
      if (!best || compareCandidates(c, best) < 0) best = c;
    }
  }
  return best?.choice ?? null;
}

/**
 * Whether any GPU could ever take the request, bookings aside: false means the profile is unknown
 * to the fleet (or names the whole GPU where every GPU has MIG on), a caller's error rather than a
 * full fleet.
 */
export function offersProfile(fleet: readonly GpuCapacity[], request: PlacementRequest): boolean {
  const whole = isWholeGpu(request.profile);
  return fleet.some(
    (gpu) =>
      gpu.online &&
      (request.nodeId == null || gpu.nodeId === request.nodeId) &&
      (whole
        ? !gpu.migEnabled
        : gpu.migEnabled &&
          gpu.model !== null &&
          resolveProfile(gpu.model, request.profile) !== null),
  );
}

/** Fleet fragmentation after allocations: freeSlots (unbooked slots on online GPUs), partiallyBookedGpus (GPUs with some but not all slots booked), emptyGpus, and `fragmentation` = 1 - (sum over GPUs of the largest contiguous free block) / freeSlots (0 when freeSlots is 0): 0 means every GPU's free space is one block. */
export function fragmentation(fleet: readonly GpuCapacity[]): {
  freeSlots: number;
  partiallyBookedGpus: number;
  emptyGpus: number;
  fragmentation: number;
} {
  let freeSlots = 0;
  let largestBlocks = 0;
  let partiallyBookedGpus = 0;
  let emptyGpus = 0;
  for (const gpu of fleet.filter((g) => g.online)) {
    const slots = gpuSlots(gpu);
    const taken = takenMask(slots, gpu.booked);
    const free = freeCount(taken, slots);
    freeSlots += free;
    largestBlocks += largestFreeBlock(taken, slots);
    if (free === slots) emptyGpus += 1;
    else if (free > 0) partiallyBookedGpus += 1;
  }
  return {
    freeSlots,
    partiallyBookedGpus,
    emptyGpus,
    fragmentation: freeSlots === 0 ? 0 : 1 - largestBlocks / freeSlots,
  };
}

/**
 * Returns a copy of the GPU with the choice's range booked (used by callers and the benchmark to
 * apply a choice). Throws for a choice made for another GPU or one that overlaps a booking: both
 * mean the caller applied a stale choice, which would double-book hardware.
 */
export function book(gpu: GpuCapacity, choice: PlacementChoice): GpuCapacity {
  if (choice.gpuUuid !== gpu.gpuUuid) {
    throw new Error(`choice for GPU ${choice.gpuUuid} applied to GPU ${gpu.gpuUuid}`);
  }
  const range = { start: choice.start, size: choice.size };
  if (overlapsAny(range, gpu.booked)) {
    throw new Error(`range ${range.start}:${range.size} is already booked on GPU ${gpu.gpuUuid}`);
  }
  return { ...gpu, booked: [...gpu.booked, range] };
}

function tokens(name: string): string[] {
  return name
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((t) => t.length > 0);
}

/**
 * Finds a GPU model by its product name (GpuModelSpec.productName, exact, else every part of the
 * model key, like "H100" and "80GB", as a whole word of the name, case-insensitive); null when
 * unknown. Whole words keep "RTX A1000" off the A100, and requiring the memory part keeps boards
 * with other MIG tables (H100 NVL, 94 GB) unknown: no placements beats wrong ones.
 */
export function modelForProductName(name: string): GpuModelSpec | null {
  const models = Object.values(GPU_MODELS);
  const exact = models.find((m) => m.productName === name.trim());
  if (exact) return exact;
  const words = new Set(tokens(name));
  return models.find((m) => tokens(m.key).every((part) => words.has(part))) ?? null;
}
