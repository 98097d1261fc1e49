import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  MigCommandError,
  SmiCommandError,
  type MigFailureReason,
} from '../../../gpu-agent/errors.ts';
import { createNvidiaSmiSource } from '../../../gpu-agent/collector/nvidia-smi-source.ts';
import type { GpuSource } from '../../../gpu-agent/model.ts';
import { A100_UUID, a100Responses, migUuid } from './a100-mig-state.ts';
import { FakeSmi, fixtureText, tempDir } from './helpers.ts';

let fake: FakeSmi;
let cleanup: () => void;
let source: GpuSource;
let warnings: string[];

beforeEach(() => {
  const temp = tempDir('fake-smi-');
  cleanup = temp.cleanup;
  fake = new FakeSmi(temp.dir);
  warnings = [];
  source = createNvidiaSmiSource({
    hostname: 'gpu-node-1',
    binary: fake.binary,
    timeoutMs: 2000,
    onWarning: (message) => warnings.push(message),
    now: () => new Date('2026-01-02T03:04:05.000Z'),
  });
});

afterEach(async () => {
  await source.close();
  cleanup();
});

async function migError(promise: Promise<unknown>): Promise<MigCommandError> {
  const error: unknown = await promise.then(
    () => new Error('expected a MigCommandError'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MigCommandError);
  return error as MigCommandError;
}

const FOUR = [3, 4, 5, 6];

describe('createNvidiaSmiSource: collect', () => {
  it('joins -q -x, the MIG listings and -L into one snapshot', async () => {
    fake.respond(a100Responses(FOUR));
    const snapshot = await source.collect();
    expect(snapshot).toMatchObject({
      hostname: 'gpu-node-1',
      source: 'nvidia-smi',
      driverVersion: '535.54.03',
      cudaVersion: '12.2',
      collectedAt: '2026-01-02T03:04:05.000Z',
    });
    const [gpu] = snapshot.gpus;
    expect(gpu?.uuid).toBe(A100_UUID);
    expect(gpu?.confidentialComputeMode).toBe('OFF');
    expect(
      gpu?.migProfiles.map((p) => `${p.name}:${p.id}:${p.instancesFree}/${p.instancesTotal}`),
    ).toEqual(['1g.10gb:19:0/7', '1g.20gb:15:0/4', '7g.80gb:0:0/1']);
    expect(gpu?.migInstances).toEqual(
      FOUR.map((gi, n) => ({
        gpuInstanceId: gi,
        computeInstanceId: 0,
        profile: '1g.20gb',
        profileId: 15,
        memoryMiB: 19968, // the XML's exact size, not 19.50 GiB from -lgip
        memoryUsedMiB: 12,
        uuid: migUuid(n),
        placement: { start: n * 2, size: 2 },
        utilizationPercent: null,
      })),
    );
    expect(fake.calls()).toEqual([
      '-q -x',
      'mig -lgip',
      'mig -lgipp',
      'mig -lgi',
      'mig -lci',
      '-L',
      'conf-compute -f',
    ]);
    // No -lgipp response: the fake refuses it like an old driver; placements are simply unknown.
    expect(gpu?.migProfiles[1]?.placements).toEqual([]);
    expect(warnings).toEqual(['nvidia-smi mig -lgipp failed; snapshot sent without it']);
  });

  it('runs no MIG commands for a GPU without MIG and tolerates a missing conf-compute', async () => {
    fake.respond({ '-q -x': { stdout: fixtureText('telegraf/tesla-t4.xml') } });
    const snapshot = await source.collect();
    expect(fake.calls()).toEqual(['-q -x', 'conf-compute -f']);
    expect(snapshot.gpus[0]).toMatchObject({
      name: 'Tesla T4',
      migProfiles: [],
      migInstances: [],
      confidentialComputeMode: null,
    });
  });

  it('still reports MIG devices from the XML when -lgi fails', async () => {
    fake.respond({
      ...a100Responses(FOUR),
      'mig -lgi': { stdout: 'Insufficient Permissions\n', exitCode: 4 },
    });
    const [gpu] = (await source.collect()).gpus;
    expect(gpu?.migInstances.map((i) => [i.gpuInstanceId, i.profile, i.uuid])).toEqual(
      FOUR.map((gi, n) => [gi, '1g.20gb', migUuid(n)]),
    );
    expect(warnings).toContain('nvidia-smi mig -lgi failed; snapshot sent without it');
  });

  it('fails the collection when -q -x fails or hangs', async () => {
    fake.respond({
      '-q -x': {
        stdout: 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.',
        exitCode: 9,
      },
    });
    const failed: unknown = await source.collect().catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(SmiCommandError);
    expect((failed as SmiCommandError).kind).toBe('EXIT');
    expect((failed as SmiCommandError).message).toMatch(/could not communicate/);

    fake.respond({ '-q -x': { stdout: fixtureText('telegraf/tesla-t4.xml'), delaySeconds: 30 } });
    const started = Date.now();
    const hung: unknown = await source.collect().catch((e: unknown) => e);
    expect((hung as SmiCommandError).kind).toBe('TIMEOUT');
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('createNvidiaSmiSource: createMigInstance', () => {
  it('creates by profile name and returns the new instance as re-read from the driver', async () => {
    fake.respond({
      ...a100Responses([3, 4, 5]),
      'mig -i 0 -cgi 15 -C': {
        stdout: [
          'Successfully created GPU instance ID  6 on GPU  0 using profile MIG 1g.20gb (ID 15)',
          'Successfully created compute instance ID  0 on GPU  0 GPU instance ID  6 using profile MIG 1g.20gb (ID  0)',
          '',
        ].join('\n'),
        then: a100Responses(FOUR),
      },
    });
    const created = await source.createMigInstance(A100_UUID, '1g.20gb');
    expect(created).toEqual({
      gpuInstanceId: 6,
      computeInstanceId: 0,
      profile: '1g.20gb',
      profileId: 15,
      memoryMiB: 19968,
      memoryUsedMiB: 12,
      uuid: migUuid(3),
      placement: { start: 6, size: 2 },
      utilizationPercent: null,
    });
    expect(fake.calls()).toContain('mig -i 0 -cgi 15 -C');
  });

  it.each(['MIG 1g.20gb', '15'])('accepts the profile as %j', async (profile) => {
    fake.respond({
      ...a100Responses([3, 4, 5]),
      'mig -i 0 -cgi 15 -C': {
        stdout:
          'Successfully created GPU instance ID  6 on GPU  0 using profile MIG 1g.20gb (ID 15)\n',
      },
    });
    expect((await source.createMigInstance(A100_UUID, profile)).gpuInstanceId).toBe(6);
  });

  const createFailures: [string, string, MigFailureReason][] = [
    [
      'no free placement',
      'Unable to create a GPU instance on GPU  0 using profile 15: Insufficient Resources\nFailed to create GPU instances: Insufficient Resources\n',
      'INSUFFICIENT_RESOURCES',
    ],
    ['MIG mode off', 'No MIG-enabled devices found.\n', 'MIG_DISABLED'],
    ['GPU without MIG', 'No MIG-supported devices found.\n', 'MIG_NOT_SUPPORTED'],
    ['vGPU guest', 'Insufficient Permissions\n', 'PERMISSION_DENIED'],
    ['held by a client', 'Failed to create GPU instances: In use by another client\n', 'IN_USE'],
    ['anything else', 'Failed to create GPU instances: Unknown Error\n', 'COMMAND_FAILED'],
  ];

  it.each(createFailures)('maps %s to its reason', async (_case, output, reason) => {
    fake.respond({
      ...a100Responses(FOUR),
      'mig -i 0 -cgi 15 -C': { stdout: output, exitCode: 3 },
    });
    const error = await migError(source.createMigInstance(A100_UUID, '1g.20gb'));
    expect(error.reason).toBe(reason);
    expect(error.message).toContain(output.trim().split('\n').at(-1));
  });

  it('removes a GPU instance whose compute instance could not be made', async () => {
    fake.respond({
      ...a100Responses([3, 4, 5]),
      'mig -i 0 -cgi 15 -C': {
        stdout: [
          'Successfully created GPU instance ID  6 on GPU  0 using profile MIG 1g.20gb (ID 15)',
          'Unable to create a compute instance on GPU  0 GPU instance ID  6 using profile 0: Insufficient Resources',
          'Failed to create compute instances: Insufficient Resources',
        ].join('\n'),
        exitCode: 3,
      },
      'mig -dgi -gi 6 -i 0': { stdout: 'Successfully destroyed GPU instance ID  6 from GPU  0\n' },
    });
    const error = await migError(source.createMigInstance(A100_UUID, '1g.20gb'));
    expect(error.reason).toBe('INSUFFICIENT_RESOURCES');
    expect(fake.calls().at(-1)).toBe('mig -dgi -gi 6 -i 0');
  });

  it('refuses an unknown GPU or profile without running -cgi', async () => {
    fake.respond(a100Responses(FOUR));
    const noGpu = await migError(
      source.createMigInstance('GPU-ffffffff-0000-0000-0000-000000000000', '1g.20gb'),
    );
    expect(noGpu.reason).toBe('GPU_NOT_FOUND');
    const noProfile = await migError(source.createMigInstance(A100_UUID, '3g.40gb'));
    expect(noProfile.reason).toBe('UNKNOWN_PROFILE');
    expect(noProfile.message).toMatch(/1g\.20gb \(15\)/);
    expect(fake.calls().some((call) => call.includes('-cgi'))).toBe(false);
  });

  it('reports a -cgi that printed no success line', async () => {
    fake.respond({ ...a100Responses(FOUR), 'mig -i 0 -cgi 15 -C': { stdout: 'Nothing to do.\n' } });
    const error = await migError(source.createMigInstance(A100_UUID, '15'));
    expect(error.reason).toBe('COMMAND_FAILED');
    expect(error.message).toMatch(/Nothing to do/);
  });
});

describe('createNvidiaSmiSource: destroyMigInstance', () => {
  it('destroys the compute instances, then the GPU instance', async () => {
    fake.respond({
      ...a100Responses(FOUR),
      'mig -dci -gi 4 -i 0': {
        stdout: 'Successfully destroyed compute instance ID  0 from GPU  0 GPU instance ID  4\n',
      },
      'mig -dgi -gi 4 -i 0': { stdout: 'Successfully destroyed GPU instance ID  4 from GPU  0\n' },
    });
    await source.destroyMigInstance(A100_UUID, 4);
    expect(fake.calls().slice(-2)).toEqual(['mig -dci -gi 4 -i 0', 'mig -dgi -gi 4 -i 0']);
  });

  it('maps a compute instance held by a process (DCGM#95 wording) to IN_USE and stops', async () => {
    fake.respond({
      ...a100Responses(FOUR),
      'mig -dci -gi 4 -i 0': {
        stdout:
          'unable to destroy compute instance id  0 from gpu  0 gpu instance id  4: in use by another client\nfailed to destroy compute instances: in use by another client\n',
        exitCode: 3,
      },
    });
    const error = await migError(source.destroyMigInstance(A100_UUID, 4));
    expect(error.reason).toBe('IN_USE');
    expect(fake.calls()).not.toContain('mig -dgi -gi 4 -i 0');
  });

  const destroyFailures: [string, string, MigFailureReason][] = [
    [
      'a busy GPU instance',
      'Unable to destroy GPU instance ID  4 from GPU  0: In use by another client\nFailed to destroy GPU instances: In use by another client\n',
      'IN_USE',
    ],
    ['a vGPU guest', 'Insufficient Permissions\n', 'PERMISSION_DENIED'],
    ['MIG switched off meanwhile', 'No MIG-enabled devices found.\n', 'MIG_DISABLED'],
    [
      'an instance gone meanwhile',
      'Unable to destroy GPU instance ID  4 from GPU  0: Not Found\n',
      'INSTANCE_NOT_FOUND',
    ],
  ];

  it.each(destroyFailures)('maps %s to its reason', async (_case, output, reason) => {
    fake.respond({
      ...a100Responses(FOUR),
      'mig -dci -gi 4 -i 0': {
        stdout: 'Successfully destroyed compute instance ID  0 from GPU  0 GPU instance ID  4\n',
      },
      'mig -dgi -gi 4 -i 0': { stdout: output, exitCode: 3 },
    });
    expect((await migError(source.destroyMigInstance(A100_UUID, 4))).reason).toBe(reason);
  });

  it('refuses an instance id the GPU does not have, without running anything', async () => {
    fake.respond(a100Responses(FOUR));
    const error = await migError(source.destroyMigInstance(A100_UUID, 42));
    expect(error.reason).toBe('INSTANCE_NOT_FOUND');
    expect(fake.calls().some((call) => call.includes('-dgi') || call.includes('-dci'))).toBe(false);
    expect((await migError(source.destroyMigInstance('GPU-nope', 3))).reason).toBe('GPU_NOT_FOUND');
  });

  it('passes the driver refusal through for a GPU without MIG', async () => {
    fake.respond({
      '-q -x': { stdout: fixtureText('telegraf/tesla-t4.xml') },
      'mig -dgi -gi 1 -i 0': { stdout: 'No MIG-supported devices found.\n', exitCode: 6 },
    });
    const error = await migError(
      source.destroyMigInstance('GPU-d37e67a5-91dd-3774-a5cb-99096249601a', 1),
    );
    expect(error.reason).toBe('MIG_NOT_SUPPORTED');
  });
});
