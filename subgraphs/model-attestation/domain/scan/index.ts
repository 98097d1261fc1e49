import { readExact, type ByteSource } from './byte-source.ts';
import { finding, type Finding } from './findings.ts';
import { scanGguf } from './gguf.ts';
import { scanPickle } from './pickle.ts';
import { scanSafetensors } from './safetensors.ts';
import { scanZipCheckpoint } from './zip-checkpoint.ts';

export type { ByteSource } from './byte-source.ts';
export { bufferSource } from './byte-source.ts';
export type { Finding, Severity } from './findings.ts';
export { findingCodes } from './findings.ts';
export { scanPickle } from './pickle.ts';
export { scanSafetensors } from './safetensors.ts';
export { scanZipCheckpoint } from './zip-checkpoint.ts';
export { scanGguf } from './gguf.ts';

export type ModelFormat = 'safetensors' | 'pytorch-zip' | 'pickle' | 'gguf' | 'onnx' | 'other';

/** Options of {@link scanModelFile}. */
export interface ModelScanOptions {
  /** Wall-clock budget for the whole scan in milliseconds (default 60 s). */
  timeoutMs?: number;
  /** Largest bare pickle read into memory and scanned (default 512 MiB). */
  maxPickleBytes?: number;
}

/** What {@link scanModelFile} found about one file. */
export interface ModelScanResult {
  /** The format the content was scanned as (content wins over the extension). */
  format: ModelFormat;
  findings: Finding[];
  /** safetensors `__metadata__` or GGUF scalar metadata, when the format carries it. */
  metadata?: Record<string, string> | null;
}

// What each extension may legitimately hold: torch.save writes a zip since 1.6 and a bare
// pickle stream before (or with _use_new_zipfile_serialization=False).
const extensionFormats: Record<string, readonly ModelFormat[]> = {
  '.safetensors': ['safetensors'],
  '.pt': ['pytorch-zip', 'pickle'],
  '.pth': ['pytorch-zip', 'pickle'],
  '.ckpt': ['pytorch-zip', 'pickle'],
  '.bin': ['pytorch-zip', 'pickle'],
  '.pkl': ['pickle'],
  '.pickle': ['pickle'],
  '.gguf': ['gguf'],
  '.onnx': ['onnx'],
};

// Protocol 0/1 pickles have no PROTO opcode; these are the openings Python writes for a global,
// a dict, a list or an instance.
const legacyPickle =
  // eslint-disable-next-line no-control-regex -- BINPUT 0 is a NUL byte
  /^(?:c[A-Za-z_][\w.]*\n[A-Za-z_][\w.]*\n|\((?:dp\d|lp\d|i[A-Za-z_][\w.]*\n|c[A-Za-z_][\w.]*\n)|[}\]]q\x00)/;

function extensionOf(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1).toLowerCase();
  const dot = base.lastIndexOf('.');
  return dot <= 0 ? '' : base.slice(dot);
}

/** Recognises a format from the first bytes; 'other' when nothing matches (ONNX has no magic). */
export function detectFormat(head: Buffer, size: number): ModelFormat {
  if (head.length >= 4) {
    const magic = head.readUInt32LE(0);
    if (magic === 0x04034b50 || magic === 0x06054b50) return 'pytorch-zip';
    if (magic === 0x46554747) return 'gguf';
  }
  const proto = head[1];
  if (head[0] === 0x80 && proto !== undefined && proto >= 2 && proto <= 5) return 'pickle';
  if (head.length >= 9 && head[8] === 0x7b) {
    const n = head.readBigUInt64LE(0);
    if (n >= 2n && n <= BigInt(Math.max(0, size - 8))) return 'safetensors';
  }
  if (legacyPickle.test(head.toString('latin1'))) return 'pickle';
  return 'other';
}

/**
 * Scans one model file: detects its format from content and extension, reports a mismatch
 * between the two, and dispatches to the matching scanner within a time budget. Nothing in the
 * file is executed. Rejects only when the source itself fails to read.
 */
export async function scanModelFile(
  source: ByteSource,
  options: ModelScanOptions = {},
): Promise<ModelScanResult> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  const maxPickleBytes = options.maxPickleBytes ?? 512 * 1024 * 1024;
  const path = source.path;
  const head = await source.read(0, Math.min(source.size, 64));
  const detected = detectFormat(head, source.size);
  const extension = extensionOf(path);
  const expected = extensionFormats[extension];
  const findings: Finding[] = [];

  if (detected !== 'other' && expected !== undefined && !expected.includes(detected)) {
    findings.push(
      finding(
        'MEDIUM',
        'FORMAT_MISMATCH',
        `extension ${extension} suggests ${expected.join(' or ')} but the content is ${detected}`,
        path,
        0,
      ),
    );
  }
  // Loaders sniff content (torch.load, llama.cpp), so content decides what is scanned; the
  // extension only helps when the content has no magic (protocol 0/1 pickles, broken headers).
  let format: ModelFormat = detected;
  // `.bin` is too generic to guess from; a torch extension with unknown content can only be a
  // protocol 0/1 pickle, since a zip would have been recognised.
  if (format === 'other' && expected?.[0] !== undefined && extension !== '.bin') {
    format = expected[0] === 'pytorch-zip' ? 'pickle' : expected[0];
  }

  switch (format) {
    case 'safetensors': {
      const r = await scanSafetensors(source);
      return { format, findings: [...findings, ...r.findings], metadata: r.metadata };
    }
    case 'gguf': {
      const r = await scanGguf(source, { deadline });
      return { format, findings: [...findings, ...r.findings], metadata: r.metadata };
    }
    case 'pytorch-zip':
      findings.push(...(await scanZipCheckpoint(source, { deadline })));
      return { format, findings };
    case 'pickle': {
      if (source.size > maxPickleBytes) {
        findings.push(
          finding(
            'HIGH',
            'SCAN_LIMIT_EXCEEDED',
            `pickle of ${source.size} bytes exceeds the ${maxPickleBytes}-byte scan cap and was not inspected`,
            path,
            null,
          ),
        );
        return { format, findings };
      }
      const bytes = await readExact(source, 0, source.size);
      if (bytes === null) throw new Error(`could not read ${source.size} bytes of ${path}`);
      findings.push(...scanPickle(bytes, path, { deadline }).findings);
      return { format, findings };
    }
    case 'onnx':
      findings.push(
        finding(
          'INFO',
          'FORMAT_NOT_SCANNED',
          'ONNX graphs are not inspected by these scanners',
          path,
          null,
        ),
      );
      return { format, findings };
    default:
      return { format, findings };
  }
}
