import type { ByteSource } from './byte-source.ts';
import { finding, printable, type Finding } from './findings.ts';

/** Options of {@link scanGguf}. */
export interface GgufScanOptions {
  /** Tensor count above which the header is implausible (default 1,000,000). */
  maxTensors?: number;
  /** Metadata key/value count above which the header is implausible (default 100,000). */
  maxMetadata?: number;
  /** Bytes of metadata and tensor table walked before stopping (default 256 MiB). */
  maxWalkBytes?: number;
  /** Epoch milliseconds after which the walk stops with SCAN_LIMIT_EXCEEDED. */
  deadline?: number;
}

/** What {@link scanGguf} found. */
export interface GgufScanResult {
  findings: Finding[];
  version: number | null;
  tensorCount: number | null;
  metadataCount: number | null;
  /** Scalar and short string metadata values (`general.architecture`, …), stringified. */
  metadata: Record<string, string> | null;
}

const MAGIC = 0x46554747; // "GGUF" read as u32 LE
const MAX_DIMS = 4; // GGML_MAX_DIMS
const MAX_KEPT_VALUE = 1024;
const MAX_KEPT_KEYS = 256;
const MAX_ARRAY_DEPTH = 4;
const CHUNK = 64 * 1024;

const T = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
const scalarSizes: Record<number, number> = {
  [T.UINT8]: 1,
  [T.INT8]: 1,
  [T.UINT16]: 2,
  [T.INT16]: 2,
  [T.UINT32]: 4,
  [T.INT32]: 4,
  [T.FLOAT32]: 4,
  [T.BOOL]: 1,
  [T.UINT64]: 8,
  [T.INT64]: 8,
  [T.FLOAT64]: 8,
};

// [block size in elements, bytes per block] for the ggml types whose layout is stable; tensors
// of other types get their offsets checked but not their sizes.
const ggmlTypeSizes: Record<number, [number, number]> = {
  0: [1, 4], // F32
  1: [1, 2], // F16
  2: [32, 18], // Q4_0
  3: [32, 20], // Q4_1
  6: [32, 22], // Q5_0
  7: [32, 24], // Q5_1
  8: [32, 34], // Q8_0
  9: [32, 36], // Q8_1
  10: [256, 84], // Q2_K
  11: [256, 110], // Q3_K
  12: [256, 144], // Q4_K
  13: [256, 176], // Q5_K
  14: [256, 210], // Q6_K
  15: [256, 292], // Q8_K
  24: [1, 1], // I8
  25: [1, 2], // I16
  26: [1, 4], // I32
  27: [1, 8], // I64
  28: [1, 8], // F64
  30: [1, 2], // BF16
};

// Jinja templates run as Python in some runtimes (llama-cpp-python CVE-2024-34359); these
// constructs only serve to reach the interpreter.
const templateGadgets =
  /__(?:class|mro|subclasses|globals|builtins|import|init|base|bases|getattribute|dict|code)__|\bos\.|\bpopen\b|\bsubprocess\b|\beval\b|\bexec\b/;

class Truncated extends Error {}
class Invalid extends Error {}
class Limit extends Error {}

/** Sequential reads over a ByteSource through a small window, with a byte budget. */
class Reader {
  private window: Buffer = Buffer.alloc(0);
  private windowStart = 0;
  pos: number;

  constructor(
    private readonly source: ByteSource,
    start: number,
    private readonly stopAt: number,
  ) {
    this.pos = start;
  }

  async bytes(n: number): Promise<Buffer> {
    if (n > this.source.size - this.pos) throw new Truncated();
    if (this.pos + n > this.stopAt) throw new Limit();
    const offset = this.pos - this.windowStart;
    if (offset < 0 || offset + n > this.window.length) {
      const end = Math.min(this.source.size, this.pos + Math.max(n, CHUNK));
      this.window = await this.source.read(this.pos, end);
      this.windowStart = this.pos;
      if (this.window.length < n) throw new Truncated();
    }
    const at = this.pos - this.windowStart;
    this.pos += n;
    return this.window.subarray(at, at + n);
  }

  skip(n: number): void {
    if (n > this.source.size - this.pos) throw new Truncated();
    if (this.pos + n > this.stopAt) throw new Limit();
    this.pos += n;
  }

  async u32(): Promise<number> {
    return (await this.bytes(4)).readUInt32LE(0);
  }

  async u64(): Promise<number> {
    const v = (await this.bytes(8)).readBigUInt64LE(0);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  }
}

/**
 * Checks a GGUF file: magic, version, plausible counts, then walks the metadata key/values and
 * the tensor table with bounds checks (capped), verifying tensor offsets fall inside the file.
 */
export async function scanGguf(
  source: ByteSource,
  options: GgufScanOptions = {},
): Promise<GgufScanResult> {
  const maxTensors = options.maxTensors ?? 1_000_000;
  const maxMetadata = options.maxMetadata ?? 100_000;
  const maxWalkBytes = options.maxWalkBytes ?? 256 * 1024 * 1024;
  const deadline = options.deadline ?? Number.POSITIVE_INFINITY;
  const path = source.path;
  const findings: Finding[] = [];
  const out: GgufScanResult = {
    findings,
    version: null,
    tensorCount: null,
    metadataCount: null,
    metadata: null,
  };

  const head = await source.read(0, Math.min(source.size, 24));
  if (head.length < 4 || head.readUInt32LE(0) !== MAGIC) {
    findings.push(
      finding(
        'HIGH',
        'GGUF_BAD_MAGIC',
        `file starts with ${printable(JSON.stringify(head.subarray(0, 4).toString('latin1')))}, not "GGUF"`,
        path,
        0,
      ),
    );
    return out;
  }
  if (head.length < 8) {
    findings.push(finding('HIGH', 'GGUF_TRUNCATED', 'file ends inside the GGUF header', path, 4));
    return out;
  }
  const version = head.readUInt32LE(4);
  out.version = version;
  if (version < 1 || version > 3) {
    const swapped = head.readUInt32BE(4);
    findings.push(
      finding(
        'HIGH',
        'GGUF_UNSUPPORTED_VERSION',
        `GGUF version ${version} is not 1, 2 or 3${swapped >= 1 && swapped <= 3 ? ' (a big-endian file?)' : ''}`,
        path,
        4,
      ),
    );
    return out;
  }
  const wide = version >= 2; // v1 used 32-bit counts and lengths
  const headerSize = wide ? 24 : 16;
  if (head.length < headerSize) {
    findings.push(finding('HIGH', 'GGUF_TRUNCATED', 'file ends inside the GGUF header', path, 8));
    return out;
  }
  const tensorCount = wide ? Number(head.readBigUInt64LE(8)) : head.readUInt32LE(8);
  const metadataCount = wide ? Number(head.readBigUInt64LE(16)) : head.readUInt32LE(12);
  out.tensorCount = tensorCount;
  out.metadataCount = metadataCount;
  if (tensorCount > maxTensors || metadataCount > maxMetadata) {
    findings.push(
      finding(
        'HIGH',
        'GGUF_IMPLAUSIBLE_COUNTS',
        `header declares ${tensorCount} tensors and ${metadataCount} metadata entries (caps ${maxTensors} / ${maxMetadata})`,
        path,
        8,
      ),
    );
    return out;
  }
  // Smallest possible encodings: a kv is a length, a 1-byte key, a type and a 1-byte value; a
  // tensor entry is a name, dimension count, one dimension, type and offset.
  const lengthSize = wide ? 8 : 4;
  const minimum =
    headerSize +
    metadataCount * (lengthSize + 1 + 4 + 1) +
    tensorCount * (lengthSize + 1 + 4 + lengthSize + 4 + 8);
  if (minimum > source.size) {
    findings.push(
      finding(
        'HIGH',
        'GGUF_TRUNCATED',
        `counts need at least ${minimum} bytes but the file has ${source.size}`,
        path,
        8,
      ),
    );
    return out;
  }

  const reader = new Reader(source, headerSize, headerSize + maxWalkBytes);
  const count = wide ? () => reader.u64() : () => reader.u32();
  const metadata: Record<string, string> = {};
  let alignment = 32;
  let entryStart = headerSize;
  let what = 'metadata';
  const readString = async (): Promise<Buffer> => reader.bytes(await count());
  const skipString = async (): Promise<void> => {
    reader.skip(await count());
  };

  const readValue = async (type: number, depth: number): Promise<string | null> => {
    const size = scalarSizes[type];
    if (size !== undefined) {
      const b = await reader.bytes(size);
      switch (type) {
        case T.UINT8:
          return String(b.readUInt8(0));
        case T.INT8:
          return String(b.readInt8(0));
        case T.UINT16:
          return String(b.readUInt16LE(0));
        case T.INT16:
          return String(b.readInt16LE(0));
        case T.UINT32:
          return String(b.readUInt32LE(0));
        case T.INT32:
          return String(b.readInt32LE(0));
        case T.FLOAT32:
          return String(b.readFloatLE(0));
        case T.BOOL:
          if (b[0]! > 1) throw new Invalid(`boolean value ${b[0]}`);
          return b[0] === 1 ? 'true' : 'false';
        case T.UINT64:
          return b.readBigUInt64LE(0).toString();
        case T.INT64:
          return b.readBigInt64LE(0).toString();
        default:
          return String(b.readDoubleLE(0));
      }
    }
    if (type === T.STRING) {
      const length = await count();
      if (length <= MAX_KEPT_VALUE * 1024) return (await reader.bytes(length)).toString('utf8');
      reader.skip(length);
      return null;
    }
    if (type === T.ARRAY) {
      if (depth >= MAX_ARRAY_DEPTH) throw new Invalid('arrays nested too deep');
      const elementType = await reader.u32();
      const length = await count();
      const elementSize = scalarSizes[elementType];
      if (elementSize !== undefined) {
        if (length > Number.MAX_SAFE_INTEGER / elementSize) throw new Truncated();
        reader.skip(length * elementSize);
      } else if (elementType === T.STRING) {
        for (let i = 0; i < length; i++) {
          await skipString();
          if ((i & 0xfff) === 0 && Date.now() >= deadline) throw new Limit();
        }
      } else if (elementType === T.ARRAY) {
        for (let i = 0; i < length; i++) await readValue(T.ARRAY, depth + 1);
      } else {
        throw new Invalid(`array of unknown value type ${elementType}`);
      }
      return null;
    }
    throw new Invalid(`unknown value type ${type}`);
  };

  try {
    for (let i = 0; i < metadataCount; i++) {
      entryStart = reader.pos;
      if (Date.now() >= deadline) throw new Limit();
      const key = (await readString()).toString('utf8');
      const type = await reader.u32();
      const value = await readValue(type, 0);
      if (key === 'general.alignment' && value !== null) {
        const a = Number(value);
        if (!Number.isInteger(a) || a <= 0 || (a & (a - 1)) !== 0) {
          throw new Invalid(`general.alignment ${value} is not a power of two`);
        }
        alignment = a;
      }
      if (key === 'tokenizer.chat_template' && value !== null && templateGadgets.test(value)) {
        findings.push(
          finding(
            'HIGH',
            'GGUF_SUSPICIOUS_CHAT_TEMPLATE',
            `tokenizer.chat_template contains ${printable(templateGadgets.exec(value)?.[0] ?? '')}`,
            path,
            entryStart,
          ),
        );
      }
      if (value !== null && Object.keys(metadata).length < MAX_KEPT_KEYS) {
        metadata[printable(key)] =
          value.length > MAX_KEPT_VALUE ? `${value.slice(0, MAX_KEPT_VALUE)}…` : value;
      }
    }
    out.metadata = metadata;

    what = 'tensor table';
    const tensors: { name: string; offset: number; bytes: number | null; at: number }[] = [];
    for (let i = 0; i < tensorCount; i++) {
      entryStart = reader.pos;
      if ((i & 0xfff) === 0 && Date.now() >= deadline) throw new Limit();
      const name = (await readString()).toString('utf8');
      const dims = await reader.u32();
      if (dims === 0 || dims > MAX_DIMS)
        throw new Invalid(`tensor ${printable(name)} has ${dims} dimensions`);
      let elements = 1;
      for (let d = 0; d < dims; d++) {
        const dim = await count();
        elements *= dim;
      }
      const type = await reader.u32();
      const offset = await reader.u64();
      const layout = ggmlTypeSizes[type];
      let bytes: number | null = null;
      if (layout !== undefined) {
        if (elements % layout[0] !== 0) {
          throw new Invalid(
            `tensor ${printable(name)} has ${elements} elements, not a multiple of its block size`,
          );
        }
        bytes = (elements / layout[0]) * layout[1];
      }
      if (offset % alignment !== 0) {
        throw new Invalid(
          `tensor ${printable(name)} offset ${offset} is not aligned to ${alignment}`,
        );
      }
      tensors.push({ name, offset, bytes, at: entryStart });
    }
    const dataStart = Math.ceil(reader.pos / alignment) * alignment;
    for (const t of tensors) {
      const end = dataStart + t.offset + (t.bytes ?? 0);
      if (!Number.isSafeInteger(end) || end > source.size) {
        findings.push(
          finding(
            'HIGH',
            'GGUF_TRUNCATED',
            `tensor ${printable(t.name)} data [${t.offset}, +${t.bytes ?? '?'}) runs past the end of the file`,
            path,
            t.at,
          ),
        );
        break;
      }
    }
  } catch (e) {
    if (e instanceof Truncated) {
      findings.push(
        finding(
          'HIGH',
          'GGUF_TRUNCATED',
          `${what} runs past the end of the file`,
          path,
          entryStart,
        ),
      );
    } else if (e instanceof Invalid) {
      findings.push(finding('HIGH', 'GGUF_MALFORMED', `${what}: ${e.message}`, path, entryStart));
    } else if (e instanceof Limit) {
      findings.push(
        finding(
          'MEDIUM',
          'SCAN_LIMIT_EXCEEDED',
          `${what} walk stopped at its byte or time cap`,
          path,
          entryStart,
        ),
      );
    } else {
      throw e;
    }
    out.metadata = metadata;
  }
  return out;
}
