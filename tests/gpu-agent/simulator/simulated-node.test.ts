import { describe, expect, it } from 'vitest';
import { MigCommandError, type MigFailureReason } from '../../../gpu-agent/errors.ts';
import { GPU_MODEL_KEYS, GPU_MODELS, type GpuModelKey } from '../../../gpu-agent/mig/profiles.ts';
import type { GpuState } from '../../../gpu-agent/model.ts';
import {
  createSimulatedSource,
  type SimulatedSourceOptions,
} from '../../../gpu-agent/simulator/index.ts';

const START = Date.parse('2026-07-29T18:00:00Z');

/** A clock the test moves by hand; every read returns the same time until advanced. */
function manualClock(stepMs = 0) {
  let now = START;
  return {
    read: () => now,
    advance: (ms: number) => (now += ms),
    ticking: () => () => (now += stepMs),
  };
}

function node(gpus: SimulatedSourceOptions['gpus'], extra: Partial<SimulatedSourceOptions> = {}) {
  return createSimulatedSource({
    hostname: 'sim-a',
    gpus,
    seed: 7,
    clock: manualClock().read,
    autoProcesses: false,
    ...extra,
  });
}

async function rejection(promise: Promise<unknown>): Promise<MigCommandError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(MigCommandError);
    return error as MigCommandError;
  }
  throw new Error('expected a MigCommandError');
}

async function expectRefusal(
  promise: Promise<unknown>,
  reason: MigFailureReason,
  message?: string,
): Promise<void> {
  const error = await rejection(promise);
  expect(error.reason).toBe(reason);
  if (message !== undefined) expect(error.message).toBe(message);
}

describe('simulated node: static facts', () => {
  it('reports the board as nvidia-smi does', async () => {
    const clock = manualClock();
    const source = node([{ model: 'H100-80GB', migEnabled: false }], { clock: clock.read });
    const snapshot = await source.collect();
    expect(snapshot).toMatchObject({
      hostname: 'sim-a',
      source: 'simulator',
      driverVersion: expect.stringMatching(/^580\.\d+\.\d+$/) as string,
      cudaVersion: '13.0',
      collectedAt: '2026-07-29T18:00:00.000Z',
    });
    const gpu = snapshot.gpus[0]!;
    expect(gpu).toMatchObject({
      index: 0,
      name: 'NVIDIA H100 80GB HBM3',
      architecture: 'Hopper',
      memoryTotalMiB: 81559,
      powerLimitW: 700,
      eccEnabled: true,
      eccErrors: {
        volatileCorrected: 0,
        volatileUncorrected: 0,
        aggregateCorrected: 0,
        aggregateUncorrected: 0,
      },
      retiredPages: null,
      remappedRows: { correctable: 0, uncorrectable: 0, pending: false, failure: false },
      migMode: { current: false, pending: false },
      migInstances: [],
      confidentialComputeMode: 'OFF',
    });
    expect(gpu.uuid).toMatch(/^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(gpu.serial).toMatch(/^\d{13}$/);
    expect(gpu.pciBusId).toMatch(/^00000000:[0-9A-F]{2}:00\.0$/);
    expect(gpu.vbiosVersion).toMatch(/^96\.00\./);
    // lgip still lists every profile with MIG off (h100-default capture).
    expect(gpu.migProfiles.map((p) => `${p.name} ${p.instancesFree}/${p.instancesTotal}`)).toEqual([
      '1g.10gb 7/7',
      '1g.10gb+me 1/1',
      '1g.20gb 4/4',
      '2g.20gb 3/3',
      '3g.40gb 2/2',
      '4g.40gb 1/1',
      '7g.80gb 1/1',
    ]);
    clock.advance(30_000);
    expect((await source.collect()).collectedAt).toBe('2026-07-29T18:00:30.000Z');
  });

  it.each(GPU_MODEL_KEYS)('stands in for %s', async (model) => {
    const snapshot = await node([{ model, migEnabled: true }]).collect();
    const gpu = snapshot.gpus[0]!;
    expect(gpu.name).toBe(GPU_MODELS[model].productName);
    expect(gpu.memoryTotalMiB).toBe(GPU_MODELS[model].memoryTotalMiB);
    expect(gpu.migProfiles.map((p) => p.name)).toEqual(
      GPU_MODELS[model].profiles.map((p) => p.name),
    );
  });

  it('gives GPUs distinct identities and bus ids', async () => {
    const gpus = Array.from({ length: 8 }, () => ({
      model: 'H100-80GB' as const,
      migEnabled: false,
    }));
    const snapshot = await node(gpus).collect();
    for (const key of ['uuid', 'serial', 'pciBusId'] as const) {
      expect(new Set(snapshot.gpus.map((g) => g[key])).size).toBe(8);
    }
    expect(snapshot.gpus.map((g) => g.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
});

describe('simulated node: MIG changes', () => {
  it('refuses MIG changes on a GPU with MIG off', async () => {
    const source = node([{ model: 'A100-80GB', migEnabled: false }]);
    const [uuid] = source.gpuUuids;
    await expectRefusal(
      source.createMigInstance(uuid!, '1g.10gb'),
      'MIG_DISABLED',
      'No MIG-enabled devices found.',
    );
    await expectRefusal(
      source.destroyMigInstance(uuid!, 7),
      'MIG_DISABLED',
      'No MIG-enabled devices found.',
    );
  });

  it('refuses an unknown GPU and an unknown profile, naming the valid ones', async () => {
    const source = node([{ model: 'A100-40GB', migEnabled: true }]);
    await expectRefusal(source.createMigInstance('GPU-nope', '19'), 'GPU_NOT_FOUND');
    await expectRefusal(source.destroyMigInstance('GPU-nope', 1), 'GPU_NOT_FOUND');
    // An H100 profile name does not exist on an A100-40GB.
    const error = await rejection(source.createMigInstance(source.gpuUuids[0]!, '3g.40gb'));
    expect(error.reason).toBe('UNKNOWN_PROFILE');
    expect(error.message).toContain('3g.40gb');
    expect(error.message).toContain('3g.20gb (ID 9)');
  });

  it('creates an instance by name or id with its default compute instance and MIG UUID', async () => {
    const source = node([{ model: 'H100-80GB', migEnabled: true }]);
    const uuid = source.gpuUuids[0]!;
    const byName = await source.createMigInstance(uuid, '3g.40gb');
    expect(byName).toMatchObject({
      gpuInstanceId: 2,
      computeInstanceId: 0,
      profile: '3g.40gb',
      profileId: 9,
      memoryMiB: 40448,
      memoryUsedMiB: 15,
      placement: { start: 4, size: 4 },
      utilizationPercent: 0,
    });
    expect(byName.uuid).toMatch(
      /^MIG-[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    const byId = await source.createMigInstance(uuid, '19');
    expect(byId).toMatchObject({
      profile: '1g.10gb',
      gpuInstanceId: 7,
      placement: { start: 0, size: 1 },
    });

    const gpu = (await source.collect()).gpus[0]!;
    expect(gpu.migInstances.map((i) => [i.gpuInstanceId, i.profile])).toEqual([
      [2, '3g.40gb'],
      [7, '1g.10gb'],
    ]);
    const free = Object.fromEntries(gpu.migProfiles.map((p) => [p.name, p.instancesFree]));
    expect(free).toEqual({
      '1g.10gb': 3,
      '1g.10gb+me': 1,
      '1g.20gb': 1,
      '2g.20gb': 1,
      '3g.40gb': 0,
      '4g.40gb': 0,
      '7g.80gb': 0,
    });
    // Empty instances still hold their base allocation, and the GPU total is their sum.
    expect(gpu.memoryUsedMiB).toBe(30);
  });

  it.each(GPU_MODEL_KEYS)(
    'refuses what %s cannot fit with "Insufficient Resources"',
    async (model) => {
      const source = node([{ model, migEnabled: true, migInstances: ['0'] }]);
      await expectRefusal(
        source.createMigInstance(source.gpuUuids[0]!, '19'),
        'INSUFFICIENT_RESOURCES',
        'Insufficient Resources',
      );
    },
  );

  it('refuses to destroy an instance a process runs on, until the process ends', async () => {
    const source = node([{ model: 'H100-80GB', migEnabled: true, migInstances: ['9', '9'] }]);
    const uuid = source.gpuUuids[0]!;
    const process = source.runProcess(uuid, 1, { name: '/tmp/loadgen', usedMemoryMiB: 4188 });
    expect(process).toMatchObject({
      gpuInstanceId: 1,
      computeInstanceId: 0,
      type: 'C',
      usedMemoryMiB: 4188,
    });

    await expectRefusal(source.destroyMigInstance(uuid, 1), 'IN_USE', 'In use by another client');
    let gpu = (await source.collect()).gpus[0]!;
    expect(gpu.migInstances.map((i) => i.gpuInstanceId)).toEqual([1, 2]);
    expect(gpu.processes.map((p) => p.pid)).toEqual([process.pid]);
    expect(gpu.migInstances[0]!.memoryUsedMiB).toBe(15 + 4188);

    // The other instance is free to go.
    await source.destroyMigInstance(uuid, 2);
    expect(source.stopProcess(process.pid)).toBe(true);
    expect(source.stopProcess(process.pid)).toBe(false);
    await source.destroyMigInstance(uuid, 1);
    gpu = (await source.collect()).gpus[0]!;
    expect(gpu.migInstances).toEqual([]);
    expect(gpu.processes).toEqual([]);
    expect(gpu.migProfiles.every((p) => p.instancesFree === p.instancesTotal)).toBe(true);
  });

  it('refuses to destroy an instance that does not exist', async () => {
    const source = node([{ model: 'H200-141GB', migEnabled: true, migInstances: ['19'] }]);
    await expectRefusal(source.destroyMigInstance(source.gpuUuids[0]!, 7), 'INSTANCE_NOT_FOUND');
  });

  it('gives a re-created instance the same id and MIG UUID, as real drivers do', async () => {
    const source = node([{ model: 'H100-80GB', migEnabled: true }]);
    const uuid = source.gpuUuids[0]!;
    const first = await source.createMigInstance(uuid, '1g.20gb');
    await source.destroyMigInstance(uuid, first.gpuInstanceId);
    const again = await source.createMigInstance(uuid, '1g.20gb');
    expect(again.gpuInstanceId).toBe(first.gpuInstanceId);
    expect(again.uuid).toBe(first.uuid);
    expect(again.placement).toEqual(first.placement);
  });

  it('refuses a start-up layout that does not fit', () => {
    expect(() =>
      node([{ model: 'H100-80GB', migEnabled: true, migInstances: ['5', '5'] }]),
    ).toThrow('Insufficient Resources');
    expect(() => node([{ model: 'H100-80GB', migEnabled: false, migInstances: ['19'] }])).toThrow(
      'No MIG-enabled devices found.',
    );
  });

  it('needs a GPU instance to run a process on a MIG GPU', () => {
    const source = node([{ model: 'H100-80GB', migEnabled: true, migInstances: ['19'] }]);
    expect(() => source.runProcess(source.gpuUuids[0]!)).toThrow(MigCommandError);
    expect(() => source.runProcess(source.gpuUuids[0]!, 12)).toThrow(
      expect.objectContaining({ reason: 'INSTANCE_NOT_FOUND' }) as Error,
    );
  });
});

describe('simulated node: telemetry', () => {
  /** Collects `n` readings of GPU 0, the clock moving `stepMs` between them. */
  async function readings(
    gpus: SimulatedSourceOptions['gpus'],
    n: number,
    setup: (source: ReturnType<typeof node>) => void = () => undefined,
    extra: Partial<SimulatedSourceOptions> = {},
  ): Promise<GpuState[]> {
    const clock = manualClock(5_000);
    const source = node(gpus, { clock: clock.ticking(), ...extra });
    setup(source);
    const out: GpuState[] = [];
    for (let i = 0; i < n; i += 1) out.push((await source.collect()).gpus[0]!);
    return out;
  }

  it.each(GPU_MODEL_KEYS)(
    '%s heats up under load, stays in range, and cools down',
    async (model) => {
      const spec = GPU_MODELS[model];
      const clock = manualClock(5_000);
      const source = node([{ model, migEnabled: false }], { clock: clock.ticking() });
      const uuid = source.gpuUuids[0]!;
      const idle = (await source.collect()).gpus[0]!;
      expect(idle.utilizationPercent).toBe(0);
      expect(idle.memoryUsedMiB).toBe(0);
      expect(idle.powerDrawW!).toBeLessThan(spec.idlePowerW * 1.2);

      const job = source.runProcess(uuid, null, { usedMemoryMiB: 20_000, utilizationPercent: 95 });
      const loaded: GpuState[] = [];
      for (let i = 0; i < 120; i += 1) loaded.push((await source.collect()).gpus[0]!);
      for (const g of loaded) {
        expect(g.utilizationPercent).toBeGreaterThanOrEqual(0);
        expect(g.utilizationPercent).toBeLessThanOrEqual(100);
        expect(g.powerDrawW!).toBeGreaterThanOrEqual(spec.idlePowerW * 0.9);
        expect(g.powerDrawW!).toBeLessThanOrEqual(spec.powerLimitW);
        expect(g.temperatureC!).toBeLessThanOrEqual(spec.fullLoadTemperatureC + 5);
        expect(g.memoryUsedMiB).toBeGreaterThanOrEqual(20_000);
        expect(g.memoryUtilizationPercent).not.toBeNull();
      }
      const last = loaded[loaded.length - 1]!;
      // The utilization is a walk, not a constant; temperature lags power (inertia).
      expect(new Set(loaded.map((g) => g.utilizationPercent)).size).toBeGreaterThan(5);
      expect(loaded[0]!.temperatureC! - idle.temperatureC!).toBeLessThan(10);
      expect(last.temperatureC! - idle.temperatureC!).toBeGreaterThan(20);
      expect(last.powerDrawW!).toBeGreaterThan(spec.powerLimitW * 0.6);
      expect(last.clocks.graphicsMHz!).toBeGreaterThan(spec.clocks.idleGraphicsMHz);

      source.stopProcess(job.pid);
      const after: GpuState[] = [];
      for (let i = 0; i < 120; i += 1) after.push((await source.collect()).gpus[0]!);
      expect(after[after.length - 1]!.temperatureC!).toBeLessThan(last.temperatureC! - 15);
      expect(after[after.length - 1]!.utilizationPercent!).toBeLessThan(3);
      expect(after[after.length - 1]!.memoryUsedMiB).toBe(0);
    },
  );

  it('reports per-instance utilization and memory with MIG on, and none for the whole GPU', async () => {
    let busyPid = 0;
    const states = await readings(
      [{ model: 'H100-80GB', migEnabled: true, migInstances: ['19', '19', '9'] }],
      60,
      (source) => {
        busyPid = source.runProcess(source.gpuUuids[0]!, 13, { usedMemoryMiB: 4000 }).pid;
      },
    );
    expect(busyPid).toBeGreaterThan(0);
    for (const g of states) {
      expect(g.utilizationPercent).toBeNull();
      expect(g.memoryUtilizationPercent).toBeNull();
      expect(g.memoryUsedMiB).toBe(g.migInstances.reduce((sum, i) => sum + i.memoryUsedMiB!, 0));
    }
    const last = states[states.length - 1]!;
    const byId = Object.fromEntries(last.migInstances.map((i) => [i.gpuInstanceId, i]));
    expect(byId[13]!.utilizationPercent!).toBeGreaterThan(50);
    expect(byId[13]!.memoryUsedMiB).toBe(4015);
    expect(byId[11]!.utilizationPercent).toBeLessThan(3);
    expect(byId[1]!.memoryUsedMiB).toBe(15);
    expect(last.processes).toEqual([
      expect.objectContaining({ pid: busyPid, gpuInstanceId: 13, computeInstanceId: 0 }),
    ]);
  });

  it('starts and ends processes on MIG instances by itself when allowed', async () => {
    const states = await readings(
      [
        {
          model: 'A100-80GB',
          migEnabled: true,
          migInstances: ['19', '19', '19', '19', '19', '19', '19'],
        },
      ],
      400,
      () => undefined,
      { autoProcesses: true },
    );
    const seen = new Map<number, { first: number; last: number; gi: number | null }>();
    states.forEach((g, i) => {
      for (const p of g.processes) {
        const entry = seen.get(p.pid) ?? { first: i, last: i, gi: p.gpuInstanceId };
        entry.last = i;
        seen.set(p.pid, entry);
      }
    });
    const instanceIds = new Set(states[0]!.migInstances.map((i) => i.gpuInstanceId));
    expect([...seen.values()].every((p) => p.gi !== null && instanceIds.has(p.gi))).toBe(true);
    expect([...seen.values()].some((p) => p.first > 0)).toBe(true);
    expect([...seen.values()].some((p) => p.last < states.length - 1)).toBe(true);
  });
});

describe('simulated node: snapshots', () => {
  it('hands out copies: mutating a snapshot or a result changes nothing inside', async () => {
    const source = node([{ model: 'H100-80GB', migEnabled: true, migInstances: ['9'] }]);
    const uuid = source.gpuUuids[0]!;
    source.runProcess(uuid, 2, { usedMemoryMiB: 100 });
    const first = await source.collect();
    const reference = structuredClone(first);
    const gpu = first.gpus[0]!;
    gpu.name = 'tampered';
    gpu.migProfiles[0]!.instancesFree = 99;
    gpu.migProfiles[0]!.placements[0]!.start = 99;
    gpu.migInstances[0]!.placement!.start = 99;
    gpu.migInstances.push({ ...gpu.migInstances[0]!, gpuInstanceId: 99 });
    gpu.processes[0]!.usedMemoryMiB = 1;
    gpu.eccErrors!.aggregateUncorrected = 5;
    gpu.clocks.memoryMHz = 1;
    first.gpus.pop();

    const created = await source.createMigInstance(uuid, '9');
    created.placement!.start = 5;

    const second = (await source.collect()).gpus[0]!;
    expect(second.name).toBe(reference.gpus[0]!.name);
    expect(second.migProfiles[0]!.placements).toEqual(
      reference.gpus[0]!.migProfiles[0]!.placements,
    );
    expect(second.migInstances.map((i) => [i.gpuInstanceId, i.placement])).toEqual([
      [1, { start: 0, size: 4 }],
      [2, { start: 4, size: 4 }],
    ]);
    expect(second.processes[0]!.usedMemoryMiB).toBe(100);
    expect(second.eccErrors!.aggregateUncorrected).toBe(0);
    expect(second.clocks.memoryMHz).toBe(reference.gpus[0]!.clocks.memoryMHz);
  });

  it('is deterministic per seed and hostname', async () => {
    const gpus = [
      { model: 'H100-80GB' as GpuModelKey, migEnabled: true, migInstances: ['9', '14'] },
      { model: 'A100-40GB' as GpuModelKey, migEnabled: false },
    ];
    const run = async (seed: number, hostname = 'sim-a') => {
      const source = node(gpus, {
        seed,
        hostname,
        autoProcesses: true,
        clock: manualClock(10_000).ticking(),
      });
      const out = [];
      for (let i = 0; i < 50; i += 1) out.push(await source.collect());
      return out;
    };
    const a = await run(1);
    const b = await run(1);
    expect(b).toEqual(a);
    const c = await run(2);
    const d = await run(1, 'sim-b');
    const uuids = (runs: typeof a) => runs[0]!.gpus.map((g) => g.uuid);
    expect(uuids(c)).not.toEqual(uuids(a));
    expect(uuids(d)).not.toEqual(uuids(a));
    expect(c.map((s) => s.gpus[1]!.powerDrawW)).not.toEqual(a.map((s) => s.gpus[1]!.powerDrawW));
    expect(a[0]!.gpus[0]!.migInstances[0]!.uuid).not.toBe(c[0]!.gpus[0]!.migInstances[0]!.uuid);
  });

  it('stops answering once closed', async () => {
    const source = node([{ model: 'H100-80GB', migEnabled: true }]);
    await source.close();
    await expect(source.collect()).rejects.toThrow('closed');
    await expect(source.createMigInstance(source.gpuUuids[0]!, '19')).rejects.toThrow('closed');
  });
});
