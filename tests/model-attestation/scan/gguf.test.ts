import { describe, expect, it } from 'vitest';
import { bufferSource } from '../../../subgraphs/model-attestation/domain/scan/byte-source.ts';
import { scanGguf } from '../../../subgraphs/model-attestation/domain/scan/gguf.ts';
import { ggufOf } from '../../support/model-artifacts.ts';

const PATH = 'model.Q8_0.gguf';

describe('scanGguf', () => {
  it('passes a well-formed v3 file and reads its metadata', async () => {
    const result = await scanGguf(bufferSource(PATH, ggufOf()));
    expect(result).toEqual({
      findings: [],
      version: 3,
      tensorCount: 2,
      metadataCount: 5,
      metadata: {
        'general.architecture': 'llama',
        'general.name': 'tiny',
        'general.alignment': '32',
        'llama.context_length': '2048',
      },
    });
  });

  it('passes a v1 file with 32-bit counts and lengths', async () => {
    const result = await scanGguf(bufferSource(PATH, ggufOf({ version: 1 })));
    expect(result.findings).toEqual([]);
    expect([result.version, result.tensorCount, result.metadataCount]).toEqual([1, 2, 5]);
  });

  it('reports a bad magic', async () => {
    const result = await scanGguf(bufferSource(PATH, ggufOf({ magic: 'GGML' })));
    expect(result).toEqual({
      findings: [
        {
          severity: 'HIGH',
          code: 'GGUF_BAD_MAGIC',
          message: 'file starts with "GGML", not "GGUF"',
          path: PATH,
          offset: 0,
        },
      ],
      version: null,
      tensorCount: null,
      metadataCount: null,
      metadata: null,
    });
  });

  it('reports an unsupported version, hinting at big-endian files', async () => {
    const v4 = await scanGguf(bufferSource(PATH, ggufOf({ version: 4 })));
    expect(v4.findings).toEqual([
      {
        severity: 'HIGH',
        code: 'GGUF_UNSUPPORTED_VERSION',
        message: 'GGUF version 4 is not 1, 2 or 3',
        path: PATH,
        offset: 4,
      },
    ]);
    const bigEndian = ggufOf();
    bigEndian.writeUInt32BE(3, 4);
    const be = await scanGguf(bufferSource(PATH, bigEndian));
    expect(be.findings).toMatchObject([
      {
        code: 'GGUF_UNSUPPORTED_VERSION',
        message: expect.stringContaining('big-endian') as string,
      },
    ]);
  });

  it('reports implausible counts and counts the file cannot hold', async () => {
    const huge = await scanGguf(bufferSource(PATH, ggufOf({ tensorCount: 2n ** 40n })));
    expect(huge.findings).toEqual([
      {
        severity: 'HIGH',
        code: 'GGUF_IMPLAUSIBLE_COUNTS',
        message: expect.stringContaining(`${2 ** 40} tensors`) as string,
        path: PATH,
        offset: 8,
      },
    ]);
    const tooMany = await scanGguf(bufferSource(PATH, ggufOf({ metadataCount: 50_000n })));
    expect(tooMany.findings).toMatchObject([
      { severity: 'HIGH', code: 'GGUF_TRUNCATED', offset: 8 },
    ]);
  });

  it('reports truncation inside the header, the metadata and the tensor data', async () => {
    const header = await scanGguf(bufferSource(PATH, ggufOf({ truncateTo: 12 })));
    expect(header.findings).toMatchObject([
      { severity: 'HIGH', code: 'GGUF_TRUNCATED', offset: 8 },
    ]);
    const file = ggufOf();
    const metadata = await scanGguf(bufferSource(PATH, file.subarray(0, 200)));
    expect(metadata.findings).toMatchObject([
      {
        severity: 'HIGH',
        code: 'GGUF_TRUNCATED',
        message: 'metadata runs past the end of the file',
      },
    ]);
    // output.weight is 34 bytes of Q8_0 padded to 64; cutting 40 leaves 24.
    const data = await scanGguf(bufferSource(PATH, file.subarray(0, file.length - 40)));
    expect(data.findings).toMatchObject([
      {
        severity: 'HIGH',
        code: 'GGUF_TRUNCATED',
        message: expect.stringContaining('output.weight') as string,
      },
    ]);
  });

  it('reports an unknown metadata value type', async () => {
    const file = ggufOf({ metadata: [['k', { type: 'u32', value: 1 }]], tensors: [] });
    file.writeUInt32LE(99, 24 + 8 + 1); // the value type after the key "k"
    expect((await scanGguf(bufferSource(PATH, file))).findings).toEqual([
      {
        severity: 'HIGH',
        code: 'GGUF_MALFORMED',
        message: 'metadata: unknown value type 99',
        path: PATH,
        offset: 24,
      },
    ]);
  });

  it('flags a chat template that reaches Python internals', async () => {
    const template =
      "{{ self.__init__.__globals__.__builtins__.__import__('os').popen('id').read() }}";
    const file = ggufOf({
      metadata: [['tokenizer.chat_template', { type: 'string', value: template }]],
    });
    expect((await scanGguf(bufferSource(PATH, file))).findings).toMatchObject([
      { severity: 'HIGH', code: 'GGUF_SUSPICIOUS_CHAT_TEMPLATE', path: PATH, offset: 24 },
    ]);
  });
});
