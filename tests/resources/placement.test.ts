import { describe, expect, it } from 'vitest';
import { GPU_MODEL_KEYS, GPU_MODELS, type GpuModelKey } from '../../gpu-agent/mig/profiles.ts';
import {
  WHOLE_GPU,
  book,
  choosePlacement,
  fragmentation,
  gpuSlots,
  modelForProductName,
  rankPlacements,
  resolveProfile,
  type GpuCapacity,
  type PlacedRange,
  type PlacementChoice,
  type PlacementRequest,
} from '../../subgraphs/resources/domain/placement.ts';

type Instance = GpuCapacity['instances'][number];

interface GpuOptions {
  /** Defaults to H100-80GB; null is a board with no MIG tables. */
  model?: GpuModelKey | null;
  index?: number;
  mig?: boolean;
  online?: boolean;
  nodeId?: string;
  instances?: Instance[];
  booked?: PlacedRange[];
}

/** A GPU named after its host (and index) so expectations read as "went to host b". */
function gpu(hostname: string, options: GpuOptions = {}): GpuCapacity {
  const index = options.index ?? 0;
  const model = options.model === undefined ? 'H100-80GB' : options.model;
  return {
    nodeId: options.nodeId ?? `node-${hostname}`,
    hostname,
    gpuUuid: `GPU-${hostname}-${index}`,
    index,
    model: model === null ? null : GPU_MODELS[model],
    online: options.online ?? true,
    migEnabled: options.mig ?? true,
    instances: options.instances ?? [],
    booked: options.booked ?? [],
  };
}

function instance(gpuInstanceId: number, profile: string, start: number, size: number): Instance {
  return { gpuInstanceId, profile, start, size };
}

const range = (start: number, size: number): PlacedRange => ({ start, size });

/** What a user notices about a choice: where it went and whether an instance is reused. */
interface Where {
  hostname: string;
  gpuIndex?: number;
  profile?: string;
  start?: number;
  size?: number;
  gpuInstanceId?: number | null;
  memoryMiB?: number;
}

interface Case {
  name: string;
  fleet: GpuCapacity[];
  request: PlacementRequest;
  expected: Where | null;
}

function expectChoice(choice: PlacementChoice | null, expected: Where | null): void {
  if (expected === null) {
    expect(choice).toBeNull();
    return;
  }
  expect(choice).toMatchObject(expected);
}

describe('choosePlacement: whole GPUs', () => {
  it.each<Case>([
    {
      name: 'refuses a MIG-mode GPU',
      fleet: [gpu('a', { mig: true })],
      request: { profile: WHOLE_GPU },
      expected: null,
    },
    {
      name: 'refuses a GPU something is booked on',
      fleet: [gpu('a', { mig: false, booked: [range(0, 8)] })],
      request: { profile: WHOLE_GPU },
      expected: null,
    },
    {
      name: 'refuses a GPU with only part of it booked',
      fleet: [gpu('a', { mig: false, booked: [range(3, 1)] })],
      request: { profile: WHOLE_GPU },
      expected: null,
    },
    {
      name: 'takes the free non-MIG GPU, with the board memory',
      fleet: [
        gpu('a', { mig: true }),
        gpu('b', { mig: false, booked: [range(0, 8)] }),
        gpu('c', { mig: false }),
      ],
      request: { profile: WHOLE_GPU },
      expected: {
        hostname: 'c',
        profile: WHOLE_GPU,
        start: 0,
        size: 8,
        gpuInstanceId: null,
        memoryMiB: GPU_MODELS['H100-80GB'].memoryTotalMiB,
      },
    },
    {
      name: 'accepts "gpu" in any case',
      fleet: [gpu('a', { mig: false })],
      request: { profile: ' gpu ' },
      expected: { hostname: 'a', profile: WHOLE_GPU, start: 0, size: 8 },
    },
    {
      name: 'takes an unknown board when MIG is off (memory unknown: 0)',
      fleet: [gpu('a', { model: null, mig: false })],
      request: { profile: WHOLE_GPU },
      expected: { hostname: 'a', start: 0, size: 8, memoryMiB: 0 },
    },
  ])('$name', ({ fleet, request, expected }) => {
    expectChoice(choosePlacement(fleet, request), expected);
  });
});

describe('choosePlacement: MIG profiles', () => {
  it.each<Case>([
    {
      name: '1g prefers an idle existing 1g instance over creating one',
      fleet: [gpu('a'), gpu('b', { instances: [instance(10, '1g.10gb', 3, 1)] })],
      request: { profile: '1g.10gb' },
      expected: { hostname: 'b', start: 3, size: 1, gpuInstanceId: 10 },
    },
    {
      name: 'an instance listed with the "MIG " prefix is still reused',
      fleet: [gpu('a', { instances: [instance(13, 'MIG 1g.10gb', 6, 1)] })],
      request: { profile: '19' },
      expected: { hostname: 'a', start: 6, gpuInstanceId: 13 },
    },
    {
      name: 'a booked existing instance is not reused; a new one keeps the big block',
      fleet: [gpu('a', { instances: [instance(13, '1g.10gb', 6, 1)], booked: [range(6, 1)] })],
      request: { profile: '1g.10gb' },
      expected: { hostname: 'a', start: 0, size: 1, gpuInstanceId: null },
    },
    {
      // The idle 3g is still free space (it can be reused), so the 1g keeps 0..5 one block.
      name: 'an idle instance of another profile is neither reused nor overlapped',
      fleet: [gpu('a', { instances: [instance(1, '3g.40gb', 0, 4)] })],
      request: { profile: '1g.10gb' },
      expected: { hostname: 'a', start: 6, gpuInstanceId: null },
    },
    {
      name: '1g goes to the partially used GPU rather than an empty one',
      fleet: [gpu('a'), gpu('b', { booked: [range(0, 4)] })],
      request: { profile: '1g.10gb' },
      expected: { hostname: 'b', start: 4, size: 1 },
    },
    {
      name: '3g with the lower half booked takes the only legal start, 4',
      fleet: [gpu('a', { booked: [range(0, 4)] })],
      request: { profile: '3g.40gb' },
      expected: { hostname: 'a', start: 4, size: 4, gpuInstanceId: null },
    },
    {
      name: '3g with the upper half booked takes start 0',
      fleet: [gpu('a', { booked: [range(4, 4)] })],
      request: { profile: '3g.40gb' },
      expected: { hostname: 'a', start: 0, size: 4 },
    },
    {
      name: '3g does not fit a 4-slot hole that is not a 3g placement (2..5)',
      fleet: [gpu('a', { booked: [range(0, 2), range(6, 2)] })],
      request: { profile: '3g.40gb' },
      expected: null,
    },
    {
      name: '7g needs an empty MIG GPU',
      fleet: [gpu('a', { booked: [range(7, 1)] }), gpu('b')],
      request: { profile: '7g.80gb' },
      expected: { hostname: 'b', start: 0, size: 8 },
    },
    {
      name: '7g does not fit when every GPU has something booked',
      fleet: [gpu('a', { booked: [range(7, 1)] }), gpu('b', { booked: [range(0, 1)] })],
      request: { profile: '7g.80gb' },
      expected: null,
    },
    {
      name: '7g does not fit around an idle instance (no reconfiguration)',
      fleet: [gpu('a', { instances: [instance(13, '1g.10gb', 6, 1)] })],
      request: { profile: '7g.80gb' },
      expected: null,
    },
    {
      name: 'nodeId keeps the choice on that node even when another fits tighter',
      fleet: [gpu('a', { booked: [range(0, 4)] }), gpu('b')],
      request: { profile: '1g.10gb', nodeId: 'node-b' },
      expected: { hostname: 'b', start: 0 },
    },
    {
      name: 'a null nodeId means any node',
      fleet: [gpu('a', { booked: [range(0, 4)] }), gpu('b')],
      request: { profile: '1g.10gb', nodeId: null },
      expected: { hostname: 'a', start: 4 },
    },
    {
      name: 'an offline GPU is skipped',
      fleet: [gpu('a', { online: false, booked: [range(0, 4)] }), gpu('b')],
      request: { profile: '1g.10gb' },
      expected: { hostname: 'b', start: 0 },
    },
    {
      name: 'an unknown board gets no MIG placements',
      fleet: [gpu('a', { model: null })],
      request: { profile: '1g.10gb' },
      expected: null,
    },
    {
      name: 'a MIG profile is refused on a GPU with MIG off',
      fleet: [gpu('a', { mig: false })],
      request: { profile: '1g.10gb' },
      expected: null,
    },
    {
      name: 'numeric id 19 is the H100 1g.10gb',
      fleet: [gpu('a')],
      request: { profile: '19' },
      expected: {
        hostname: 'a',
        profile: '1g.10gb',
        size: 1,
        start: 0,
        memoryMiB: GPU_MODELS['H100-80GB'].profiles.find((p) => p.id === 19)?.memoryMiB,
      },
    },
    {
      name: 'numeric id 19 is the A100-40GB 1g.5gb (names differ per model)',
      fleet: [gpu('a', { model: 'A100-40GB' })],
      request: { profile: '19' },
      expected: { hostname: 'a', profile: '1g.5gb', size: 1 },
    },
    {
      name: 'names are case-insensitive and come back canonical',
      fleet: [gpu('a')],
      request: { profile: '3G.40GB' },
      expected: { hostname: 'a', profile: '3g.40gb', start: 0 },
    },
    {
      name: '1g.20gb takes two slots',
      fleet: [gpu('a', { booked: [range(0, 6)] })],
      request: { profile: '1g.20gb' },
      expected: { hostname: 'a', start: 6, size: 2 },
    },
    {
      name: 'a second +me instance is refused (one media-extension instance per GPU)',
      fleet: [gpu('a', { instances: [instance(7, '1g.10gb+me', 0, 1)], booked: [range(0, 1)] })],
      request: { profile: '1g.10gb+me' },
      expected: null,
    },
    {
      name: 'equal candidates go to the first hostname',
      fleet: [gpu('b'), gpu('a')],
      request: { profile: '4g.40gb' },
      expected: { hostname: 'a', start: 0 },
    },
    {
      name: 'equal candidates on one host go to the lowest GPU index',
      fleet: [gpu('a', { index: 1 }), gpu('a', { index: 0 })],
      request: { profile: '4g.40gb' },
      expected: { hostname: 'a', gpuIndex: 0 },
    },
  ])('$name', ({ fleet, request, expected }) => {
    expectChoice(choosePlacement(fleet, request), expected);
  });
});

describe('rankPlacements', () => {
  it.each(['9g.99gb', '2g.99gb', '99', 'GPUX', '', 'whole'])(
    'returns [] for a profile no model knows: %j',
    (profile) => {
      const fleet = [gpu('a'), gpu('b', { model: 'A100-40GB' }), gpu('c', { mig: false })];
      expect(rankPlacements(fleet, { profile })).toEqual([]);
    },
  );

  it('orders tight GPUs first, then the placement that keeps the largest block', () => {
    const fleet = [gpu('a'), gpu('b', { booked: [range(0, 4)] })];
    const ranked = rankPlacements(fleet, { profile: '1g.10gb' }).map(
      (c) => `${c.hostname}@${c.start}`,
    );
    expect(ranked.slice(0, 4)).toEqual(['b@4', 'b@5', 'b@6', 'a@0']);
    expect(ranked).toHaveLength(3 + 7);
  });

  it('prefers the board where the profile takes fewer slots (1g.10gb: 1 on H100, 2 on A100-40GB)', () => {
    const fleet = [gpu('a', { model: 'A100-40GB' }), gpu('b')];
    expect(choosePlacement(fleet, { profile: '1g.10gb' })).toMatchObject({
      hostname: 'b',
      size: 1,
    });
    const a100Only = [gpu('a', { model: 'A100-40GB' })];
    expect(choosePlacement(a100Only, { profile: '1g.10gb' })).toMatchObject({ size: 2 });
  });

  it('lists reuse before creation even on an emptier GPU', () => {
    const fleet = [
      gpu('a', { booked: [range(0, 6)] }),
      gpu('b', { instances: [instance(13, '1g.10gb', 6, 1)] }),
    ];
    const [first, second] = rankPlacements(fleet, { profile: '1g.10gb' });
    expect(first).toMatchObject({ hostname: 'b', gpuInstanceId: 13 });
    expect(second).toMatchObject({ hostname: 'a', start: 6, gpuInstanceId: null });
  });
});

describe('resolveProfile and gpuSlots', () => {
  it.each<[GpuModelKey, string, string | null]>([
    ['H100-80GB', '19', '1g.10gb'],
    ['H100-80GB', 'MIG 1g.10gb', '1g.10gb'],
    ['H100-80GB', '1G.10GB+ME', '1g.10gb+me'],
    ['H100-80GB', '9', '3g.40gb'],
    ['A100-40GB', '1g.10gb', '1g.10gb'],
    ['A100-40GB', '3g.40gb', null],
    ['H100-80GB', '42', null],
  ])('%s %j → %j', (key, profile, expected) => {
    expect(resolveProfile(GPU_MODELS[key], profile)?.name ?? null).toBe(expected);
  });

  it.each([...GPU_MODEL_KEYS, null])('gives 8 slots for %s', (key) => {
    expect(gpuSlots(gpu('a', { model: key }))).toBe(8);
  });
});

describe('modelForProductName', () => {
  it.each<[string, GpuModelKey | null]>([
    ['NVIDIA H100 80GB HBM3', 'H100-80GB'],
    ['NVIDIA H200', 'H200-141GB'],
    ['NVIDIA A100-SXM4-40GB', 'A100-40GB'],
    ['NVIDIA A100-SXM4-80GB', 'A100-80GB'],
    ['NVIDIA A100 80GB PCIe', 'A100-80GB'],
    ['nvidia a100-pcie-40gb', 'A100-40GB'],
    ['NVIDIA H100 NVL', null],
    ['NVIDIA H100 PCIe', null],
    ['NVIDIA RTX A1000', null],
    ['Tesla T4', null],
    ['', null],
  ])('%j → %s', (name, key) => {
    expect(modelForProductName(name)?.key ?? null).toBe(key);
  });
});

describe('book', () => {
  it('returns a copy with the range booked, leaving the input alone', () => {
    const before = gpu('a');
    const choice = choosePlacement([before], { profile: '3g.40gb' });
    expect(choice).not.toBeNull();
    if (!choice) return;
    const after = book(before, choice);
    expect(after.booked).toEqual([range(0, 4)]);
    expect(before.booked).toEqual([]);
    expect(choosePlacement([after], { profile: '3g.40gb' })).toMatchObject({ start: 4 });
  });

  it('refuses a choice made for another GPU or over a booking (a stale choice)', () => {
    const a = gpu('a');
    const choice = choosePlacement([a], { profile: '7g.80gb' });
    if (!choice) throw new Error('7g should fit an empty H100');
    expect(() => book(gpu('b'), choice)).toThrow(/GPU-a-0/);
    expect(() => book(book(a, choice), choice)).toThrow(/already booked/);
  });
});

describe('fragmentation', () => {
  it('measures a hand-made layout', () => {
    const fleet = [
      // free 1..3: 3 free, largest block 3
      gpu('a', { booked: [range(0, 1), range(4, 4)] }),
      // free 0..1 and 4..7: 6 free, largest block 4
      gpu('b', { booked: [range(2, 2)] }),
      // empty: 8 free, largest block 8
      gpu('c'),
      // full: counts as neither partial nor empty
      gpu('d', { mig: false, booked: [range(0, 8)] }),
      // offline GPUs offer nothing
      gpu('e', { online: false }),
    ];
    const result = fragmentation(fleet);
    expect(result).toMatchObject({ freeSlots: 17, partiallyBookedGpus: 2, emptyGpus: 1 });
    expect(result.fragmentation).toBeCloseTo(1 - 15 / 17);
  });

  it.each<[string, GpuCapacity[], number]>([
    ['an empty fleet', [gpu('a'), gpu('b')], 16],
    ['a fully booked fleet', [gpu('a', { booked: [range(0, 8)] })], 0],
    ['no GPUs at all', [], 0],
  ])('is 0 for %s', (_name, fleet, freeSlots) => {
    expect(fragmentation(fleet)).toMatchObject({ freeSlots, fragmentation: 0 });
  });
});

describe('placing until nothing fits', () => {
  const REQUESTS = ['19', '1g.10gb', '15', '14', '9', '5', '0', WHOLE_GPU, '20'] as const;

  /** A small deterministic generator so a failing seed can be replayed. */
  function lcg(seed: number): () => number {
    let state = seed >>> 0;
    return () => {
      state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
      return state / 2 ** 32;
    };
  }

  function mixedFleet(): GpuCapacity[] {
    return [
      gpu('n1', { index: 0 }),
      gpu('n1', {
        index: 1,
        instances: [instance(1, '3g.40gb', 0, 4), instance(2, '3g.40gb', 4, 4)],
      }),
      gpu('n2', { index: 0, model: 'A100-40GB' }),
      gpu('n2', { index: 1, mig: false }),
    ];
  }

  function fillFleet(seed: number): GpuCapacity[] {
    const random = lcg(seed);
    let fleet = mixedFleet();
    const open: string[] = [...REQUESTS];
    while (open.length > 0) {
      const at = Math.floor(random() * open.length);
      const profile = open[at] ?? WHOLE_GPU;
      const choice = choosePlacement(fleet, { profile });
      if (!choice) {
        open.splice(at, 1);
        continue;
      }
      const freeBefore = fragmentation(fleet).freeSlots;
      // book() throws on an overlap, so every step also checks the ranking's promise.
      fleet = fleet.map((g) => (g.gpuUuid === choice.gpuUuid ? book(g, choice) : g));
      expect(fragmentation(fleet).freeSlots).toBe(freeBefore - choice.size);
    }
    return fleet;
  }

  it.each([1, 2, 3, 42, 2024])('seed %i: no overlaps and consistent fragmentation', (seed) => {
    const fleet = fillFleet(seed);
    for (const g of fleet) {
      const slots = gpuSlots(g);
      g.booked.forEach((a, i) => {
        expect(a.start).toBeGreaterThanOrEqual(0);
        expect(a.start + a.size).toBeLessThanOrEqual(slots);
        for (const b of g.booked.slice(i + 1)) {
          expect(a.start + a.size <= b.start || b.start + b.size <= a.start).toBe(true);
        }
        for (const inst of g.instances) {
          const disjoint = a.start + a.size <= inst.start || inst.start + inst.size <= a.start;
          const same = a.start === inst.start && a.size === inst.size;
          expect(disjoint || same).toBe(true);
        }
      });
    }

    // Nothing fits any more, not even a 1g (slots 0..6): at most slot 7 is left per MIG GPU.
    const freePerGpu = fleet.map((g) => gpuSlots(g) - g.booked.reduce((sum, r) => sum + r.size, 0));
    for (const free of freePerGpu) expect(free).toBeLessThanOrEqual(1);
    expect(fragmentation(fleet)).toEqual({
      freeSlots: freePerGpu.reduce((a, b) => a + b, 0),
      partiallyBookedGpus: freePerGpu.filter((f) => f > 0).length,
      emptyGpus: 0,
      fragmentation: 0,
    });
  });
});
