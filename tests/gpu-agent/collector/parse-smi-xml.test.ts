import { describe, expect, it } from 'vitest';
import { parseSmiXml } from '../../../gpu-agent/collector/parse-smi-xml.ts';
import { fixture, xmlFixtures } from './helpers.ts';

interface Expected {
  driver: string | null;
  cuda: string | null;
  gpus: number;
  firstUuid: string;
  lastUuid?: string;
  memoryTotalMiB: number;
  /** null: the GPU prints no MIG mode (N/A or no element): not MIG-capable. */
  mig: { current: boolean; pending: boolean } | null;
  powerDrawW: number | null;
  powerLimitW: number | null;
  temperatureC: number;
  utilizationPercent: number | null;
}

const off = { current: false, pending: false };

// Values read off the files by hand (grep), first GPU unless noted.
const EXPECTED: Record<string, Expected> = {
  'telegraf/a100-sxm4-v12.xml': {
    driver: '535.54.03',
    cuda: '12.2',
    gpus: 1, // attached_gpus says 4: the capture was trimmed
    firstUuid: 'GPU-513536b6-7d19-9063-b049-1e69664bb298',
    memoryTotalMiB: 81920,
    mig: { current: true, pending: true },
    powerDrawW: 67.03, // gpu_power_readings/power_draw (535)
    powerLimitW: 500,
    temperatureC: 27,
    utilizationPercent: null, // N/A under MIG
  },
  'telegraf/a10g.xml': {
    driver: '515.105.01',
    cuda: '11.7',
    gpus: 1,
    firstUuid: 'GPU-9a9a6c50-2a47-2f51-a902-b82c3b127e94',
    memoryTotalMiB: 23028,
    mig: null,
    powerDrawW: 25.58, // power_readings/power_draw (v11)
    powerLimitW: 300,
    temperatureC: 17,
    utilizationPercent: 0,
  },
  'telegraf/gtx-1070-ti.xml': {
    driver: null, // trimmed sample without driver_version
    cuda: null,
    gpus: 1,
    firstUuid: 'GPU-f9ba66fc-a7f5-94c5-da19-019ef2f9c665',
    memoryTotalMiB: 4096,
    mig: null,
    powerDrawW: null, // N/A
    powerLimitW: null,
    temperatureC: 39,
    utilizationPercent: 0,
  },
  'telegraf/gtx-1660-ti.xml': {
    driver: '418.43',
    cuda: '10.1',
    gpus: 1,
    firstUuid: 'GPU-304a277d-3545-63b8-3a36-dfde3c992989',
    memoryTotalMiB: 5912,
    mig: null,
    powerDrawW: 8.93,
    powerLimitW: 130,
    temperatureC: 40,
    utilizationPercent: 0,
  },
  'telegraf/quadro-p2000-v12.xml': {
    driver: '525.125.06',
    cuda: '12.0',
    gpus: 1,
    firstUuid: 'GPU-396caaed-39ca-3199-2e68-717cdb786ec6',
    memoryTotalMiB: 5120,
    mig: null,
    powerDrawW: 4.61,
    powerLimitW: 75,
    temperatureC: 34,
    utilizationPercent: 0,
  },
  'telegraf/quadro-p400.xml': {
    driver: '418.43',
    cuda: '10.1',
    gpus: 1,
    firstUuid: 'GPU-8f750be4-dfbc-23b9-b33f-da729a536494',
    memoryTotalMiB: 1998,
    mig: null,
    powerDrawW: null,
    powerLimitW: null,
    temperatureC: 33,
    utilizationPercent: 0,
  },
  'telegraf/rtx-3060-v12.xml': {
    driver: '570.124.04',
    cuda: '12.8',
    gpus: 1,
    firstUuid: 'GPU-d6889ff6-2523-9142-ca3c-1ca3f396a625',
    memoryTotalMiB: 12288,
    mig: null,
    powerDrawW: 11.6, // 570: average_power_draw, no power_draw (telegraf#16569)
    powerLimitW: 170,
    temperatureC: 42,
    utilizationPercent: 0,
  },
  'telegraf/rtx-3080-v12.xml': {
    driver: '536.40',
    cuda: '12.2',
    gpus: 1,
    firstUuid: 'GPU-19d6d965-2acc-f646-00f8-4c76979aabb4',
    memoryTotalMiB: 10240,
    mig: null,
    powerDrawW: 22.78,
    powerLimitW: 336,
    temperatureC: 31,
    utilizationPercent: 0,
  },
  'telegraf/rtx-3080-v13.xml': {
    driver: '595.58.03',
    cuda: '13.2',
    gpus: 1,
    firstUuid: 'GPU-19d6d965-2acc-f646-00f8-4c76979aabb4',
    memoryTotalMiB: 10240,
    mig: null,
    powerDrawW: 139.62,
    powerLimitW: 320,
    temperatureC: 27,
    utilizationPercent: 65,
  },
  'telegraf/rtx-3090-v12.xml': {
    driver: '525.147.05',
    cuda: '12.0',
    gpus: 1,
    firstUuid: 'GPU-12345678-aaaa-bbbb-cccc-0123456789ab',
    memoryTotalMiB: 24576,
    mig: null,
    powerDrawW: 27.23,
    powerLimitW: 200,
    temperatureC: 37,
    utilizationPercent: 0,
  },
  'telegraf/rtx-4000-sff-ada-v13.xml': {
    driver: '595.84',
    cuda: '13.2',
    gpus: 1,
    firstUuid: 'GPU-37037c3f-65c8-ec4d-24a9-420204ad8026',
    memoryTotalMiB: 20475,
    mig: null,
    powerDrawW: 8.81,
    powerLimitW: 70,
    temperatureC: 38,
    utilizationPercent: 0,
  },
  'telegraf/tesla-t4.xml': {
    driver: '515.105.01',
    cuda: '11.7',
    gpus: 1,
    firstUuid: 'GPU-d37e67a5-91dd-3774-a5cb-99096249601a',
    memoryTotalMiB: 15360,
    mig: null,
    powerDrawW: 26.78,
    powerLimitW: 70,
    temperatureC: 40,
    utilizationPercent: 0,
  },
  'k8s-test-infra/hw-qx-a100.xml': {
    driver: '570.148.08',
    cuda: '12.8',
    gpus: 1,
    firstUuid: 'GPU-00000000-0000-0000-0000-000000000000',
    memoryTotalMiB: 40960,
    mig: off,
    powerDrawW: 49.68, // average_power_draw is N/A: instant_power_draw
    powerLimitW: 400,
    temperatureC: 33,
    utilizationPercent: 0,
  },
  'k8s-test-infra/hw-qx-b200.xml': {
    driver: '580.105.08',
    cuda: '13.0',
    gpus: 8,
    firstUuid: 'GPU-00000000-0000-0000-0000-000000000000',
    lastUuid: 'GPU-00000007-0000-0000-0000-000000000007',
    memoryTotalMiB: 183359,
    mig: off,
    powerDrawW: 195.68,
    powerLimitW: 1000,
    temperatureC: 39,
    utilizationPercent: 0,
  },
  'k8s-test-infra/hw-qx-gb200.xml': {
    driver: '580.173.02',
    cuda: '13.0',
    gpus: 4,
    firstUuid: 'GPU-00000000-0000-0000-0000-000000000000',
    lastUuid: 'GPU-00000003-0000-0000-0000-000000000003',
    memoryTotalMiB: 189471,
    mig: off,
    powerDrawW: 165.93,
    powerLimitW: 1200, // the GPU's limit, not module_power_readings' 2500
    temperatureC: 27,
    utilizationPercent: 0,
  },
  'k8s-test-infra/hw-qx-gb300.xml': {
    driver: '580.173.02',
    cuda: '13.0',
    gpus: 4,
    firstUuid: 'GPU-00000000-0000-0000-0000-000000000000',
    lastUuid: 'GPU-00000003-0000-0000-0000-000000000003',
    memoryTotalMiB: 284208,
    mig: off,
    powerDrawW: 180.36,
    powerLimitW: 1400,
    temperatureC: 38,
    utilizationPercent: 0,
  },
  'k8s-test-infra/hw-qx-h100.xml': {
    driver: '580.105.08',
    cuda: '13.0',
    gpus: 8,
    firstUuid: 'GPU-00000000-0000-0000-0000-000000000000',
    lastUuid: 'GPU-00000007-0000-0000-0000-000000000007',
    memoryTotalMiB: 81559,
    mig: off,
    powerDrawW: 68.57,
    powerLimitW: 700,
    temperatureC: 29,
    utilizationPercent: 0,
  },
  'k8s-test-infra/hw-qx-l40s.xml': {
    driver: '595.91.07',
    cuda: '13.2',
    gpus: 1,
    firstUuid: 'GPU-00000000-0000-0000-0000-000000000000',
    memoryTotalMiB: 46068,
    mig: null,
    powerDrawW: 65.64,
    powerLimitW: 350,
    temperatureC: 29,
    utilizationPercent: 0,
  },
  'k8s-test-infra/hw-qx-t4.xml': {
    driver: '595.91.07',
    cuda: '13.2',
    gpus: 1,
    firstUuid: 'GPU-00000000-0000-0000-0000-000000000000',
    memoryTotalMiB: 15360,
    mig: null,
    powerDrawW: 33.51, // instant_power_draw
    powerLimitW: 70,
    temperatureC: 33,
    utilizationPercent: 0,
  },
  'k8s-test-infra/mock-qx-a100-healthy.xml': {
    driver: '550.163.01',
    cuda: '12.4',
    gpus: 2,
    firstUuid: 'GPU-12345678-1234-1234-1234-123456780000',
    lastUuid: 'GPU-12345678-1234-1234-1234-123456780001',
    memoryTotalMiB: 40960,
    mig: off,
    powerDrawW: 226.54,
    powerLimitW: 400,
    temperatureC: 63,
    utilizationPercent: 50,
  },
  'k8s-test-infra/mock-qx-gb200-ecc-injected.xml': {
    driver: '580.65.06',
    cuda: '13.0',
    gpus: 2,
    firstUuid: 'GPU-b200b200-0000-0000-0000-000000000000',
    lastUuid: 'GPU-b200b200-0000-0000-0000-000000000001',
    memoryTotalMiB: 196608,
    mig: off,
    powerDrawW: 618.35,
    powerLimitW: 1000,
    temperatureC: 63,
    utilizationPercent: 50,
  },
  'k8s-test-infra/mock-qx-gb200-fabric-degraded.xml': {
    driver: '580.65.06',
    cuda: '13.0',
    gpus: 2,
    firstUuid: 'GPU-b200b200-0000-0000-0000-000000000000',
    lastUuid: 'GPU-b200b200-0000-0000-0000-000000000001',
    memoryTotalMiB: 196608,
    mig: off,
    powerDrawW: 145,
    powerLimitW: 1000,
    temperatureC: 36,
    utilizationPercent: 44,
  },
  'k8s-test-infra/mock-qx-gb200-healthy.xml': {
    driver: '580.65.06',
    cuda: '13.0',
    gpus: 2,
    firstUuid: 'GPU-b200b200-0000-0000-0000-000000000000',
    lastUuid: 'GPU-b200b200-0000-0000-0000-000000000001',
    memoryTotalMiB: 196608,
    mig: off,
    powerDrawW: 618.35,
    powerLimitW: 1000,
    temperatureC: 63,
    utilizationPercent: 50,
  },
  'k8s-test-infra/mock-qx-gb200-lost.xml': {
    driver: '580.65.06',
    cuda: '13.0',
    gpus: 2,
    firstUuid: 'GPU-b200b200-0000-0000-0000-000000000000',
    lastUuid: 'GPU-b200b200-0000-0000-0000-000000000001',
    memoryTotalMiB: 196608,
    mig: off,
    powerDrawW: 618.35,
    powerLimitW: 1000,
    temperatureC: 63,
    utilizationPercent: 50,
  },
  'k8s-test-infra/mock-qx-gb200-throttle-counters.xml': {
    driver: '580.65.06',
    cuda: '13.0',
    gpus: 2,
    firstUuid: 'GPU-b200b200-0000-0000-0000-000000000000',
    lastUuid: 'GPU-b200b200-0000-0000-0000-000000000001',
    memoryTotalMiB: 196608,
    mig: off,
    powerDrawW: 145,
    powerLimitW: 1000,
    temperatureC: 36,
    utilizationPercent: 36,
  },
};

describe('parseSmiXml over every vendored -q -x capture', () => {
  it('has an expectation for every vendored XML', () => {
    expect(xmlFixtures()).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(Object.entries(EXPECTED))('%s', (file, expected) => {
    const log = parseSmiXml(fixture(file));
    expect(log.driverVersion).toBe(expected.driver);
    expect(log.cudaVersion).toBe(expected.cuda);
    expect(log.gpus).toHaveLength(expected.gpus);
    const [first] = log.gpus;
    expect(first?.uuid).toBe(expected.firstUuid);
    expect(log.gpus.at(-1)?.uuid).toBe(expected.lastUuid ?? expected.firstUuid);
    expect(log.gpus.map((gpu) => gpu.index)).toEqual(log.gpus.map((_, i) => i));
    expect(first?.memoryTotalMiB).toBe(expected.memoryTotalMiB);
    expect(first?.migCapable).toBe(expected.mig !== null);
    expect(first?.migMode).toEqual(expected.mig ?? off);
    expect(first?.powerDrawW).toBe(expected.powerDrawW);
    expect(first?.powerLimitW).toBe(expected.powerLimitW);
    expect(first?.temperatureC).toBe(expected.temperatureC);
    expect(first?.utilizationPercent).toBe(expected.utilizationPercent);
    for (const gpu of log.gpus) expect(gpu.uuid).toMatch(/^GPU-[0-9a-f-]{36}$/);
  });
});

describe('parseSmiXml field details', () => {
  it('reads the A100 MIG devices (GI/CI ids, exact memory) with no profile names', () => {
    const [gpu] = parseSmiXml(fixture('telegraf/a100-sxm4-v12.xml')).gpus;
    expect(gpu?.migDevices).toEqual(
      [3, 4, 5, 6].map((gi, index) => ({
        index,
        gpuInstanceId: gi,
        computeInstanceId: 0,
        memoryTotalMiB: 19968,
        memoryUsedMiB: 12,
        multiprocessors: 14,
      })),
    );
    expect(gpu?.pciBusId).toBe('00000000:01:00.0');
    expect(gpu?.minorNumber).toBe(1);
    expect(gpu?.architecture).toBe('Ampere');
    expect(gpu?.clocks).toEqual({
      graphicsMHz: 1275,
      smMHz: 1275,
      memoryMHz: 1593,
      videoMHz: 1275,
    });
  });

  it('reads `<mig_devices>None</mig_devices>` as no devices', () => {
    const [gpu] = parseSmiXml(fixture('k8s-test-infra/mock-qx-gb200-lost.xml')).gpus;
    expect(gpu?.migDevices).toEqual([]);
  });

  it('turns every "GPU is lost" value into null, never 0', () => {
    const lost = parseSmiXml(fixture('k8s-test-infra/mock-qx-gb200-lost.xml')).gpus[1];
    expect(lost?.uuid).toBe('GPU-b200b200-0000-0000-0000-000000000001');
    expect(lost).toMatchObject({
      memoryTotalMiB: null,
      memoryUsedMiB: null,
      utilizationPercent: null,
      memoryUtilizationPercent: null,
      temperatureC: null,
      powerDrawW: null,
      remappedRows: null,
      clocks: { graphicsMHz: null, smMHz: null, memoryMHz: null, videoMHz: null },
    });
    expect(lost?.eccErrors).toBeNull();
  });

  it('sums Ampere+ ECC counters and reads row remapping', () => {
    const [gpu] = parseSmiXml(fixture('k8s-test-infra/mock-qx-gb200-ecc-injected.xml')).gpus;
    // dram_uncorrectable 5 / 8; the SRAM counters are N/A and must not count as 0 or fail.
    expect(gpu?.eccErrors).toEqual({
      volatileCorrected: 0,
      volatileUncorrected: 5,
      aggregateCorrected: 0,
      aggregateUncorrected: 8,
    });
    expect(gpu?.remappedRows).toEqual({
      correctable: 0,
      uncorrectable: 1,
      pending: false,
      failure: true,
    });
    const [t4] = parseSmiXml(fixture('k8s-test-infra/hw-qx-t4.xml')).gpus;
    expect(t4?.eccErrors?.aggregateCorrected).toBe(1);
  });

  it('reads pre-Ampere layouts: N/A remapped_rows text, retired pages, single/double-bit ECC', () => {
    const [t4] = parseSmiXml(fixture('telegraf/tesla-t4.xml')).gpus;
    expect(t4?.remappedRows).toBeNull();
    expect(t4?.retiredPages).toEqual({ singleBit: 0, doubleBit: 0, pending: false });
    expect(t4?.eccEnabled).toBe(true);
    const [p2000] = parseSmiXml(fixture('telegraf/quadro-p2000-v12.xml')).gpus;
    // ECC not supported on this board: every single_bit/double_bit counter is N/A.
    expect(p2000?.eccEnabled).toBeNull();
    expect(p2000?.eccErrors).toBeNull();
    expect(p2000?.retiredPages).toBeNull();
    expect(p2000?.architecture).toBe('Pascal');
  });

  it('reads processes with N/A MIG ids as null', () => {
    const [gpu] = parseSmiXml(fixture('telegraf/rtx-4000-sff-ada-v13.xml')).gpus;
    expect(gpu?.processes).toHaveLength(4);
    expect(gpu?.processes[3]).toEqual({
      pid: 34626,
      name: '/usr/lib/chromium/chromium',
      type: 'C+G',
      usedMemoryMiB: 183,
      gpuInstanceId: null,
      computeInstanceId: null,
    });
    const [t4] = parseSmiXml(fixture('telegraf/tesla-t4.xml')).gpus;
    expect(t4?.processes[0]).toMatchObject({
      pid: 675,
      name: '/usr/lib/xorg/Xorg',
      usedMemoryMiB: 22,
    });
  });

  it('takes the PCI bus id from the gpu id attribute when pci_bus_id is missing', () => {
    const [gpu] = parseSmiXml(fixture('telegraf/gtx-1070-ti.xml')).gpus;
    expect(gpu?.pciBusId).toBe('00000000:01:00.0');
    expect(gpu?.serial).toBeNull();
    expect(gpu?.eccErrors).toBeNull();
  });

  it('keeps the nvidia-smi order of multi-GPU nodes with their bus ids', () => {
    const gpus = parseSmiXml(fixture('k8s-test-infra/hw-qx-h100.xml')).gpus;
    expect(gpus.map((gpu) => gpu.pciBusId)).toEqual([
      '00000000:53:00.0',
      '00000000:64:00.0',
      '00000000:75:00.0',
      '00000000:86:00.0',
      '00000000:97:00.0',
      '00000000:A8:00.0',
      '00000000:B9:00.0',
      '00000000:CA:00.0',
    ]);
    expect(new Set(gpus.map((gpu) => gpu.name))).toEqual(new Set(['NVIDIA H100 80GB HBM3']));
  });

  it('reads padded values and character references', () => {
    const log = parseSmiXml(
      `<nvidia_smi_log><gpu><uuid> GPU-11111111-2222-3333-4444-555555555555 </uuid>
        <product_name>Tom &amp; Jerry &#x2122;</product_name>
        <utilization><gpu_util> 40 % </gpu_util><memory_util>[N/A]</memory_util></utilization>
        <temperature><gpu_temp>-5 C</gpu_temp></temperature>
        <power_readings><power_draw>[Not Supported]</power_draw></power_readings>
      </gpu></nvidia_smi_log>`,
    );
    expect(log.gpus[0]).toMatchObject({
      uuid: 'GPU-11111111-2222-3333-4444-555555555555',
      name: 'Tom & Jerry ™',
      utilizationPercent: 40,
      memoryUtilizationPercent: null,
      temperatureC: -5,
      powerDrawW: null,
    });
  });

  it.each([
    'N/A',
    '[N/A]',
    '[Not Supported]',
    'Not Supported',
    'Requested functionality has been deprecated',
    'Insufficient Permissions',
    'Unknown Error',
    'GPU is lost',
    '',
  ])('reads %j as absent, not 0', (token) => {
    const [gpu] = parseSmiXml(
      `<nvidia_smi_log><gpu><uuid>GPU-1</uuid><fb_memory_usage><used>${token}</used></fb_memory_usage>
        <clocks><sm_clock>${token}</sm_clock></clocks><ecc_mode><current_ecc>${token}</current_ecc></ecc_mode>
      </gpu></nvidia_smi_log>`,
    ).gpus;
    expect(gpu?.memoryUsedMiB).toBeNull();
    expect(gpu?.clocks.smMHz).toBeNull();
    expect(gpu?.eccEnabled).toBeNull();
  });

  it('names a flag field holding something other than Enabled/Disabled', () => {
    expect(() =>
      parseSmiXml(
        '<nvidia_smi_log><gpu><uuid>GPU-1</uuid><mig_mode><current_mig>Maybe</current_mig></mig_mode></gpu></nvidia_smi_log>',
      ),
    ).toThrow(/gpu\[0\]\.mig_mode\.current_mig/);
  });
});
