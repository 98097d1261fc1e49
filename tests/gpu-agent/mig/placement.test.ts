import { describe, expect, it } from 'vitest';
import { MigCommandError } from '../../../gpu-agent/errors.ts';
import {
  MigPlacementEngine,
  treeInstanceId,
  type ExistingInstance,
} from '../../../gpu-agent/mig/placement.ts';
import { GPU_MODEL_KEYS, GPU_MODELS } from '../../../gpu-agent/mig/profiles.ts';

/**
 * Profiles are referred to by lgip id: the ids are the same on every model here (19 = 1g,
 * 20 = 1g+me, 15 = 1g with two memory slices, 14 = 2g, 9 = 3g, 5 = 4g, 0 = 7g) while the names
 * differ (1g.10gb / 1g.5gb / 1g.18gb …).
 */
const IDS = [19, 20, 15, 14, 9, 5, 0] as const;

function engineFor(model: (typeof GPU_MODEL_KEYS)[number], existing: ExistingInstance[] = []) {
  return new MigPlacementEngine(GPU_MODELS[model].profiles, existing);
}

/** Creates the profiles in order as `-cgi a,b,c` does; returns how many succeeded. */
function createInOrder(engine: MigPlacementEngine, ids: readonly number[]): number {
  let created = 0;
  for (const id of ids) {
    try {
      engine.create(id);
      created += 1;
    } catch (error) {
      expect(error).toBeInstanceOf(MigCommandError);
      expect((error as MigCommandError).reason).toBe('INSUFFICIENT_RESOURCES');
      expect((error as MigCommandError).message).toBe('Insufficient Resources');
      return created;
    }
  }
  return created;
}

/** lgip Free counts in IDS order. */
function freeCounts(engine: MigPlacementEngine): number[] {
  return IDS.map((id) => engine.instancesFree(id));
}

const times = (n: number, id: number): number[] => Array.from({ length: n }, () => id);

/** [layout, how many of it the driver accepts]. */
const LAYOUTS: [string, number[], number][] = [
  ['7g alone', [0], 1],
  ['7g then 1g', [0, 19], 1],
  ['7g then 1g+me', [0, 20], 1],
  ['7g then 3g', [0, 9], 1],
  ['1g then 7g', [19, 0], 1],
  ['4g then 7g', [5, 0], 1],
  ['seven 1g', times(7, 19), 7],
  ['an eighth 1g', times(8, 19), 7],
  ['4g + 3g', [5, 9], 2],
  ['3g + 4g', [9, 5], 2],
  ['4g + 4g', [5, 5], 1],
  ['3g + 3g', [9, 9], 2],
  ['3g × 3', [9, 9, 9], 2],
  ['2g × 3 + 1g', [14, 14, 14, 19], 4],
  ['2g × 3 + 1g + 1g', [14, 14, 14, 19, 19], 4],
  ['double-memory 1g × 4', times(4, 15), 4],
  ['double-memory 1g × 5', times(5, 15), 4],
  ['two +me', [20, 20], 1],
  ['+me and six 1g', [20, ...times(6, 19)], 7],
  ['+me and seven 1g', [20, ...times(7, 19)], 7],
  ['4g + 2g + 1g.double', [5, 14, 15], 3],
  ['3g + 2g + 1g + 1g', [9, 14, 19, 19], 4],
  // The MIG guide's "known ordering issue": the driver puts the 1g instances at 6 and 4 and the
  // 2g at 0, leaving no 4-slice block for 3g although 3 compute slices are free.
  ['1g, 1g, 2g, then 3g', [19, 19, 14, 9], 3],
  ['3g first, then 1g, 2g, 1g', [9, 19, 14, 19], 4],
  // 2g goes to 4:2 first, then 0:2: both halves are broken, so 3g no longer fits.
  ['2g + 2g then 3g', [14, 14, 9], 2],
  ['2g then 3g', [14, 9], 2],
];

describe.each(GPU_MODEL_KEYS)('MIG placement on %s', (model) => {
  it.each(LAYOUTS)('%s: the driver accepts %#', (_name, ids, accepted) => {
    expect(createInOrder(engineFor(model), ids)).toBe(accepted);
  });

  it('lists every profile free on an empty GPU', () => {
    expect(freeCounts(engineFor(model))).toEqual([7, 1, 4, 3, 2, 1, 1]);
    expect(
      engineFor(model)
        .profileAvailability()
        .map((a) => a.instancesTotal),
    ).toEqual([7, 1, 4, 3, 2, 1, 1]);
  });

  /** [layout, lgip Free in IDS order afterwards]: the placements are the driver's choices. */
  const AFTER: [string, number[], number[]][] = [
    ['7g', [0], [0, 0, 0, 0, 0, 0, 0]],
    ['1g, 1g (slices 6 and 4)', [19, 19], [5, 1, 2, 2, 1, 1, 0]],
    ['3g (4:4)', [9], [4, 1, 2, 2, 1, 1, 0]],
    ['4g (0:4)', [5], [3, 1, 2, 1, 1, 0, 0]],
    ['4g + 3g', [5, 9], [0, 0, 0, 0, 0, 0, 0]],
    ['2g (4:2)', [14], [5, 1, 3, 2, 1, 1, 0]],
    ['double-memory 1g (6:2)', [15], [6, 1, 3, 3, 1, 1, 0]],
    ['+me (6:1)', [20], [6, 0, 3, 3, 1, 1, 0]],
    ['six 1g', times(6, 19), [1, 1, 0, 0, 0, 0, 0]],
    ['2g × 3', [14, 14, 14], [1, 1, 1, 0, 0, 0, 0]],
  ];

  it.each(AFTER)('after %s, lgip Free reads as the driver would', (_name, ids, free) => {
    const engine = engineFor(model);
    expect(createInOrder(engine, ids)).toBe(ids.length);
    expect(freeCounts(engine)).toEqual(free);
  });

  it('refuses a 4g when one 1g sits in the first half, though 6 slices are free', () => {
    const engine = engineFor(model, [{ profile: 19, placement: { start: 1, size: 1 } }]);
    expect(engine.freePlacements(5)).toEqual([]);
    expect(engine.instancesFree(5)).toBe(0);
    expect(() => engine.place(5)).toThrow('Insufficient Resources');
    // The second half is untouched: a 3g still fits there, and nowhere else.
    expect(engine.freePlacements(9)).toEqual([{ start: 4, size: 4 }]);
    expect(engine.create(9).placement).toEqual({ start: 4, size: 4 });
  });

  it('refuses an explicit placement that overlaps, and one the profile does not have', () => {
    const engine = engineFor(model);
    engine.create(5); // 4g at 0:4
    const overlap = () => engine.create(14, { start: 2, size: 2 });
    expect(overlap).toThrow(MigCommandError);
    expect(overlap).toThrow('Insufficient Resources');
    try {
      engine.create(9, { start: 2, size: 4 });
      expect.unreachable();
    } catch (error) {
      expect((error as MigCommandError).reason).toBe('COMMAND_FAILED');
    }
  });

  it('frees the placement again when an instance is removed', () => {
    const engine = engineFor(model);
    const seven = engine.create(0);
    expect(engine.instancesFree(19)).toBe(0);
    engine.remove(seven.gpuInstanceId);
    expect(freeCounts(engine)).toEqual([7, 1, 4, 3, 2, 1, 1]);
    expect(() => engine.remove(seven.gpuInstanceId)).toThrow(
      expect.objectContaining({ reason: 'INSTANCE_NOT_FOUND' }) as Error,
    );
  });

  it('does not change the layout when asked where a profile would go', () => {
    const engine = engineFor(model);
    expect(engine.place(9).placement).toEqual({ start: 4, size: 4 });
    expect(engine.place(9).placement).toEqual({ start: 4, size: 4 });
    expect(engine.instances()).toEqual([]);
  });
});

describe('where the driver puts instances and which ids they get', () => {
  /**
   * Real sequences: NVIDIA MIG User Guide (A100-SXM4-40GB, `mig/a100-sxm4-40gb__mig-user-guide…`),
   * the H100 session (`mig/h100-80gb-hbm3__session…`) and the pre-R470 A100 session. Ids are the
   * "Successfully created GPU instance ID n" numbers, in order; null is the refused one.
   */
  const SEQUENCES: [string, (typeof GPU_MODEL_KEYS)[number], number[], (number | null)[]][] = [
    ['H100 -cgi 19×7', 'H100-80GB', times(7, 19), [13, 11, 12, 7, 8, 9, 10]],
    ['A100 -cgi 19×7', 'A100-40GB', times(7, 19), [13, 11, 12, 7, 8, 9, 10]],
    ['A100 -cgi 9,3g.20gb', 'A100-40GB', [9, 9], [2, 1]],
    ['A100 -cgi 19,19,14,9', 'A100-40GB', [19, 19, 14, 9], [13, 11, 3, null]],
    ['A100 -cgi 9,19,14,19', 'A100-40GB', [9, 19, 14, 19], [2, 7, 4, 8]],
    ['A100 -cgi 14,19,19,19,19,19', 'A100-40GB', [14, 19, 19, 19, 19, 19], [5, 13, 7, 8, 9, 10]],
  ];

  it.each(SEQUENCES)('%s', (_name, model, ids, expected) => {
    const engine = engineFor(model);
    const got = ids.map((id) => {
      try {
        return engine.create(id).gpuInstanceId;
      } catch {
        return null;
      }
    });
    expect(got).toEqual(expected);
  });

  it('places the MIG guide 9,19,14,19 sequence where its -lgi listing shows', () => {
    const engine = engineFor('A100-40GB');
    for (const id of [9, 19, 14, 19]) engine.create(id);
    const listing = engine
      .instances()
      .map((i) => `${i.profile.name} ${i.gpuInstanceId} ${i.placement.start}:${i.placement.size}`)
      .sort();
    expect(listing).toEqual(['1g.5gb 7 0:1', '1g.5gb 8 1:1', '2g.10gb 4 2:2', '3g.20gb 2 4:4']);
  });

  it('numbers placements as nodes of the slice tree', () => {
    expect(treeInstanceId({ start: 0, size: 8 }, 8)).toBe(0);
    expect(treeInstanceId({ start: 0, size: 4 }, 8)).toBe(1);
    expect(treeInstanceId({ start: 4, size: 4 }, 8)).toBe(2);
    expect(treeInstanceId({ start: 6, size: 2 }, 8)).toBe(6);
    expect(treeInstanceId({ start: 4, size: 1 }, 8)).toBe(11);
    expect(treeInstanceId({ start: 3, size: 2 }, 8)).toBeNull();
  });
});

describe('resolving a -cgi argument', () => {
  const engine = engineFor('H100-80GB');

  it('takes a name, a "MIG " name, or a numeric id', () => {
    expect(engine.resolveProfile('3g.40gb').id).toBe(9);
    expect(engine.resolveProfile('MIG 1g.10gb+me').id).toBe(20);
    expect(engine.resolveProfile('19').name).toBe('1g.10gb');
    expect(engine.resolveProfile(0).name).toBe('7g.80gb');
  });

  it('refuses a profile of another model and names the valid ones', () => {
    const a100 = engineFor('A100-40GB');
    try {
      a100.resolveProfile('3g.40gb');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(MigCommandError);
      expect((error as MigCommandError).reason).toBe('UNKNOWN_PROFILE');
      expect((error as MigCommandError).message).toContain('3g.20gb (ID 9)');
      expect((error as MigCommandError).message).toContain('1g.5gb+me (ID 20)');
    }
    expect(() => engine.resolveProfile('42')).toThrow(
      expect.objectContaining({ reason: 'UNKNOWN_PROFILE' }) as Error,
    );
  });
});
