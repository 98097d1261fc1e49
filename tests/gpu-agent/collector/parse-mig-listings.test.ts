import { describe, expect, it } from 'vitest';
import { SmiParseError } from '../../../gpu-agent/errors.ts';
import {
  noMigDevicesReason,
  parseComputeInstances,
  parseConfComputeStatus,
  parseDeviceList,
  parseGiPlacements,
  parseGiProfiles,
  parseGpuInstances,
} from '../../../gpu-agent/collector/parse-mig-listings.ts';
import { parseSmiTable } from '../../../gpu-agent/collector/parse-smi-table.ts';
import { fixtureText } from './helpers.ts';

const prickle = (tree: string, file: string) => fixtureText(`prickle-exporter/${tree}/${file}`);

/** One command's output from an nvidia_gpu_exporter multi-command capture. */
function captureSection(file: string, command: string): string {
  const text = fixtureText(`nvidia_gpu_exporter/${file}`);
  const start = text.indexOf(`# $ ${command}\n`);
  expect(start).toBeGreaterThan(-1);
  const body = text.slice(text.indexOf('\n#####', start) + 1);
  const from = body.indexOf('\n') + 1;
  return body.slice(from, body.indexOf('\n#####', from));
}

const H100_PROFILES = [
  '1g.10gb',
  '1g.10gb+me',
  '1g.20gb',
  '2g.20gb',
  '3g.40gb',
  '4g.40gb',
  '7g.80gb',
];

describe('parseGiProfiles (mig -lgip)', () => {
  it('lists all seven H100 profiles with ids, memory and SMs even while MIG is off', () => {
    const profiles = parseGiProfiles(prickle('h100-default-20260729', 'mig-profiles.txt'));
    expect(profiles.map((p) => p.name)).toEqual(H100_PROFILES);
    expect(profiles.map((p) => p.id)).toEqual([19, 20, 15, 14, 9, 5, 0]);
    expect(profiles.map((p) => p.multiprocessors)).toEqual([16, 16, 26, 32, 60, 64, 132]);
    expect(profiles.map((p) => p.instancesFree)).toEqual([7, 1, 4, 3, 2, 1, 1]);
    expect(profiles[0]).toEqual({
      gpuIndex: 0,
      name: '1g.10gb',
      id: 19,
      instancesFree: 7,
      instancesTotal: 7,
      memoryMiB: 9984, // 9.75 GiB
      multiprocessors: 16,
    });
    expect(profiles[6]?.memoryMiB).toBe(81152); // 79.25 GiB
  });

  it('reports Free < Total once instances exist', () => {
    const mig = parseGiProfiles(prickle('h100-mig-20260729', 'mig-profiles.txt'));
    expect(mig.map((p) => `${p.instancesFree}/${p.instancesTotal}`)).toEqual([
      '5/7',
      '1/1',
      '2/4',
      '2/3',
      '1/2',
      '1/1',
      '0/1',
    ]);
    const mixed = parseGiProfiles(prickle('h100-mig-mixed-20260729', 'mig-profiles.txt'));
    expect(mixed.map((p) => p.instancesFree)).toEqual([1, 0, 0, 0, 0, 0, 0]);
  });

  it('reads H200 names and sizes as the driver prints them', () => {
    const profiles = parseGiProfiles(prickle('h200-mig-20260726', 'mig-profiles.txt'));
    expect(profiles.map((p) => [p.name, p.memoryMiB])).toEqual([
      ['1g.18gb', 16384],
      ['1g.18gb+me', 16384],
      ['1g.35gb', 33280],
      ['2g.35gb', 33280],
      ['3g.71gb', 71424],
      ['4g.71gb', 71424],
      ['7g.141gb', 143360],
    ]);
  });

  it('reads "No MIG-supported devices found." as no profiles', () => {
    expect(parseGiProfiles('No MIG-supported devices found.\n')).toEqual([]);
  });

  it('throws on output that is not a profile table', () => {
    expect(() => parseGiProfiles('Failed to display GPU instance profiles: Unknown Error')).toThrow(
      SmiParseError,
    );
  });
});

describe('parseGpuInstances (mig -lgi) and parseComputeInstances (mig -lci)', () => {
  it('reads GPU instances with profile ids and placements', () => {
    expect(parseGpuInstances(prickle('h100-mig-20260729', 'mig-gi.txt'))).toEqual([
      {
        gpuIndex: 0,
        profile: '1g.10gb',
        profileId: 19,
        gpuInstanceId: 11,
        placement: { start: 4, size: 1 },
      },
      {
        gpuIndex: 0,
        profile: '1g.10gb',
        profileId: 19,
        gpuInstanceId: 13,
        placement: { start: 6, size: 1 },
      },
    ]);
    expect(parseGpuInstances(prickle('h100-mig-mixed-20260729', 'mig-gi.txt'))).toEqual([
      {
        gpuIndex: 0,
        profile: '1g.10gb',
        profileId: 19,
        gpuInstanceId: 13,
        placement: { start: 6, size: 1 },
      },
      {
        gpuIndex: 0,
        profile: '3g.40gb',
        profileId: 9,
        gpuInstanceId: 1,
        placement: { start: 0, size: 4 },
      },
      {
        gpuIndex: 0,
        profile: '1g.10gb+me',
        profileId: 20,
        gpuInstanceId: 11,
        placement: { start: 4, size: 1 },
      },
    ]);
    expect(
      parseGpuInstances(prickle('h200-mig-20260726', 'mig-gi.txt')).map((gi) => [
        gi.gpuInstanceId,
        gi.placement,
      ]),
    ).toEqual([
      [11, { start: 4, size: 1 }],
      [13, { start: 6, size: 1 }],
    ]);
  });

  it('reads compute instances, including a 1c slice of a 3g GPU instance', () => {
    expect(parseComputeInstances(prickle('h100-mig-mixed-20260729', 'mig-ci.txt'))).toEqual([
      {
        gpuIndex: 0,
        gpuInstanceId: 13,
        name: '1g.10gb',
        profileId: 0,
        computeInstanceId: 0,
        placement: { start: 0, size: 1 },
      },
      {
        gpuIndex: 0,
        gpuInstanceId: 1,
        name: '1c.3g.40gb',
        profileId: 0,
        computeInstanceId: 0,
        placement: { start: 2, size: 1 },
      },
      {
        gpuIndex: 0,
        gpuInstanceId: 11,
        name: '1g.10gb',
        profileId: 0,
        computeInstanceId: 0,
        placement: { start: 0, size: 1 },
      },
    ]);
  });

  it('reads the older -lci layout without a Placement column', () => {
    const old = [
      '+-------------------------------------------------------+',
      '| Compute instances:                                    |',
      '| GPU     GPU       Name             Profile   Instance |',
      '|       Instance                       ID        ID     |',
      '|         ID                                            |',
      '|=======================================================|',
      '|   0      7       MIG 1g.5gb           0         0     |',
      '+-------------------------------------------------------+',
    ].join('\n');
    expect(parseComputeInstances(old)).toEqual([
      {
        gpuIndex: 0,
        gpuInstanceId: 7,
        name: '1g.5gb',
        profileId: 0,
        computeInstanceId: 0,
        placement: null,
      },
    ]);
  });

  it('reads "No MIG-enabled devices found." as empty, and says why', () => {
    const gi = prickle('h100-default-20260729', 'mig-gi.txt');
    expect(parseGpuInstances(gi)).toEqual([]);
    expect(parseComputeInstances(prickle('h100-default-20260729', 'mig-ci.txt'))).toEqual([]);
    expect(noMigDevicesReason(gi)).toBe('MIG_DISABLED');
    expect(noMigDevicesReason('No MIG-supported devices found.')).toBe('MIG_NOT_SUPPORTED');
    expect(noMigDevicesReason(prickle('h100-mig-20260729', 'mig-gi.txt'))).toBeNull();
  });

  it('names the row that does not parse', () => {
    const broken = prickle('h100-mig-20260729', 'mig-gi.txt').replace('19       13', 'xx       13');
    expect(() => parseGpuInstances(broken)).toThrow(/mig -lgi\[1\]\.profileId/);
  });
});

describe('parseGiPlacements (mig -lgipp)', () => {
  it('reads "Placements:" and the singular "Placement :" lines', () => {
    const output = [
      'GPU  0 Profile ID 19 Placements: {0,1,2,3,4,5,6}:1',
      'GPU  0 Profile ID  9 Placements: {0,4}:4',
      'GPU  1 Profile ID  0 Placement : {0}:8',
      '',
    ].join('\n');
    expect(parseGiPlacements(output)).toEqual([
      {
        gpuIndex: 0,
        profileId: 19,
        placements: [0, 1, 2, 3, 4, 5, 6].map((start) => ({ start, size: 1 })),
      },
      {
        gpuIndex: 0,
        profileId: 9,
        placements: [
          { start: 0, size: 4 },
          { start: 4, size: 4 },
        ],
      },
      { gpuIndex: 1, profileId: 0, placements: [{ start: 0, size: 8 }] },
    ]);
  });

  it('throws on a line it does not understand', () => {
    expect(() => parseGiPlacements('GPU 0 Profile ID 19 Placements: none')).toThrow(SmiParseError);
  });
});

describe('parseDeviceList (nvidia-smi -L)', () => {
  it('reads GPUs and MIG devices with their device numbers', () => {
    expect(parseDeviceList(prickle('h100-mig-mixed-20260729', 'gpus.txt'))).toEqual([
      {
        index: 0,
        name: 'NVIDIA H100 80GB HBM3',
        uuid: 'GPU-0d0831da-0c98-2717-6446-8acd91d39b65',
        migDevices: [
          {
            name: '1c.3g.40gb',
            deviceIndex: 0,
            uuid: 'MIG-5ff0d535-9a82-5af6-80df-768b9d3ac092',
            gpuInstanceId: null,
            computeInstanceId: null,
          },
          {
            name: '1g.10gb',
            deviceIndex: 1,
            uuid: 'MIG-8443519f-66f7-5962-8955-60dba0866f3a',
            gpuInstanceId: null,
            computeInstanceId: null,
          },
          {
            name: '1g.10gb',
            deviceIndex: 2,
            uuid: 'MIG-ee6996fb-86fb-5405-83f0-b20887da1bb3',
            gpuInstanceId: null,
            computeInstanceId: null,
          },
        ],
      },
    ]);
    expect(parseDeviceList(prickle('h100-default-20260729', 'gpus.txt'))[0]?.migDevices).toEqual(
      [],
    );
  });

  it('reads a GI split into two compute instances (H200 capture)', () => {
    const list = parseDeviceList(
      captureSection('linux-x86_64__nvidia-h200-mig__590.48.01.txt', 'nvidia-smi -L'),
    );
    expect(list).toHaveLength(1);
    expect(list[0]?.migDevices.map((d) => `${d.deviceIndex}:${d.name}`)).toEqual([
      '0:1c.3g.71gb',
      '1:2c.3g.71gb',
      '2:2g.35gb',
      '3:1g.18gb',
      '4:1g.18gb',
    ]);
  });

  it('takes GI/CI from the pre-R470 UUID form MIG-GPU-<uuid>/<gi>/<ci>', () => {
    const [gpu] = parseDeviceList(
      [
        'GPU 0: A100-PCIE-40GB (UUID: GPU-0069414c-9f30-41f9-d5d8-87890423f0c4)',
        '  MIG 1g.5gb Device 0: (UUID: MIG-GPU-0069414c-9f30-41f9-d5d8-87890423f0c4/7/0)',
      ].join('\n'),
    );
    expect(gpu?.migDevices[0]).toMatchObject({
      deviceIndex: 0,
      gpuInstanceId: 7,
      computeInstanceId: 0,
    });
  });

  it('throws on a GPU line it cannot read', () => {
    expect(() => parseDeviceList('GPU 0: NVIDIA H100 (UUID: ???)')).toThrow(SmiParseError);
  });
});

describe('parseSmiTable (plain nvidia-smi)', () => {
  it('maps MIG device numbers to GI/CI and reads their memory', () => {
    const table = parseSmiTable(prickle('h100-mig-mixed-20260729', 'smi.txt'));
    expect(table.driverVersion).toBe('580.173.02');
    expect(table.cudaVersion).toBe('13.0');
    expect(table.gpus).toEqual([{ index: 0, pciBusId: '00000000:00:09.0', migEnabled: true }]);
    expect(
      table.migDevices.map((d) => [
        d.gpuInstanceId,
        d.computeInstanceId,
        d.deviceIndex,
        d.memoryUsedMiB,
        d.memoryTotalMiB,
      ]),
    ).toEqual([
      [1, 0, 0, 12627, 40448],
      [11, 0, 1, 15, 9984],
      [13, 0, 2, 15, 9984],
    ]);
    expect(
      table.processes.map((p) => [p.pid, p.gpuInstanceId, p.computeInstanceId, p.name]),
    ).toEqual([
      [23804, 1, 0, '/tmp/loadgen'],
      [23806, 1, 0, '/tmp/loadgen'],
      [23808, 1, 0, '/tmp/ghost'],
    ]);
  });

  it('reads MIG off, N/A process ids and "No running processes found"', () => {
    const off = parseSmiTable(prickle('h100-default-20260729', 'smi.txt'));
    expect(off.gpus[0]?.migEnabled).toBe(false);
    expect(off.migDevices).toEqual([]);
    expect(off.processes[0]).toMatchObject({
      pid: 4559,
      gpuInstanceId: null,
      computeInstanceId: null,
      type: 'C',
      usedMemoryMiB: 4618,
    });
    const split = parseSmiTable(
      captureSection('linux-x86_64__nvidia-h200-mig__590.48.01.txt', 'nvidia-smi '),
    );
    expect(
      split.migDevices.map((d) => [d.gpuInstanceId, d.computeInstanceId, d.deviceIndex]),
    ).toEqual([
      [2, 0, 0],
      [2, 1, 1],
      [3, 0, 2],
      [9, 0, 3],
      [10, 0, 4],
    ]);
    expect(split.processes).toEqual([]);
  });
});

describe('parseConfComputeStatus (conf-compute -f)', () => {
  it('reads the CC status', () => {
    expect(parseConfComputeStatus('CC status: ON\n')).toBe('ON');
    expect(parseConfComputeStatus('CC status: OFF')).toBe('OFF');
    expect(parseConfComputeStatus('Invalid combination of input arguments.')).toBeNull();
  });
});
