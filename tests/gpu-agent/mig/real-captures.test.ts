import { describe, expect, it } from 'vitest';
import { MigPlacementEngine, treeInstanceId } from '../../../gpu-agent/mig/placement.ts';
import { GPU_MODELS, type GpuModelKey } from '../../../gpu-agent/mig/profiles.ts';

/**
 * Real `nvidia-smi mig -lgi` / `-lgip` output, driver 580.173.02, copied verbatim (profile rows
 * only) from /work/shared/fixtures/gpu/prickle-exporter/<capture>/mig-gi.txt and mig-profiles.txt.
 * Loading the -lgi layout into the engine must reproduce the -lgip Free/Total column, the ids
 * and memory sizes of the tables, and the GPU-instance ids.
 */
const CAPTURES: { name: string; model: GpuModelKey; lgi: string; lgip: string }[] = [
  {
    name: 'h100-default-20260729 (MIG off)',
    model: 'H100-80GB',
    lgi: '',
    lgip: `
|   0  MIG 1g.10gb         19     7/7        9.75       No     16     1     0   |
|   0  MIG 1g.10gb+me      20     1/1        9.75       No     16     1     0   |
|   0  MIG 1g.20gb         15     4/4        19.62      No     26     1     0   |
|   0  MIG 2g.20gb         14     3/3        19.62      No     32     2     0   |
|   0  MIG 3g.40gb          9     2/2        39.50      No     60     3     0   |
|   0  MIG 4g.40gb          5     1/1        39.50      No     64     4     0   |
|   0  MIG 7g.80gb          0     1/1        79.25      No     132    7     0   |`,
  },
  {
    name: 'h100-mig-20260729',
    model: 'H100-80GB',
    lgi: `
|   0  MIG 1g.10gb           19       11          4:1     |
|   0  MIG 1g.10gb           19       13          6:1     |`,
    lgip: `
|   0  MIG 1g.10gb         19     5/7        9.75       No     16     1     0   |
|   0  MIG 1g.10gb+me      20     1/1        9.75       No     16     1     0   |
|   0  MIG 1g.20gb         15     2/4        19.62      No     26     1     0   |
|   0  MIG 2g.20gb         14     2/3        19.62      No     32     2     0   |
|   0  MIG 3g.40gb          9     1/2        39.50      No     60     3     0   |
|   0  MIG 4g.40gb          5     1/1        39.50      No     64     4     0   |
|   0  MIG 7g.80gb          0     0/1        79.25      No     132    7     0   |`,
  },
  {
    name: 'h100-mig-mixed-20260729',
    model: 'H100-80GB',
    lgi: `
|   0  MIG 1g.10gb           19       13          6:1     |
|   0  MIG 3g.40gb            9        1          0:4     |
|   0  MIG 1g.10gb+me        20       11          4:1     |`,
    lgip: `
|   0  MIG 1g.10gb         19     1/7        9.75       No     16     1     0   |
|   0  MIG 1g.10gb+me      20     0/1        9.75       No     16     1     0   |
|   0  MIG 1g.20gb         15     0/4        19.62      No     26     1     0   |
|   0  MIG 2g.20gb         14     0/3        19.62      No     32     2     0   |
|   0  MIG 3g.40gb          9     0/2        39.50      No     60     3     0   |
|   0  MIG 4g.40gb          5     0/1        39.50      No     64     4     0   |
|   0  MIG 7g.80gb          0     0/1        79.25      No     132    7     0   |`,
  },
  {
    name: 'h200-mig-20260726',
    model: 'H200-141GB',
    lgi: `
|   0  MIG 1g.18gb           19       11          4:1     |
|   0  MIG 1g.18gb           19       13          6:1     |`,
    lgip: `
|   0  MIG 1g.18gb         19     5/7        16.00      No     16     1     0   |
|   0  MIG 1g.18gb+me      20     1/1        16.00      No     16     1     0   |
|   0  MIG 1g.35gb         15     2/4        32.50      No     26     1     0   |
|   0  MIG 2g.35gb         14     2/3        32.50      No     32     2     0   |
|   0  MIG 3g.71gb          9     1/2        69.75      No     60     3     0   |
|   0  MIG 4g.71gb          5     1/1        69.75      No     64     4     0   |
|   0  MIG 7g.141gb         0     0/1        140.00     No     132    7     0   |`,
  },
];

function lgiRows(text: string) {
  return [...text.matchAll(/MIG\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+):(\d+)/g)].map((m) => ({
    name: m[1]!,
    profileId: Number(m[2]),
    gpuInstanceId: Number(m[3]),
    placement: { start: Number(m[4]), size: Number(m[5]) },
  }));
}

function lgipRows(text: string) {
  return [...text.matchAll(/MIG\s+(\S+)\s+(\d+)\s+(\d+)\/(\d+)\s+([\d.]+)\s+\S+\s+(\d+)/g)].map(
    (m) => ({
      name: m[1]!,
      id: Number(m[2]),
      free: Number(m[3]),
      total: Number(m[4]),
      memoryMiB: Math.round(Number(m[5]) * 1024),
      multiprocessors: Number(m[6]),
    }),
  );
}

describe.each(CAPTURES)('real capture $name', ({ model, lgi, lgip }) => {
  const layout = lgiRows(lgi);
  const expected = lgipRows(lgip);

  it('has the profile table the driver prints', () => {
    expect(expected).toHaveLength(7);
    expect(
      GPU_MODELS[model].profiles.map((p) => ({
        name: p.name,
        id: p.id,
        total: p.maxInstances,
        memoryMiB: p.memoryMiB,
        multiprocessors: p.multiprocessors,
      })),
    ).toEqual(expected.map(({ free: _free, ...row }) => row));
  });

  it('prints the same Instances Free for the -lgi layout', () => {
    const engine = new MigPlacementEngine(
      GPU_MODELS[model].profiles,
      layout.map((row) => ({ profile: row.profileId, placement: row.placement })),
    );
    expect(
      engine
        .profileAvailability()
        .map((a) => `${a.profile.name} ${a.instancesFree}/${a.instancesTotal}`),
    ).toEqual(expected.map((row) => `${row.name} ${row.free}/${row.total}`));
  });

  it('gives each placement the GPU-instance id the driver gave it', () => {
    for (const row of layout) {
      expect(treeInstanceId(row.placement, GPU_MODELS[model].placementUnits)).toBe(
        row.gpuInstanceId,
      );
    }
  });
});
