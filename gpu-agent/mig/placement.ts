/**
 * The MIG placement engine: which GPU-instance profiles still fit on a GPU, where the driver puts
 * the next one, and which GPU-instance id it gets. No I/O: the simulator and the tests drive it.
 *
 * Geometry. Placements live on the memory-slice axis that `nvidia-smi mig -lgipp` prints: 8 units
 * on 7-compute-slice GPUs (A100, H100, H200), where 7g is `{0}:8`, 4g `{0}:4`, 3g `{0,4}:4`, 2g
 * `{0,2,4}:2`, the double-memory 1g `{0,2,4,6}:2` and 1g `{0..6}:1`. Two instances conflict
 * exactly when their placements overlap on that axis; compute slices never run out first, because
 * no non-overlapping set of those placements holds more than 7 of them.
 *
 * Which placement the driver picks (inferred from every real sequence in the fixtures, see
 * `tests/gpu-agent/mig/placement.test.ts`): the free placement that leaves the most capacity,
 * that is the largest sum of lgip "Instances Free" over all profiles afterwards, ties going to
 * the lowest start. That reproduces `-cgi 19×7` → slices 6,4,5,0,1,2,3 (GI ids 13,11,12,7,8,9,10
 * on A100 and H100), a lone 3g at `4:4`, a lone 2g at `4:2`, and the MIG guide's failing
 * `-cgi 19,19,14,9`.
 *
 * GPU-instance ids follow the placement, not the creation order: the 8-unit axis is a binary tree
 * numbered like a heap (0 = the whole GPU, 1–2 the halves, 3–6 the quarters, 7–14 single slices),
 * and an instance gets the number of the node its placement covers. That is why seven 1g instances
 * get 7..13, 3g gets 1 (`0:4`) or 2 (`4:4`), 2g at `2:2` gets 4 and 2g at `4:2` gets 5, exactly as
 * the MIG guide and the prickle-exporter captures print. (One listing in the MIG guide shows the
 * two 3g ids the other way round; the creation messages printed next to it, and the H100 capture,
 * agree with the tree.)
 */
import { MigCommandError } from '../errors.ts';
import type { GpuInstanceProfile, MigPlacement } from './profiles.ts';

/** A GPU instance on the placement axis. */
export interface PlacedInstance {
  gpuInstanceId: number;
  profile: GpuInstanceProfile;
  placement: MigPlacement;
}

/** One lgip row's counts: how many more of the profile could be created now, of how many. */
export interface ProfileAvailability {
  profile: GpuInstanceProfile;
  instancesFree: number;
  instancesTotal: number;
}

/** A profile by name ("1g.10gb", also "MIG 1g.10gb") or lgip id (19 or "19"), or the profile. */
export type ProfileRef = string | number | GpuInstanceProfile;

/** An existing instance to load, e.g. from `-lgi`; the id defaults to the tree node's id. */
export interface ExistingInstance {
  profile: ProfileRef;
  placement: MigPlacement;
  gpuInstanceId?: number;
}

function mask(placement: MigPlacement): number {
  return ((1 << placement.size) - 1) << placement.start;
}

function samePlacement(a: MigPlacement, b: MigPlacement): boolean {
  return a.start === b.start && a.size === b.size;
}

/**
 * The GPU-instance id real drivers give a placement: its node number in the heap-ordered binary
 * tree over the placement axis (see the module comment). Placements that are not aligned
 * power-of-two blocks (none exist on the supported GPUs) get null.
 */
export function treeInstanceId(placement: MigPlacement, placementUnits: number): number | null {
  const { start, size } = placement;
  const isPowerOfTwo = size > 0 && (size & (size - 1)) === 0;
  if (!isPowerOfTwo || start % size !== 0 || start + size > placementUnits) return null;
  return placementUnits / size - 1 + start / size;
}

/** Formats a placement as lgipp does: `4:1`. */
export function formatPlacement(placement: MigPlacement): string {
  return `${placement.start}:${placement.size}`;
}

/**
 * The MIG layout of one GPU and the rules the driver applies to it. Mutating methods (`create`,
 * `remove`) change this engine only; queries never do.
 */
export class MigPlacementEngine {
  private readonly placed: PlacedInstance[] = [];
  private occupied = 0;

  /**
   * @param profiles the model's GPU-instance profiles (`GPU_MODELS[key].profiles`).
   * @param existing instances already on the GPU; validated like `create` with a placement.
   * @param placementUnits length of the placement axis (8 on 7-slice GPUs).
   */
  constructor(
    readonly profiles: readonly GpuInstanceProfile[],
    existing: readonly ExistingInstance[] = [],
    readonly placementUnits = 8,
  ) {
    for (const instance of existing) {
      this.create(instance.profile, instance.placement, instance.gpuInstanceId);
    }
  }

  /**
   * The profile a `-cgi` argument names: a name (with or without the "MIG " prefix) or a numeric
   * id. Throws MigCommandError('UNKNOWN_PROFILE') listing the valid profiles.
   */
  resolveProfile(ref: ProfileRef): GpuInstanceProfile {
    if (typeof ref === 'object') {
      const known = this.profiles.find((p) => p.id === ref.id && p.name === ref.name);
      if (known) return known;
      throw this.unknownProfile(ref.name);
    }
    const text = String(ref)
      .trim()
      .replace(/^MIG\s+/i, '');
    const found = /^\d+$/.test(text)
      ? this.profiles.find((p) => p.id === Number(text))
      : this.profiles.find((p) => p.name === text);
    if (!found) throw this.unknownProfile(String(ref));
    return found;
  }

  /** The instances on the GPU, in creation order (copies). */
  instances(): PlacedInstance[] {
    return this.placed.map((i) => ({ ...i, placement: { ...i.placement } }));
  }

  /** The instance with that GPU-instance id, if any (a copy). */
  instance(gpuInstanceId: number): PlacedInstance | undefined {
    const found = this.placed.find((i) => i.gpuInstanceId === gpuInstanceId);
    return found && { ...found, placement: { ...found.placement } };
  }

  /**
   * Placements where the profile could be created right now: inside no existing instance, and
   * none at all once the profile (or, for `+me`, any media-extension profile) is at its maximum.
   */
  freePlacements(ref: ProfileRef): MigPlacement[] {
    const profile = this.resolveProfile(ref);
    if (this.remainingQuota(profile, this.placed) <= 0) return [];
    return profile.placements.filter((p) => (mask(p) & this.occupied) === 0).map((p) => ({ ...p }));
  }

  /** lgip's "Instances Free" for one profile: how many more could still be created as laid out. */
  instancesFree(ref: ProfileRef): number {
    return this.freeCount(this.resolveProfile(ref), this.occupied, this.placed);
  }

  /** Every profile's lgip Free/Total, in table order. */
  profileAvailability(): ProfileAvailability[] {
    return this.profiles.map((profile) => ({
      profile,
      instancesFree: this.freeCount(profile, this.occupied, this.placed),
      instancesTotal: profile.maxInstances,
    }));
  }

  /**
   * Where the driver would create the profile now, and the GPU-instance id it would get, without
   * creating it. Throws MigCommandError('INSUFFICIENT_RESOURCES', 'Insufficient Resources').
   */
  place(ref: ProfileRef): PlacedInstance {
    const profile = this.resolveProfile(ref);
    let best: { placement: MigPlacement; score: number } | null = null;
    for (const placement of this.freePlacements(profile)) {
      const score = this.capacityAfter(profile, placement);
      if (
        !best ||
        score > best.score ||
        (score === best.score && placement.start < best.placement.start)
      ) {
        best = { placement, score };
      }
    }
    if (!best) throw new MigCommandError('INSUFFICIENT_RESOURCES', 'Insufficient Resources');
    return { profile, placement: best.placement, gpuInstanceId: this.idFor(best.placement) };
  }

  /**
   * Creates a GPU instance, where the driver would (`place`) or at an explicit placement (as
   * `-cgi <id>:<start>` or a layout read back from `-lgi`). Throws MigCommandError
   * 'INSUFFICIENT_RESOURCES' when it does not fit and 'COMMAND_FAILED' for a placement the
   * profile does not have.
   */
  create(ref: ProfileRef, placement?: MigPlacement, gpuInstanceId?: number): PlacedInstance {
    const profile = this.resolveProfile(ref);
    let chosen: PlacedInstance;
    if (placement) {
      if (!profile.placements.some((p) => samePlacement(p, placement))) {
        throw new MigCommandError(
          'COMMAND_FAILED',
          `Invalid placement ${formatPlacement(placement)} for profile ${profile.name} (ID ${profile.id})`,
        );
      }
      if (!this.freePlacements(profile).some((p) => samePlacement(p, placement))) {
        throw new MigCommandError('INSUFFICIENT_RESOURCES', 'Insufficient Resources');
      }
      chosen = { profile, placement: { ...placement }, gpuInstanceId: this.idFor(placement) };
    } else {
      chosen = this.place(profile);
    }
    if (gpuInstanceId !== undefined) {
      if (this.placed.some((i) => i.gpuInstanceId === gpuInstanceId)) {
        throw new MigCommandError(
          'COMMAND_FAILED',
          `GPU instance ID ${gpuInstanceId} already exists`,
        );
      }
      chosen.gpuInstanceId = gpuInstanceId;
    }
    this.placed.push(chosen);
    this.occupied |= mask(chosen.placement);
    return { ...chosen, placement: { ...chosen.placement } };
  }

  /** Removes a GPU instance; throws MigCommandError('INSTANCE_NOT_FOUND') for an unknown id. */
  remove(gpuInstanceId: number): PlacedInstance {
    const index = this.placed.findIndex((i) => i.gpuInstanceId === gpuInstanceId);
    const removed = this.placed[index];
    if (!removed) {
      throw new MigCommandError('INSTANCE_NOT_FOUND', `No GPU instance with ID ${gpuInstanceId}`);
    }
    this.placed.splice(index, 1);
    this.occupied = this.placed.reduce((bits, i) => bits | mask(i.placement), 0);
    return removed;
  }

  /** How many more of the profile its max-instance rules allow, ignoring geometry. */
  private remainingQuota(profile: GpuInstanceProfile, placed: readonly PlacedInstance[]): number {
    // The media engines (OFA, the extra JPEG/DEC) exist once per GPU, so at most one +me
    // instance of any +me profile; lgip prints "+me 0/1" once one exists (h100-mig-mixed).
    if (profile.mediaExtensions && placed.some((i) => i.profile.mediaExtensions)) return 0;
    const same = placed.filter((i) => i.profile.id === profile.id).length;
    return profile.maxInstances - same;
  }

  /**
   * lgip's Free count: the largest set of mutually disjoint free placements, capped by the
   * remaining quota. Placements of one profile are equal-size blocks, so taking them greedily by
   * start is optimal.
   */
  private freeCount(
    profile: GpuInstanceProfile,
    occupied: number,
    placed: readonly PlacedInstance[],
  ): number {
    const quota = this.remainingQuota(profile, placed);
    let taken = occupied;
    let count = 0;
    for (const placement of profile.placements) {
      if (count >= quota) break;
      const bits = mask(placement);
      if ((bits & taken) === 0) {
        taken |= bits;
        count += 1;
      }
    }
    return count;
  }

  /** Sum of every profile's Free count if `profile` were created at `placement`. */
  private capacityAfter(profile: GpuInstanceProfile, placement: MigPlacement): number {
    const occupied = this.occupied | mask(placement);
    const placed = [...this.placed, { profile, placement, gpuInstanceId: -1 }];
    return this.profiles.reduce((sum, p) => sum + this.freeCount(p, occupied, placed), 0);
  }

  private idFor(placement: MigPlacement): number {
    const tree = treeInstanceId(placement, this.placementUnits);
    if (tree !== null && !this.placed.some((i) => i.gpuInstanceId === tree)) return tree;
    // Not reachable with the supported tables; keep ids unique past the tree's range anyway.
    let id = 2 * this.placementUnits - 1;
    while (this.placed.some((i) => i.gpuInstanceId === id)) id += 1;
    return id;
  }

  private unknownProfile(ref: string): MigCommandError {
    const valid = this.profiles.map((p) => `${p.name} (ID ${p.id})`).join(', ');
    return new MigCommandError(
      'UNKNOWN_PROFILE',
      `Unknown GPU instance profile "${ref}"; valid profiles: ${valid}`,
    );
  }
}
