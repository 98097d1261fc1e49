import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MigCommandError, SmiParseError } from '../../../gpu-agent/errors.ts';
import { createReplaySource } from '../../../gpu-agent/collector/replay-source.ts';
import type { GpuState } from '../../../gpu-agent/model.ts';
import { a100Responses, A100_UUID, migUuid } from './a100-mig-state.ts';
import { fixturesDir, tempDir } from './helpers.ts';

const H100_UUID = 'GPU-0d0831da-0c98-2717-6446-8acd91d39b65';
const H200_UUID = 'GPU-2af1c335-11fb-c9d3-4de3-27a25697fc35';
const at = new Date('2026-07-29T18:00:00.000Z');

async function replay(tree: string): Promise<GpuState> {
  const source = createReplaySource({
    directory: join(fixturesDir, 'prickle-exporter', tree),
    hostname: 'replayed',
    now: () => at,
  });
  const snapshot = await source.collect();
  expect(snapshot).toMatchObject({
    hostname: 'replayed',
    source: 'replay',
    driverVersion: '580.173.02',
    cudaVersion: '13.0',
    collectedAt: at.toISOString(),
  });
  expect(snapshot.gpus).toHaveLength(1);
  return snapshot.gpus[0] as GpuState;
}

describe('createReplaySource over the prickle-exporter captures (no XML)', () => {
  it('h100-default: MIG off, all profiles free, no instances, process without GI/CI', async () => {
    const gpu = await replay('h100-default-20260729');
    expect(gpu).toMatchObject({
      uuid: H100_UUID,
      index: 0,
      name: 'NVIDIA H100 80GB HBM3',
      pciBusId: '00000000:00:09.0',
      memoryTotalMiB: 81559,
      memoryUsedMiB: 4627,
      utilizationPercent: 100,
      temperatureC: 66,
      powerDrawW: 355.57,
      migMode: { current: false, pending: false },
      migInstances: [],
    });
    expect(gpu.migProfiles).toHaveLength(7);
    expect(gpu.migProfiles.every((p) => p.instancesFree === p.instancesTotal)).toBe(true);
    expect(gpu.processes).toEqual([
      {
        pid: 4559,
        name: '/tmp/loadgen',
        type: 'C',
        usedMemoryMiB: 4618,
        gpuInstanceId: null,
        computeInstanceId: null,
      },
    ]);
  });

  it('h100-mig: two 1g.10gb instances with UUIDs, placements and usage', async () => {
    const gpu = await replay('h100-mig-20260729');
    expect(gpu.migMode).toEqual({ current: true, pending: true });
    expect(gpu.utilizationPercent).toBeNull(); // [N/A] with MIG on
    expect(gpu.migInstances).toEqual([
      {
        gpuInstanceId: 11,
        computeInstanceId: 0,
        profile: '1g.10gb',
        profileId: 19,
        memoryMiB: 9984,
        memoryUsedMiB: 4210,
        uuid: 'MIG-8443519f-66f7-5962-8955-60dba0866f3a',
        placement: { start: 4, size: 1 },
        utilizationPercent: null,
      },
      {
        gpuInstanceId: 13,
        computeInstanceId: 0,
        profile: '1g.10gb',
        profileId: 19,
        memoryMiB: 9984,
        memoryUsedMiB: 15,
        uuid: 'MIG-ee6996fb-86fb-5405-83f0-b20887da1bb3',
        placement: { start: 6, size: 1 },
        utilizationPercent: null,
      },
    ]);
    expect(gpu.migProfiles.find((p) => p.name === '1g.10gb')).toMatchObject({
      instancesFree: 5,
      instancesTotal: 7,
    });
    expect(gpu.processes[0]).toMatchObject({ pid: 10385, gpuInstanceId: 11, computeInstanceId: 0 });
  });

  it('h100-mig-mixed: joins UUIDs by device number, not by listing order', async () => {
    const gpu = await replay('h100-mig-mixed-20260729');
    // -lgi lists GI 13, 1, 11; -L numbers the devices GI 1, 11, 13.
    expect(
      gpu.migInstances.map((i) => [i.gpuInstanceId, i.profile, i.profileId, i.placement, i.uuid]),
    ).toEqual([
      [1, '3g.40gb', 9, { start: 0, size: 4 }, 'MIG-5ff0d535-9a82-5af6-80df-768b9d3ac092'],
      [11, '1g.10gb+me', 20, { start: 4, size: 1 }, 'MIG-8443519f-66f7-5962-8955-60dba0866f3a'],
      [13, '1g.10gb', 19, { start: 6, size: 1 }, 'MIG-ee6996fb-86fb-5405-83f0-b20887da1bb3'],
    ]);
    expect(gpu.migInstances[0]).toMatchObject({ memoryMiB: 40448, memoryUsedMiB: 12627 });
    expect(gpu.migProfiles.map((p) => p.instancesFree)).toEqual([1, 0, 0, 0, 0, 0, 0]);
    expect(gpu.processes.map((p) => [p.pid, p.gpuInstanceId, p.name])).toEqual([
      [23804, 1, '/tmp/loadgen'],
      [23806, 1, '/tmp/loadgen'],
      [23808, 1, '/tmp/ghost'],
    ]);
  });

  it('h200-mig: H200 profile names and sizes', async () => {
    const gpu = await replay('h200-mig-20260726');
    expect(gpu.uuid).toBe(H200_UUID);
    expect(gpu.memoryTotalMiB).toBe(143771);
    expect(gpu.migInstances.map((i) => [i.gpuInstanceId, i.profile, i.memoryMiB, i.uuid])).toEqual([
      [11, '1g.18gb', 16384, 'MIG-30366fdf-6105-5648-968d-679e250aa830'],
      [13, '1g.18gb', 16384, 'MIG-7138b2c5-cb05-5700-b65a-5fdec910f0f4'],
    ]);
    expect(gpu.migProfiles.at(-1)).toMatchObject({ name: '7g.141gb', id: 0, instancesFree: 0 });
    expect(gpu.processes).toEqual([
      {
        pid: 12648,
        name: '/tmp/prickle-gpu-spin',
        type: 'C',
        usedMemoryMiB: 602,
        gpuInstanceId: 11,
        computeInstanceId: 0,
      },
    ]);
  });
});

describe('createReplaySource over -q -x captures', () => {
  it('cycles through the XMLs of a directory so telemetry moves', async () => {
    const { dir, cleanup } = tempDir('replay-');
    try {
      copyFileSync(
        join(fixturesDir, 'k8s-test-infra/mock-qx-gb200-healthy.xml'),
        join(dir, 'a.xml'),
      );
      copyFileSync(
        join(fixturesDir, 'k8s-test-infra/mock-qx-gb200-throttle-counters.xml'),
        join(dir, 'b.xml'),
      );
      const source = createReplaySource({ directory: dir, hostname: 'n' });
      const powers: (number | null | undefined)[] = [];
      for (let i = 0; i < 3; i += 1) powers.push((await source.collect()).gpus[0]?.powerDrawW);
      expect(powers).toEqual([618.35, 145, 618.35]);
    } finally {
      cleanup();
    }
  });

  it('joins listings kept next to an XML', async () => {
    const { dir, cleanup } = tempDir('replay-');
    try {
      const state = a100Responses([3, 4, 5, 6]);
      writeFileSync(join(dir, 'capture.xml'), state['-q -x'].stdout);
      writeFileSync(join(dir, 'mig-profiles.txt'), state['mig -lgip'].stdout);
      writeFileSync(join(dir, 'mig-gi.txt'), state['mig -lgi'].stdout);
      writeFileSync(join(dir, 'mig-ci.txt'), state['mig -lci'].stdout);
      writeFileSync(join(dir, 'gpus.txt'), state['-L'].stdout);
      writeFileSync(
        join(dir, 'mig-placements.txt'),
        'GPU  0 Profile ID 15 Placements: {0,2,4,6}:2\n',
      );
      writeFileSync(join(dir, 'conf-compute.txt'), 'CC status: ON\n');
      const [gpu] = (await createReplaySource({ directory: dir, hostname: 'n' }).collect()).gpus;
      expect(gpu?.uuid).toBe(A100_UUID);
      expect(gpu?.confidentialComputeMode).toBe('ON');
      expect(gpu?.migInstances.map((i) => [i.gpuInstanceId, i.profile, i.uuid])).toEqual(
        [3, 4, 5, 6].map((gi, n) => [gi, '1g.20gb', migUuid(n)]),
      );
      expect(gpu?.migProfiles.find((p) => p.id === 15)?.placements).toEqual(
        [0, 2, 4, 6].map((start) => ({ start, size: 2 })),
      );
    } finally {
      cleanup();
    }
  });

  it('serves an XML alone, naming MIG devices "unknown" without listings', async () => {
    const { dir, cleanup } = tempDir('replay-');
    try {
      copyFileSync(join(fixturesDir, 'telegraf/a100-sxm4-v12.xml'), join(dir, 'a100.xml'));
      const [gpu] = (await createReplaySource({ directory: dir, hostname: 'n' }).collect()).gpus;
      expect(
        gpu?.migInstances.map((i) => [i.gpuInstanceId, i.profile, i.memoryMiB, i.uuid]),
      ).toEqual([3, 4, 5, 6].map((gi) => [gi, 'unknown', 19968, null]));
      expect(gpu?.migProfiles).toEqual([]);
    } finally {
      cleanup();
    }
  });

  it('fails clearly for a directory without captures', async () => {
    const { dir, cleanup } = tempDir('replay-');
    try {
      const error: unknown = await createReplaySource({ directory: dir, hostname: 'n' })
        .collect()
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SmiParseError);
      expect((error as SmiParseError).message).toMatch(/neither a -q -x XML/);
    } finally {
      cleanup();
    }
  });
});

describe('createReplaySource MIG changes', () => {
  it('refuses them: a replay is read-only', async () => {
    const source = createReplaySource({
      directory: join(fixturesDir, 'prickle-exporter/h100-mig-20260729'),
      hostname: 'n',
    });
    for (const attempt of [
      source.createMigInstance(H100_UUID, '1g.10gb'),
      source.destroyMigInstance(H100_UUID, 11),
    ]) {
      const error: unknown = await attempt.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MigCommandError);
      expect(error).toMatchObject({
        reason: 'COMMAND_FAILED',
        message: 'replay source is read-only',
      });
    }
    expect(source.kind).toBe('replay');
  });
});
