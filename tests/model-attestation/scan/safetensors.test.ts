import { describe, expect, it } from 'vitest';
import { bufferSource } from '../../../subgraphs/model-attestation/domain/scan/byte-source.ts';
import { scanSafetensors } from '../../../subgraphs/model-attestation/domain/scan/safetensors.ts';
import { countingSource, safetensorsOf } from '../../support/model-artifacts.ts';

const PATH = 'model.safetensors';

function headerLength(file: Buffer): number {
  return Number(file.readBigUInt64LE(0));
}

describe('scanSafetensors', () => {
  it('passes a clean file, extracts __metadata__ and reads only the header', async () => {
    const file = safetensorsOf(
      [
        ['model.embed.weight', { dtype: 'F32', shape: [4, 8] }],
        ['model.norm.bias', { dtype: 'BF16', shape: [8] }],
        ['model.scalar', { dtype: 'I64', shape: [] }],
        ['model.empty', { dtype: 'U8', shape: [0] }],
      ],
      { format: 'pt', 'model.name': 'tiny' },
    );
    const source = countingSource(PATH, file);
    const result = await scanSafetensors(source);
    expect(result).toEqual({
      findings: [],
      metadata: { format: 'pt', 'model.name': 'tiny' },
      tensors: 4,
    });
    expect(source.bytesRead()).toBe(8 + headerLength(file));
  });

  it('reports a file shorter than its header (truncated)', async () => {
    const file = safetensorsOf([['w', { dtype: 'F32', shape: [2] }]], null, {
      corrupt: { truncateTo: 20 },
    });
    expect((await scanSafetensors(bufferSource(PATH, file))).findings).toEqual([
      {
        severity: 'CRITICAL',
        code: 'SAFETENSORS_HEADER_TRUNCATED',
        message: expect.stringContaining('runs past the end') as string,
        path: PATH,
        offset: 0,
      },
    ]);
    const tiny = await scanSafetensors(bufferSource(PATH, Buffer.from([1, 2, 3])));
    expect(tiny.findings.map((f) => [f.severity, f.code])).toEqual([
      ['CRITICAL', 'SAFETENSORS_HEADER_TRUNCATED'],
    ]);
  });

  it('reports an oversized header length without reading it', async () => {
    const file = safetensorsOf([['w', { dtype: 'F32', shape: [2] }]], null, {
      corrupt: { headerLength: 2n ** 40n },
    });
    const source = countingSource(PATH, file);
    const result = await scanSafetensors(source, { maxHeaderBytes: 1024 });
    expect(result.findings).toEqual([
      {
        severity: 'CRITICAL',
        code: 'SAFETENSORS_HEADER_TOO_LARGE',
        message: expect.stringContaining(String(2n ** 40n)) as string,
        path: PATH,
        offset: 0,
      },
    ]);
    expect(source.bytesRead()).toBe(8);
  });

  it('reports a header that is not a UTF-8 JSON object', async () => {
    for (const [rawHeader, why] of [
      ['not json at all', 'does not start with "{"'],
      ['{"w": {"dtype": "F32", ', 'is not valid JSON'],
      ['{"w": 1} trailing', 'is not valid JSON'],
    ] as const) {
      const file = safetensorsOf([], null, { corrupt: { rawHeader } });
      expect((await scanSafetensors(bufferSource(PATH, file))).findings, rawHeader).toEqual([
        {
          severity: 'HIGH',
          code: 'SAFETENSORS_HEADER_NOT_JSON',
          message: `header ${why}`,
          path: PATH,
          offset: 8,
        },
      ]);
    }
    const badUtf8 = Buffer.concat([Buffer.alloc(8), Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d])]);
    badUtf8.writeBigUInt64LE(5n);
    expect((await scanSafetensors(bufferSource(PATH, badUtf8))).findings).toMatchObject([
      { code: 'SAFETENSORS_HEADER_NOT_JSON', message: 'header is not valid UTF-8' },
    ]);
  });

  it('reports overlapping tensor byte ranges', async () => {
    const file = safetensorsOf([
      ['a', { dtype: 'F32', shape: [4], data_offsets: [0, 16] }],
      ['b', { dtype: 'F32', shape: [4], data_offsets: [8, 24] }],
    ]);
    const dataStart = 8 + headerLength(file);
    expect((await scanSafetensors(bufferSource(PATH, file))).findings).toEqual([
      {
        severity: 'HIGH',
        code: 'SAFETENSORS_OVERLAPPING_OFFSETS',
        message: expect.stringMatching(/"b" \[8, 24\] overlaps "a"/) as string,
        path: PATH,
        offset: dataStart + 8,
      },
    ]);
  });

  it('reports offsets past the data section or reversed', async () => {
    const past = safetensorsOf([['a', { dtype: 'F32', shape: [4] }]], null, {
      corrupt: { dataBytes: 8 },
    });
    expect((await scanSafetensors(bufferSource(PATH, past))).findings).toEqual([
      {
        severity: 'HIGH',
        code: 'SAFETENSORS_OFFSETS_OUT_OF_BOUNDS',
        message: expect.stringContaining('run past the 8-byte data section') as string,
        path: PATH,
        offset: 8 + headerLength(past),
      },
      // The 8 bytes that exist are then covered by nothing.
      expect.objectContaining({ severity: 'LOW', code: 'SAFETENSORS_UNUSED_BYTES' }) as object,
    ]);
    const reversed = safetensorsOf(
      [['a', { dtype: 'F32', shape: [0], data_offsets: [4, 0] }]],
      null,
      {
        corrupt: { dataBytes: 0 },
      },
    );
    expect((await scanSafetensors(bufferSource(PATH, reversed))).findings).toMatchObject([
      {
        severity: 'HIGH',
        code: 'SAFETENSORS_OFFSETS_OUT_OF_BOUNDS',
        message: expect.stringContaining('reversed') as string,
      },
    ]);
  });

  it('reports a byte range that does not match dtype × shape', async () => {
    const file = safetensorsOf([['a', { dtype: 'F32', shape: [2, 2], data_offsets: [0, 12] }]]);
    expect((await scanSafetensors(bufferSource(PATH, file))).findings).toEqual([
      {
        severity: 'HIGH',
        code: 'SAFETENSORS_SIZE_MISMATCH',
        message: 'tensor "a" spans 12 bytes but F32[2,2] needs 16',
        path: PATH,
        offset: 8 + headerLength(file),
      },
    ]);
  });

  it('reports a tensor name that appears twice, at the second key', async () => {
    const file = safetensorsOf([
      ['w', { dtype: 'F32', shape: [2] }],
      ['w', { dtype: 'F32', shape: [2] }],
    ]);
    const header = file.subarray(8, 8 + headerLength(file)).toString('utf8');
    const secondKey = header.indexOf('"w"', header.indexOf('"w"') + 1);
    const result = await scanSafetensors(bufferSource(PATH, file));
    expect(result.findings).toEqual([
      {
        severity: 'HIGH',
        code: 'SAFETENSORS_DUPLICATE_TENSOR',
        message: expect.stringContaining('"w" more than once') as string,
        path: PATH,
        offset: 8 + secondKey,
      },
      // JSON.parse keeps the second entry only, so the first one's bytes look unused.
      expect.objectContaining({ code: 'SAFETENSORS_UNUSED_BYTES' }) as object,
    ]);
  });

  it('reports a dtype safetensors does not define', async () => {
    const file = safetensorsOf([['w', { dtype: 'F128', shape: [2], data_offsets: [0, 8] }]]);
    expect((await scanSafetensors(bufferSource(PATH, file))).findings).toEqual([
      {
        severity: 'HIGH',
        code: 'SAFETENSORS_BAD_DTYPE',
        message: 'tensor "w" has dtype "F128", not a safetensors dtype',
        path: PATH,
        offset: null,
      },
    ]);
  });

  it('reports unused data bytes, bad metadata and invalid shapes', async () => {
    const gap = safetensorsOf([['w', { dtype: 'U8', shape: [4], data_offsets: [4, 8] }]]);
    expect((await scanSafetensors(bufferSource(PATH, gap))).findings).toEqual([
      {
        severity: 'LOW',
        code: 'SAFETENSORS_UNUSED_BYTES',
        message: '4 bytes of the data section belong to no tensor (1 gap)',
        path: PATH,
        offset: 8 + headerLength(gap),
      },
    ]);
    const metadata = safetensorsOf([], null, {
      corrupt: { rawHeader: '{"__metadata__":{"epoch":3}}' },
    });
    const m = await scanSafetensors(bufferSource(PATH, metadata));
    expect(m.metadata).toBeNull();
    expect(m.findings).toMatchObject([
      { severity: 'MEDIUM', code: 'SAFETENSORS_INVALID_METADATA' },
    ]);
    const shape = safetensorsOf([['w', { dtype: 'U8', shape: [-1], data_offsets: [0, 0] }]]);
    expect((await scanSafetensors(bufferSource(PATH, shape))).findings).toMatchObject([
      { severity: 'HIGH', code: 'SAFETENSORS_INVALID_TENSOR' },
    ]);
  });
});
