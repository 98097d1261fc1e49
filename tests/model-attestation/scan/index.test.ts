import { describe, expect, it } from 'vitest';
import {
  bufferSource,
  findingCodes,
  scanModelFile,
  type Finding,
} from '../../../subgraphs/model-attestation/domain/scan/index.ts';
import {
  ggufOf,
  op,
  pickleCall,
  pickleOf,
  safetensorsOf,
  torchCheckpointOf,
} from '../../support/model-artifacts.ts';

function brief(findings: Finding[]): [string, string, string][] {
  return findings.map((f) => [f.severity, f.code, f.path]);
}

const cleanSafetensors = (): Buffer =>
  safetensorsOf([['w', { dtype: 'F16', shape: [2, 2] }]], { format: 'pt' });

describe('scanModelFile', () => {
  it('detects each format by content and dispatches to its scanner', async () => {
    const cases: [string, Buffer, string][] = [
      ['model.safetensors', cleanSafetensors(), 'safetensors'],
      ['pytorch_model.bin', torchCheckpointOf(), 'pytorch-zip'],
      ['model.pt', torchCheckpointOf(), 'pytorch-zip'],
      ['weights.pkl', pickleCall('collections', 'OrderedDict', []), 'pickle'],
      ['model.gguf', ggufOf(), 'gguf'],
      ['config.json', Buffer.from('{"hidden_size": 8}'), 'other'],
    ];
    for (const [path, bytes, format] of cases) {
      const result = await scanModelFile(bufferSource(path, bytes));
      expect([result.format, result.findings], path).toEqual([format, []]);
    }
    const safetensors = await scanModelFile(bufferSource('model.safetensors', cleanSafetensors()));
    expect(safetensors.metadata).toEqual({ format: 'pt' });
    const gguf = await scanModelFile(bufferSource('model.gguf', ggufOf()));
    expect(gguf.metadata).toMatchObject({ 'general.architecture': 'llama' });
  });

  it('says ONNX content is not inspected', async () => {
    const onnx = Buffer.from([0x08, 0x07, 0x12, 0x04, 0x74, 0x65, 0x73, 0x74]);
    expect(await scanModelFile(bufferSource('model.onnx', onnx))).toEqual({
      format: 'onnx',
      findings: [
        {
          severity: 'INFO',
          code: 'FORMAT_NOT_SCANNED',
          message: expect.any(String) as string,
          path: 'model.onnx',
          offset: null,
        },
      ],
    });
  });

  it('reports a .safetensors file that holds a pickle and scans it as one', async () => {
    const result = await scanModelFile(
      bufferSource('model.safetensors', pickleCall('os', 'system', ['id'])),
    );
    expect(result.format).toBe('pickle');
    expect(result.findings).toEqual([
      {
        severity: 'MEDIUM',
        code: 'FORMAT_MISMATCH',
        message: 'extension .safetensors suggests safetensors but the content is pickle',
        path: 'model.safetensors',
        offset: 0,
      },
      {
        severity: 'CRITICAL',
        code: 'PICKLE_DANGEROUS_GLOBAL',
        message: expect.stringContaining('os.system') as string,
        path: 'model.safetensors',
        offset: 2,
      },
    ]);
  });

  it('scans a protocol 0 pickle behind a torch extension', async () => {
    const legacy = pickleOf([
      op.global('posix', 'system'),
      op.put(0),
      op.mark(),
      op.unicode('id'),
      op.tuple(),
      op.reduce(),
      op.stop(),
    ]);
    const result = await scanModelFile(bufferSource('old.pth', legacy));
    expect(result.format).toBe('pickle');
    expect(brief(result.findings)).toEqual([['CRITICAL', 'PICKLE_DANGEROUS_GLOBAL', 'old.pth']]);
  });

  it('reports a zip checkpoint named .pkl and a GGUF named .safetensors', async () => {
    const zip = await scanModelFile(bufferSource('x.pkl', torchCheckpointOf()));
    expect([zip.format, brief(zip.findings)]).toEqual([
      'pytorch-zip',
      [['MEDIUM', 'FORMAT_MISMATCH', 'x.pkl']],
    ]);
    const gguf = await scanModelFile(bufferSource('x.safetensors', ggufOf()));
    expect([gguf.format, brief(gguf.findings)]).toEqual([
      'gguf',
      [['MEDIUM', 'FORMAT_MISMATCH', 'x.safetensors']],
    ]);
  });

  it('does not scan a pickle over the size cap, and says so', async () => {
    const result = await scanModelFile(
      bufferSource('big.pkl', pickleCall('collections', 'OrderedDict', [])),
      { maxPickleBytes: 8 },
    );
    expect(result.findings).toEqual([
      {
        severity: 'HIGH',
        code: 'SCAN_LIMIT_EXCEEDED',
        message: expect.stringContaining('was not inspected') as string,
        path: 'big.pkl',
        offset: null,
      },
    ]);
  });

  it('stops at the deadline with SCAN_LIMIT_EXCEEDED', async () => {
    const pickle = pickleOf([op.proto(2), op.none(), op.stop()]);
    const result = await scanModelFile(bufferSource('slow.pkl', pickle), { timeoutMs: 0 });
    expect(brief(result.findings)).toEqual([['HIGH', 'SCAN_LIMIT_EXCEEDED', 'slow.pkl']]);
    const zip = await scanModelFile(bufferSource('slow.pt', torchCheckpointOf()), { timeoutMs: 0 });
    expect(brief(zip.findings)).toEqual([['HIGH', 'SCAN_LIMIT_EXCEEDED', 'slow.pt']]);
  });

  it('documents every code the scanners can emit', () => {
    for (const [code, description] of Object.entries(findingCodes)) {
      expect(code).toMatch(/^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$/);
      expect(description.length).toBeGreaterThan(10);
    }
  });
});
