import { describe, expect, it } from 'vitest';
import { GPU_MODEL_KEYS, GPU_MODELS, gpuModel } from '../../../gpu-agent/mig/profiles.ts';

/** lgip rows (name, ID, Free/Total, GiB, SM) of A100 captures, copied from the fixture files. */
const A100_CAPTURES = {
  // mig/a100-sxm4-40gb__lgip__mps-test.txt
  'A100-40GB': [
    ['1g.5gb', 19, 7, 4.75, 14],
    ['1g.5gb+me', 20, 1, 4.75, 14],
    ['1g.10gb', 15, 4, 9.62, 14],
    ['2g.10gb', 14, 3, 9.62, 28],
    ['3g.20gb', 9, 2, 19.5, 42],
    ['4g.20gb', 5, 1, 19.5, 56],
    ['7g.40gb', 0, 1, 39.25, 98],
  ],
  // mig/a100-80gb-pcie__515.86.01__lgip.txt (that driver has no 1g.20gb row)
  'A100-80GB': [
    ['1g.10gb', 19, 7, 9.5, 14],
    ['1g.10gb+me', 20, 1, 9.5, 14],
    ['2g.20gb', 14, 3, 19.5, 28],
    ['3g.40gb', 9, 2, 39.25, 42],
    ['4g.40gb', 5, 1, 39.25, 56],
    ['7g.80gb', 0, 1, 79, 98],
  ],
} as const;

describe('MIG profile tables', () => {
  it.each(Object.entries(A100_CAPTURES))('%s matches its lgip capture', (model, rows) => {
    const profiles = gpuModel(model as keyof typeof A100_CAPTURES).profiles;
    for (const [name, id, max, gib, sm] of rows) {
      expect(profiles.find((p) => p.id === id)).toMatchObject({
        name,
        maxInstances: max,
        memoryMiB: Math.round(gib * 1024),
        multiprocessors: sm,
      });
    }
  });

  it('sizes an A100-40GB 3g.20gb device as the driver reports it (19968 MiB)', () => {
    // netdata/a100-sxm4-mig.xml: two 3g.20gb MIG devices with <total>19968 MiB</total>.
    expect(gpuModel('A100-40GB').profiles.find((p) => p.name === '3g.20gb')?.memoryMiB).toBe(19968);
  });

  describe.each(GPU_MODEL_KEYS)('%s', (model) => {
    const { profiles } = GPU_MODELS[model];

    it('uses the 7-slice placements of -lgipp', () => {
      const lgipp = Object.fromEntries(
        profiles.map((p) => [
          p.id,
          `{${p.placements.map((x) => x.start).join(',')}}:${p.placements[0]?.size}`,
        ]),
      );
      // `nvidia-smi mig -lgipp` on H100 (mig/h100-80gb-hbm3__session…) and A100 (MIG guide).
      expect(lgipp).toEqual({
        19: '{0,1,2,3,4,5,6}:1',
        20: '{0,1,2,3,4,5,6}:1',
        15: '{0,2,4,6}:2',
        14: '{0,2,4}:2',
        9: '{0,4}:4',
        5: '{0}:4',
        0: '{0}:8',
      });
    });

    it('creates the full-size compute instance by default, as -cgi … -C reports', () => {
      // "-cgi 9,14,19 -C": CI profiles 3g → ID 2, 2g → ID 1, 1g → ID 0; 7c is ID 4.
      const byId = Object.fromEntries(
        profiles.map((p) => [p.id, p.defaultComputeInstanceProfileId]),
      );
      expect(byId).toEqual({ 19: 0, 20: 0, 15: 0, 14: 1, 9: 2, 5: 3, 0: 4 });
    });

    it('marks only the +me profile as carrying media engines, at most once', () => {
      const me = profiles.filter((p) => p.mediaExtensions);
      expect(me.map((p) => [p.id, p.maxInstances, p.ofa])).toEqual([[20, 1, 1]]);
      expect(me[0]?.name.endsWith('+me')).toBe(true);
    });

    it('fits every profile inside the board memory', () => {
      const spec = GPU_MODELS[model];
      for (const p of profiles) expect(p.memoryMiB).toBeLessThanOrEqual(spec.memoryTotalMiB);
    });
  });
});
