import { readExact, type ByteSource } from './byte-source.ts';
import { finding, printable, type Finding } from './findings.ts';

/** Options of {@link scanSafetensors}. */
export interface SafetensorsScanOptions {
  /** Largest JSON header accepted (default 100 MiB, the reference implementation's limit). */
  maxHeaderBytes?: number;
}

/** What {@link scanSafetensors} found. */
export interface SafetensorsScanResult {
  findings: Finding[];
  /** `__metadata__` when it is a valid string → string object, else null. */
  metadata: Record<string, string> | null;
  /** Number of tensor entries in the header (valid or not). */
  tensors: number;
}

/** Bytes per element of every dtype the safetensors format defines. */
export const safetensorsDtypeSizes: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

const MAX_REPORTED_PER_CODE = 50;

interface KeyToken {
  key: string;
  /** Byte offset of the key's opening quote inside the header. */
  at: number;
}

/**
 * Lists the keys of the header's top-level object and reports whether any nested object
 * repeats a key. JSON.parse keeps the last duplicate silently while other parsers keep the first
 * or refuse, so duplicates are an ambiguity to report, not to resolve. Iterative, so deep
 * nesting cannot overflow the stack. Returns null when the text is not structurally JSON.
 */
function scanKeys(header: Buffer): { top: KeyToken[]; nestedDuplicate: string | null } | null {
  const top: KeyToken[] = [];
  let nestedDuplicate: string | null = null;
  // One frame per open container: objects track their keys, arrays track nothing.
  const frames: ({ keys: Set<string>; expectKey: boolean } | null)[] = [];
  let i = 0;
  const n = header.length;
  while (i < n) {
    const c = header[i]!;
    if (c === 0x22) {
      const start = i;
      i++;
      let escaped = false;
      while (i < n && header[i] !== 0x22) {
        if (header[i] === 0x5c) {
          escaped = true;
          i += 2;
        } else {
          i++;
        }
      }
      if (i >= n) return null;
      i++;
      const frame = frames[frames.length - 1];
      if (frame && frame.expectKey) {
        let key: string;
        if (!escaped) {
          key = header.toString('utf8', start + 1, i - 1);
        } else {
          try {
            key = JSON.parse(header.toString('utf8', start, i)) as string;
          } catch {
            return null;
          }
        }
        if (frame.keys.has(key)) {
          if (frames.length > 1) nestedDuplicate ??= key;
        }
        frame.keys.add(key);
        if (frames.length === 1) top.push({ key, at: start });
        frame.expectKey = false;
      }
      continue;
    }
    if (c === 0x7b) frames.push({ keys: new Set(), expectKey: true });
    else if (c === 0x5b) frames.push(null);
    else if (c === 0x7d || c === 0x5d) frames.pop();
    else if (c === 0x2c) {
      const frame = frames[frames.length - 1];
      if (frame) frame.expectKey = true;
    }
    i++;
  }
  return { top, nestedDuplicate };
}

function isSafeCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

const label = (name: string): string => printable(JSON.stringify(name));

/** Bytes a tensor needs; BigInt only when the Number product could lose precision. */
function tensorBytes(shape: readonly number[], elementSize: number): bigint | number {
  let n = elementSize;
  for (const d of shape) {
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) {
      return shape.reduce((acc, x) => acc * BigInt(x), BigInt(elementSize));
    }
  }
  return n;
}

/** Validates one tensor entry; returns its byte range when the offsets are usable. */
function checkTensor(
  name: string,
  value: unknown,
  dataStart: number,
  dataLength: number,
  path: string,
  add: (f: Finding) => void,
): { name: string; begin: number; end: number } | null {
  const invalid = (why: string): void => {
    add(finding('HIGH', 'SAFETENSORS_INVALID_TENSOR', `tensor ${label(name)} ${why}`, path, null));
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    invalid('is not an object');
    return null;
  }
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  const elementSize = typeof dtype === 'string' ? safetensorsDtypeSizes[dtype] : undefined;
  if (elementSize === undefined) {
    add(
      finding(
        'HIGH',
        'SAFETENSORS_BAD_DTYPE',
        `tensor ${label(name)} has dtype ${printable(JSON.stringify(dtype) ?? 'undefined')}, not a safetensors dtype`,
        path,
        null,
      ),
    );
  }
  const shapeOk = Array.isArray(shape) && shape.every(isSafeCount);
  if (!shapeOk) invalid('has a shape that is not an array of non-negative integers');
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isSafeCount)) {
    invalid('has data_offsets that are not two non-negative integers');
    return null;
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end || end > dataLength) {
    add(
      finding(
        'HIGH',
        'SAFETENSORS_OFFSETS_OUT_OF_BOUNDS',
        `tensor ${label(name)} data_offsets [${begin}, ${end}] ${begin > end ? 'are reversed' : `run past the ${dataLength}-byte data section`}`,
        path,
        dataStart + Math.min(begin, dataLength),
      ),
    );
    return null;
  }
  if (shapeOk && elementSize !== undefined) {
    const expected = tensorBytes(shape, elementSize);
    if (typeof expected === 'bigint' || expected !== end - begin) {
      add(
        finding(
          'HIGH',
          'SAFETENSORS_SIZE_MISMATCH',
          `tensor ${label(name)} spans ${end - begin} bytes but ${String(dtype)}${JSON.stringify(shape)} needs ${expected}`,
          path,
          dataStart + begin,
        ),
      );
    }
  }
  return { name, begin, end };
}

/**
 * Validates a safetensors file from its header alone: the length prefix, the JSON header,
 * `__metadata__`, every tensor's dtype, shape and byte range, and how the ranges cover the data
 * section. Reads the first 8 + N bytes only.
 */
export async function scanSafetensors(
  source: ByteSource,
  options: SafetensorsScanOptions = {},
): Promise<SafetensorsScanResult> {
  const maxHeaderBytes = options.maxHeaderBytes ?? 100 * 1024 * 1024;
  const path = source.path;
  const findings: Finding[] = [];
  const counts = new Map<string, number>();
  const add = (f: Finding): void => {
    const seen = counts.get(f.code) ?? 0;
    counts.set(f.code, seen + 1);
    if (seen < MAX_REPORTED_PER_CODE) findings.push(f);
  };
  const result = (
    metadata: Record<string, string> | null = null,
    tensors = 0,
  ): SafetensorsScanResult => ({
    findings,
    metadata,
    tensors,
  });

  const prefix = await readExact(source, 0, 8);
  if (prefix === null) {
    add(
      finding(
        'CRITICAL',
        'SAFETENSORS_HEADER_TRUNCATED',
        `file of ${source.size} bytes has no 8-byte header length`,
        path,
        0,
      ),
    );
    return result();
  }
  const declared = prefix.readBigUInt64LE(0);
  if (declared > BigInt(maxHeaderBytes)) {
    add(
      finding(
        'CRITICAL',
        'SAFETENSORS_HEADER_TOO_LARGE',
        `header length ${declared} exceeds the ${maxHeaderBytes}-byte cap`,
        path,
        0,
      ),
    );
    return result();
  }
  const headerLength = Number(declared);
  if (8 + headerLength > source.size) {
    add(
      finding(
        'CRITICAL',
        'SAFETENSORS_HEADER_TRUNCATED',
        `header length ${headerLength} runs past the end of the ${source.size}-byte file`,
        path,
        0,
      ),
    );
    return result();
  }
  const header = await readExact(source, 8, 8 + headerLength);
  if (header === null) {
    add(
      finding(
        'CRITICAL',
        'SAFETENSORS_HEADER_TRUNCATED',
        'header could not be read in full',
        path,
        8,
      ),
    );
    return result();
  }

  const notJson = (why: string): SafetensorsScanResult => {
    add(finding('HIGH', 'SAFETENSORS_HEADER_NOT_JSON', `header ${why}`, path, 8));
    return result();
  };
  if (header[0] !== 0x7b) return notJson('does not start with "{"');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(header);
  } catch {
    return notJson('is not valid UTF-8');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return notJson('is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return notJson('is not a JSON object');
  }
  const keys = scanKeys(header);
  if (keys === null) return notJson('is not valid JSON');
  const headerObject = parsed as Record<string, unknown>;

  const seen = new Set<string>();
  for (const { key, at } of keys.top) {
    if (seen.has(key)) {
      add(
        finding(
          'HIGH',
          'SAFETENSORS_DUPLICATE_TENSOR',
          `header names ${printable(JSON.stringify(key))} more than once; parsers disagree on which entry wins`,
          path,
          8 + at,
        ),
      );
    }
    seen.add(key);
  }
  if (keys.nestedDuplicate !== null) {
    add(
      finding(
        'HIGH',
        'SAFETENSORS_INVALID_TENSOR',
        `header repeats the field ${printable(JSON.stringify(keys.nestedDuplicate))} inside one entry`,
        path,
        8,
      ),
    );
  }

  let metadata: Record<string, string> | null = null;
  if (Object.hasOwn(headerObject, '__metadata__')) {
    const raw = headerObject.__metadata__;
    if (
      typeof raw === 'object' &&
      raw !== null &&
      !Array.isArray(raw) &&
      Object.values(raw).every((v) => typeof v === 'string')
    ) {
      metadata = { ...(raw as Record<string, string>) };
    } else {
      add(
        finding(
          'MEDIUM',
          'SAFETENSORS_INVALID_METADATA',
          '__metadata__ is not an object of string values',
          path,
          8,
        ),
      );
    }
  }

  const dataStart = 8 + headerLength;
  const dataLength = source.size - dataStart;
  const ranges: { name: string; begin: number; end: number }[] = [];
  let tensors = 0;
  for (const [name, value] of Object.entries(headerObject)) {
    if (name === '__metadata__') continue;
    tensors++;
    const range = checkTensor(name, value, dataStart, dataLength, path, add);
    if (range !== null) ranges.push(range);
  }

  ranges.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let gapBytes = 0;
  let gaps = 0;
  let firstGap: number | null = null;
  let previous: { name: string; end: number } | null = null;
  for (const r of ranges) {
    // Empty tensors occupy no bytes and cannot overlap anything.
    if (r.begin === r.end) continue;
    if (previous !== null && r.begin < previous.end) {
      add(
        finding(
          'HIGH',
          'SAFETENSORS_OVERLAPPING_OFFSETS',
          `tensor ${label(r.name)} [${r.begin}, ${r.end}] overlaps ${label(previous.name)} ending at ${previous.end}`,
          path,
          dataStart + r.begin,
        ),
      );
    } else if (r.begin > covered) {
      gaps++;
      gapBytes += r.begin - covered;
      firstGap ??= covered;
    }
    covered = Math.max(covered, r.end);
    if (previous === null || r.end >= previous.end) previous = { name: r.name, end: r.end };
  }
  if (covered < dataLength) {
    gaps++;
    gapBytes += dataLength - covered;
    firstGap ??= covered;
  }
  if (gaps > 0 && firstGap !== null) {
    add(
      finding(
        'LOW',
        'SAFETENSORS_UNUSED_BYTES',
        `${gapBytes} bytes of the data section belong to no tensor (${gaps} gap${gaps === 1 ? '' : 's'})`,
        path,
        dataStart + firstGap,
      ),
    );
  }
  return result(metadata, tensors);
}
