import { describe, expect, it } from 'vitest';
import { SmiParseError } from '../../../gpu-agent/errors.ts';
import { parseSmiXml } from '../../../gpu-agent/collector/parse-smi-xml.ts';
import { fixture, fixtureText } from './helpers.ts';

/** The SmiParseError parseSmiXml throws for `input`, with how long it took. */
function parseError(input: string | Buffer): { error: SmiParseError; ms: number } {
  const start = performance.now();
  try {
    parseSmiXml(input);
  } catch (error) {
    expect(error).toBeInstanceOf(SmiParseError);
    return { error: error as SmiParseError, ms: performance.now() - start };
  }
  throw new Error('expected parseSmiXml to throw');
}

const billionLaughs = [
  '<?xml version="1.0"?>',
  '<!DOCTYPE nvidia_smi_log [',
  '  <!ENTITY lol "lol">',
  ...Array.from(
    { length: 9 },
    (_, i) => `  <!ENTITY lol${i + 1} "${`&lol${i === 0 ? '' : i};`.repeat(10)}">`,
  ),
  ']>',
  '<nvidia_smi_log><driver_version>&lol9;</driver_version></nvidia_smi_log>',
].join('\n');

describe('parseSmiXml on hostile or broken input', () => {
  it('rejects a truncated document (nvidia-smi killed mid-write)', () => {
    const xml = fixtureText('telegraf/a100-sxm4-v12.xml');
    const { error } = parseError(xml.slice(0, Math.floor(xml.length / 2)));
    expect(error.field).toBe('nvidia_smi_log');
    expect(error.message).toMatch(/malformed XML/);
  });

  it('rejects a document cut just before its closing root tag', () => {
    const xml = fixtureText('k8s-test-infra/hw-qx-t4.xml').trimEnd();
    expect(xml.endsWith('</nvidia_smi_log>')).toBe(true);
    expect(parseError(xml.slice(0, -'</nvidia_smi_log>'.length)).error.message).toMatch(
      /malformed/,
    );
  });

  it('refuses billion-laughs entity declarations quickly, without expanding them', () => {
    const { error, ms } = parseError(billionLaughs);
    expect(error.field).toBe('nvidia_smi_log');
    expect(error.message).toMatch(/ENTITY/);
    expect(ms).toBeLessThan(100);
  });

  it('refuses a DOCTYPE internal subset even without entities', () => {
    const xml = '<!DOCTYPE nvidia_smi_log [ <!ELEMENT nvidia_smi_log ANY> ]><nvidia_smi_log/>';
    expect(parseError(xml).error.message).toMatch(/DOCTYPE/);
  });

  it('leaves undeclared entity references as text instead of resolving them', () => {
    const log = parseSmiXml(
      '<nvidia_smi_log><driver_version>&xxe;</driver_version></nvidia_smi_log>',
    );
    expect(log.driverVersion).toBe('&xxe;');
  });

  it('rejects 50 MB of input with a size error before parsing it', () => {
    const big = `<nvidia_smi_log>${' '.repeat(50 * 1024 * 1024)}</nvidia_smi_log>`;
    for (const input of [big, Buffer.from(big)]) {
      const { error, ms } = parseError(input);
      expect(error.message).toMatch(/over the 16777216-byte limit/);
      expect(ms).toBeLessThan(50);
    }
  });

  it('names the root element when it is not nvidia_smi_log', () => {
    const { error } = parseError('<?xml version="1.0"?><html><body>502 Bad Gateway</body></html>');
    expect(error.field).toBe('nvidia_smi_log');
    expect(error.message).toMatch(/<html>/);
  });

  it('rejects the text nvidia-smi prints when NVML fails', () => {
    const { error } = parseError(
      'Failed to initialize NVML: Driver/library version mismatch\nNVML library version: 535.54\n',
    );
    expect(error.field).toBe('nvidia_smi_log');
  });

  it('names the GPU whose uuid is missing', () => {
    const { error } = parseError(
      '<nvidia_smi_log><gpu><product_name>NVIDIA H100</product_name></gpu></nvidia_smi_log>',
    );
    expect(error.field).toBe('gpu[0].uuid');
  });

  it('names the field holding garbage instead of a number', () => {
    const xml = fixtureText('k8s-test-infra/hw-qx-h100.xml');
    // The fourth GPU's temperature.
    let seen = 0;
    const broken = xml.replace(/<gpu_temp>[^<]*<\/gpu_temp>/g, (tag) =>
      seen++ === 3 ? '<gpu_temp>abc</gpu_temp>' : tag,
    );
    const { error } = parseError(broken);
    expect(error.field).toBe('gpu[3].temperature.gpu_temp');
    expect(error.message).toMatch(/"abc"/);

    const memory = parseError(
      '<nvidia_smi_log><gpu><uuid>GPU-1</uuid><fb_memory_usage><total>12 apples</total></fb_memory_usage></gpu></nvidia_smi_log>',
    );
    expect(memory.error.field).toBe('gpu[0].fb_memory_usage.total');
  });

  it('rejects duplicate GPU UUIDs, which would collide in the snapshot', () => {
    const gpu = '<gpu><uuid>GPU-1</uuid></gpu>';
    expect(parseError(`<nvidia_smi_log>${gpu}${gpu}</nvidia_smi_log>`).error.field).toBe(
      'gpu[1].uuid',
    );
  });

  it('tolerates \\xff and control bytes in process_name (concurrent nvidia-smi runs)', () => {
    const original = fixture('telegraf/tesla-t4.xml');
    const name = Buffer.from('/usr/lib/xorg/Xorg');
    const at = original.indexOf(name);
    expect(at).toBeGreaterThan(0);
    const garbled = Buffer.concat([
      original.subarray(0, at),
      Buffer.from([0x70, 0xff, 0xfe, 0x01, 0x79]), // "p", two invalid bytes, ^A, "y"
      original.subarray(at + name.length),
    ]);
    const [gpu] = parseSmiXml(garbled).gpus;
    expect(gpu?.processes[0]?.name).toBe('p\uFFFD\uFFFD\uFFFDy');
    expect(gpu?.processes[0]?.pid).toBe(675);
    expect(gpu?.memoryTotalMiB).toBe(15360);
  });

  it('parses an empty log as a node without GPUs', () => {
    expect(parseSmiXml('<nvidia_smi_log></nvidia_smi_log>')).toEqual({
      driverVersion: null,
      cudaVersion: null,
      timestamp: null,
      gpus: [],
    });
  });
});
