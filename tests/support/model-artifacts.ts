// Builders for model-file artifacts (pickles, safetensors, zips, GGUF, PyTorch checkpoints),
// written byte by byte from the formats' specifications so tests need no Python or torch.
import { crc32, deflateRawSync } from 'node:zlib';

// ---------------------------------------------------------------------------------------------
// Pickle
// ---------------------------------------------------------------------------------------------

/** One encoded pickle opcode with its argument. */
export type PickleOp = Buffer;

function u8(n: number): Buffer {
  return Buffer.from([n]);
}
function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
function i32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n);
  return b;
}
function u64(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}
function opcode(code: number, ...args: Buffer[]): PickleOp {
  return Buffer.concat([u8(code), ...args]);
}
function textLine(text: string): Buffer {
  return Buffer.from(`${text}\n`, 'utf8');
}

/** Little-endian two's complement, as LONG1/LONG4 encode integers. */
function longBytes(value: bigint): Buffer {
  if (value === 0n) return Buffer.alloc(0);
  const out: number[] = [];
  let v = value;
  for (;;) {
    out.push(Number(v & 0xffn));
    v >>= 8n;
    const last = out[out.length - 1]!;
    if ((v === 0n && (last & 0x80) === 0) || (v === -1n && (last & 0x80) !== 0)) break;
  }
  return Buffer.from(out);
}

/**
 * Every pickle opcode (CPython pickletools names), each returning its encoded bytes. Combine
 * them with {@link pickleOf}.
 */
export const op = {
  proto: (n: number) => opcode(0x80, u8(n)),
  frame: (length: number) => opcode(0x95, u64(length)),
  stop: () => opcode(0x2e),
  // integers, floats, constants
  int: (n: number) => opcode(0x49, textLine(String(n))),
  binint: (n: number) => opcode(0x4a, i32(n)),
  binint1: (n: number) => opcode(0x4b, u8(n)),
  binint2: (n: number) => opcode(0x4d, u16(n)),
  long: (n: bigint) => opcode(0x4c, textLine(`${n}L`)),
  long1: (n: bigint) => {
    const b = longBytes(n);
    return opcode(0x8a, u8(b.length), b);
  },
  long4: (n: bigint) => {
    const b = longBytes(n);
    return opcode(0x8b, i32(b.length), b);
  },
  float: (n: number) => opcode(0x46, textLine(String(n))),
  binfloat: (n: number) => {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(n);
    return opcode(0x47, b);
  },
  none: () => opcode(0x4e),
  newtrue: () => opcode(0x88),
  newfalse: () => opcode(0x89),
  // strings and bytes
  string: (quotedRepr: string) => opcode(0x53, textLine(quotedRepr)),
  binstring: (s: string) =>
    opcode(0x54, i32(Buffer.byteLength(s, 'latin1')), Buffer.from(s, 'latin1')),
  shortBinstring: (s: string) =>
    opcode(0x55, u8(Buffer.byteLength(s, 'latin1')), Buffer.from(s, 'latin1')),
  unicode: (rawUnicodeEscaped: string) =>
    opcode(0x56, Buffer.from(`${rawUnicodeEscaped}\n`, 'latin1')),
  shortBinunicode: (s: string) => opcode(0x8c, u8(Buffer.byteLength(s)), Buffer.from(s)),
  binunicode: (s: string) => opcode(0x58, u32(Buffer.byteLength(s)), Buffer.from(s)),
  binunicode8: (s: string) => opcode(0x8d, u64(Buffer.byteLength(s)), Buffer.from(s)),
  /** The opcode CPython picks for a str of this length at protocol 4+. */
  str: (s: string) => (Buffer.byteLength(s) < 256 ? op.shortBinunicode(s) : op.binunicode(s)),
  binbytes: (b: Buffer) => opcode(0x42, u32(b.length), b),
  shortBinbytes: (b: Buffer) => opcode(0x43, u8(b.length), b),
  binbytes8: (b: Buffer) => opcode(0x8e, u64(b.length), b),
  bytearray8: (b: Buffer) => opcode(0x96, u64(b.length), b),
  nextBuffer: () => opcode(0x97),
  readonlyBuffer: () => opcode(0x98),
  // containers and stack
  mark: () => opcode(0x28),
  pop: () => opcode(0x30),
  popMark: () => opcode(0x31),
  dup: () => opcode(0x32),
  emptyTuple: () => opcode(0x29),
  tuple: () => opcode(0x74),
  tuple1: () => opcode(0x85),
  tuple2: () => opcode(0x86),
  tuple3: () => opcode(0x87),
  emptyList: () => opcode(0x5d),
  list: () => opcode(0x6c),
  append: () => opcode(0x61),
  appends: () => opcode(0x65),
  emptyDict: () => opcode(0x7d),
  dict: () => opcode(0x64),
  setitem: () => opcode(0x73),
  setitems: () => opcode(0x75),
  emptySet: () => opcode(0x8f),
  additems: () => opcode(0x90),
  frozenset: () => opcode(0x91),
  // memo
  put: (i: number) => opcode(0x70, textLine(String(i))),
  binput: (i: number) => opcode(0x71, u8(i)),
  longBinput: (i: number) => opcode(0x72, u32(i)),
  memoize: () => opcode(0x94),
  get: (i: number) => opcode(0x67, textLine(String(i))),
  binget: (i: number) => opcode(0x68, u8(i)),
  longBinget: (i: number) => opcode(0x6a, u32(i)),
  // imports and calls
  global: (module: string, name: string) => opcode(0x63, textLine(module), textLine(name)),
  stackGlobal: () => opcode(0x93),
  inst: (module: string, name: string) => opcode(0x69, textLine(module), textLine(name)),
  obj: () => opcode(0x6f),
  reduce: () => opcode(0x52),
  build: () => opcode(0x62),
  newobj: () => opcode(0x81),
  newobjEx: () => opcode(0x92),
  ext1: (code: number) => opcode(0x82, u8(code)),
  ext2: (code: number) => opcode(0x83, u16(code)),
  ext4: (code: number) => opcode(0x84, i32(code)),
  persid: (id: string) => opcode(0x50, textLine(id)),
  binpersid: () => opcode(0x51),
};

/** Concatenates opcodes into pickle bytes. */
export function pickleOf(ops: readonly PickleOp[]): Buffer {
  return Buffer.concat(ops);
}

/** Offset of the `index`-th opcode in a list passed to {@link pickleOf}. */
export function offsetOfOp(ops: readonly PickleOp[], index: number): number {
  return ops.slice(0, index).reduce((n, o) => n + o.length, 0);
}

/**
 * A protocol 2 pickle of `module.name(*args)` with string arguments — what `__reduce__`
 * payloads look like (`pickle.dumps(Evil(), protocol=2)`).
 */
export function pickleCall(module: string, name: string, args: readonly string[]): Buffer {
  return pickleOf([
    op.proto(2),
    op.global(module, name),
    op.binput(0),
    op.mark(),
    ...args.map((a) => op.binunicode(a)),
    op.tuple(),
    op.reduce(),
    op.stop(),
  ]);
}

/** The same call as a protocol 4 pickle, importing through STACK_GLOBAL inside a frame. */
export function pickleCallStackGlobal(
  module: string,
  name: string,
  args: readonly string[],
): Buffer {
  const body = pickleOf([
    op.shortBinunicode(module),
    op.memoize(),
    op.shortBinunicode(name),
    op.memoize(),
    op.stackGlobal(),
    op.memoize(),
    op.mark(),
    ...args.map((a) => op.str(a)),
    op.tuple(),
    op.reduce(),
    op.stop(),
  ]);
  return Buffer.concat([op.proto(4), op.frame(body.length), body]);
}

// ---------------------------------------------------------------------------------------------
// PyTorch checkpoint
// ---------------------------------------------------------------------------------------------

/** One tensor of a {@link torchCheckpointOf} state dict (float32, contiguous). */
export interface TorchTensor {
  name: string;
  shape: number[];
}

/**
 * The data.pkl torch.save writes for an OrderedDict state dict at protocol 2: the dict is
 * `OrderedDict()` filled by SETITEMS, each value is `torch._utils._rebuild_tensor_v2(
 * persistent_load(('storage', torch.FloatStorage, key, 'cpu', numel)), 0, shape, stride, False,
 * OrderedDict())`, and BUILD attaches `_metadata`. Callables are memoised and fetched back with
 * BINGET the way the pickler does.
 */
export function torchStateDictPickle(tensors: readonly TorchTensor[]): Buffer {
  let memo = 0;
  const put = (): PickleOp => (memo < 256 ? op.binput(memo++) : op.longBinput(memo++));
  const slots = new Map<string, number>();
  const global = (module: string, name: string): PickleOp[] => {
    const key = `${module}.${name}`;
    const slot = slots.get(key);
    if (slot !== undefined) return [slot < 256 ? op.binget(slot) : op.longBinget(slot)];
    slots.set(key, memo);
    return [op.global(module, name), put()];
  };
  const tuple = (values: readonly number[]): PickleOp[] => {
    if (values.length === 0) return [op.emptyTuple()];
    const items = values.map((v) => (v < 256 ? op.binint1(v) : op.binint(v)));
    if (values.length <= 3)
      return [...items, [op.tuple1(), op.tuple2(), op.tuple3()][values.length - 1]!, put()];
    return [op.mark(), ...items, op.tuple(), put()];
  };
  const ops: PickleOp[] = [
    op.proto(2),
    ...global('collections', 'OrderedDict'),
    op.emptyTuple(),
    op.reduce(),
    put(),
    op.mark(),
  ];
  tensors.forEach((t, index) => {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const strides = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    ops.push(
      op.binunicode(t.name),
      put(),
      ...global('torch._utils', '_rebuild_tensor_v2'),
      op.mark(),
      op.mark(),
      op.binunicode('storage'),
      put(),
      ...global('torch', 'FloatStorage'),
      op.binunicode(String(index)),
      put(),
      op.binunicode('cpu'),
      put(),
      numel < 256 ? op.binint1(numel) : op.binint(numel),
      op.tuple(),
      put(),
      op.binpersid(),
      op.binint1(0),
      ...tuple(t.shape),
      ...tuple(strides),
      op.newfalse(),
      ...global('collections', 'OrderedDict'),
      op.emptyTuple(),
      op.reduce(),
      put(),
      op.tuple(),
      put(),
      op.reduce(),
      put(),
    );
  });
  ops.push(
    op.setitems(),
    op.emptyDict(),
    put(),
    op.binunicode('_metadata'),
    put(),
    ...global('collections', 'OrderedDict'),
    op.emptyTuple(),
    op.reduce(),
    put(),
    op.binunicode(''),
    put(),
    op.emptyDict(),
    put(),
    op.binunicode('version'),
    put(),
    op.binint1(1),
    op.setitem(),
    op.setitem(),
    op.setitem(),
    op.build(),
    op.stop(),
  );
  return pickleOf(ops);
}

/** One zip entry for {@link zipOf}. */
export interface ZipEntry {
  name: string;
  data: Buffer;
  /** 0 stored, 8 deflate; other numbers are written as-is (with the data stored). */
  method: number;
  /** Declared uncompressed size, to build archives that lie about their sizes. */
  declaredSize?: number;
  /** Declared CRC-32, to build archives with a wrong checksum. */
  declaredCrc?: number;
}

/** Options of {@link zipOf}. */
export interface ZipOptions {
  /** Write ZIP64 end records and ZIP64 extra fields, as torch does for large checkpoints. */
  zip64?: boolean;
  /** Extra bytes in each local header (torch pads data to 64-byte alignment this way). */
  localExtra?: (name: string, offset: number) => Buffer;
}

/** A valid zip archive (CRC-32 via node:zlib, deflate via deflateRawSync). */
export function zipOf(entries: readonly ZipEntry[], options: ZipOptions = {}): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const stored = e.method === 8 ? deflateRawSync(e.data) : e.data;
    const crc = e.declaredCrc ?? crc32(e.data) >>> 0;
    const size = e.declaredSize ?? e.data.length;
    const localExtra = options.localExtra?.(e.name, offset + 30 + name.length) ?? Buffer.alloc(0);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(options.zip64 ? 45 : 20, 4);
    local.writeUInt16LE(0x800, 6);
    local.writeUInt16LE(e.method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(stored.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(localExtra.length, 28);
    locals.push(local, name, localExtra, stored);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(options.zip64 ? 45 : 20, 4);
    central.writeUInt16LE(options.zip64 ? 45 : 20, 6);
    central.writeUInt16LE(0x800, 8);
    central.writeUInt16LE(e.method, 10);
    central.writeUInt32LE(crc, 16);
    let extra = Buffer.alloc(0);
    if (options.zip64) {
      central.writeUInt32LE(0xffffffff, 20);
      central.writeUInt32LE(0xffffffff, 24);
      central.writeUInt32LE(0xffffffff, 42);
      extra = Buffer.concat([u16(0x0001), u16(24), u64(size), u64(stored.length), u64(offset)]);
    } else {
      central.writeUInt32LE(stored.length, 20);
      central.writeUInt32LE(size, 24);
      central.writeUInt32LE(offset, 42);
    }
    central.writeUInt16LE(name.length, 28);
    central.writeUInt16LE(extra.length, 30);
    centrals.push(central, name, extra);
    offset += 30 + name.length + localExtra.length + stored.length;
  }
  const cd = Buffer.concat(centrals);
  const cdOffset = offset;
  const tail: Buffer[] = [];
  if (options.zip64) {
    const record = Buffer.alloc(56);
    record.writeUInt32LE(0x06064b50, 0);
    record.writeBigUInt64LE(44n, 4);
    record.writeUInt16LE(45, 12);
    record.writeUInt16LE(45, 14);
    record.writeBigUInt64LE(BigInt(entries.length), 24);
    record.writeBigUInt64LE(BigInt(entries.length), 32);
    record.writeBigUInt64LE(BigInt(cd.length), 40);
    record.writeBigUInt64LE(BigInt(cdOffset), 48);
    const locator = Buffer.alloc(20);
    locator.writeUInt32LE(0x07064b50, 0);
    locator.writeBigUInt64LE(BigInt(cdOffset + cd.length), 8);
    locator.writeUInt32LE(1, 16);
    tail.push(record, locator);
  }
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(options.zip64 ? 0xffff : entries.length, 8);
  eocd.writeUInt16LE(options.zip64 ? 0xffff : entries.length, 10);
  eocd.writeUInt32LE(options.zip64 ? 0xffffffff : cd.length, 12);
  eocd.writeUInt32LE(options.zip64 ? 0xffffffff : cdOffset, 16);
  return Buffer.concat([...locals, cd, ...tail, eocd]);
}

/** Options of {@link torchCheckpointOf}. */
export interface TorchCheckpointOptions {
  /** Top-level folder inside the zip (torch uses the file's stem; default "archive"). */
  archive?: string;
  tensors?: TorchTensor[];
  /** Replaces data.pkl, to plant a payload in an otherwise realistic checkpoint. */
  dataPkl?: Buffer;
  zip64?: boolean;
}

/**
 * A checkpoint laid out as torch.save writes it since 1.6: `<archive>/data.pkl`,
 * `<archive>/byteorder`, one `<archive>/data/<key>` storage per tensor, `<archive>/version`
 * and `<archive>/.data/serialization_id`, all stored, data aligned to 64 bytes.
 */
export function torchCheckpointOf(options: TorchCheckpointOptions = {}): Buffer {
  const archive = options.archive ?? 'archive';
  const tensors = options.tensors ?? [
    { name: 'layer.weight', shape: [2, 3] },
    { name: 'layer.bias', shape: [3] },
  ];
  const entries: ZipEntry[] = [
    {
      name: `${archive}/data.pkl`,
      data: options.dataPkl ?? torchStateDictPickle(tensors),
      method: 0,
    },
    { name: `${archive}/byteorder`, data: Buffer.from('little'), method: 0 },
    ...tensors.map((t, i) => {
      const numel = t.shape.reduce((a, b) => a * b, 1);
      const data = Buffer.alloc(numel * 4);
      for (let j = 0; j < numel; j++) data.writeFloatLE(j / 10, j * 4);
      return { name: `${archive}/data/${i}`, data, method: 0 };
    }),
    { name: `${archive}/version`, data: Buffer.from('3\n'), method: 0 },
    {
      name: `${archive}/.data/serialization_id`,
      data: Buffer.from('1234567890123456789012345678901234567890'),
      method: 0,
    },
  ];
  return zipOf(entries, {
    zip64: options.zip64,
    // torch's "FB" padding field: aligns every entry's data to 64 bytes for mmap.
    localExtra: (_name, dataOffsetWithoutExtra) => {
      const pad = (64 - ((dataOffsetWithoutExtra + 4) % 64)) % 64;
      return Buffer.concat([Buffer.from('FB', 'latin1'), u16(pad), Buffer.alloc(pad, 0x5a)]);
    },
  });
}

// ---------------------------------------------------------------------------------------------
// safetensors
// ---------------------------------------------------------------------------------------------

/** One tensor of {@link safetensorsOf}; offsets are computed contiguously unless given. */
export interface SafetensorSpec {
  dtype: string;
  shape: number[];
  data_offsets?: [number, number];
}

const dtypeBytes: Record<string, number> = {
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

/** Options of {@link safetensorsOf}. */
export interface SafetensorsOptions {
  corrupt?: {
    /** Written as the 8-byte header length instead of the real one. */
    headerLength?: bigint;
    /** Replaces the JSON header text. */
    rawHeader?: string;
    /** Cut the file to this many bytes. */
    truncateTo?: number;
    /** Size of the data section instead of the tensors' extent. */
    dataBytes?: number;
  };
}

/**
 * A safetensors file. Tensors are given as [name, spec] pairs so a test can repeat a name; the
 * header is written by hand (not JSON.stringify of an object) for the same reason.
 */
export function safetensorsOf(
  tensors: readonly (readonly [string, SafetensorSpec])[],
  metadata?: Record<string, string> | null,
  options: SafetensorsOptions = {},
): Buffer {
  let cursor = 0;
  const parts: string[] = [];
  if (metadata) parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  let extent = 0;
  for (const [name, spec] of tensors) {
    const size = spec.shape.reduce((a, b) => a * b, dtypeBytes[spec.dtype] ?? 1);
    const offsets = spec.data_offsets ?? [cursor, cursor + size];
    cursor = Math.max(cursor, offsets[1]);
    extent = Math.max(extent, offsets[1]);
    parts.push(
      `${JSON.stringify(name)}:${JSON.stringify({ dtype: spec.dtype, shape: spec.shape, data_offsets: offsets })}`,
    );
  }
  let header = options.corrupt?.rawHeader ?? `{${parts.join(',')}}`;
  // The reference writer pads the header with spaces to an 8-byte boundary.
  header += ' '.repeat((8 - (Buffer.byteLength(header) % 8)) % 8);
  const headerBytes = Buffer.from(header, 'utf8');
  const dataBytes = options.corrupt?.dataBytes ?? extent;
  const data = Buffer.alloc(dataBytes);
  for (let i = 0; i < dataBytes; i++) data[i] = i % 251;
  const file = Buffer.concat([
    u64(options.corrupt?.headerLength ?? BigInt(headerBytes.length)),
    headerBytes,
    data,
  ]);
  return options.corrupt?.truncateTo !== undefined
    ? file.subarray(0, options.corrupt.truncateTo)
    : file;
}

// ---------------------------------------------------------------------------------------------
// GGUF
// ---------------------------------------------------------------------------------------------

/** A typed GGUF metadata value. */
export type GgufValue =
  | { type: 'u32'; value: number }
  | { type: 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'string[]'; value: string[] }
  | { type: 'i32[]'; value: number[] };

/** One GGUF tensor (type 0 = F32, 1 = F16, 8 = Q8_0 …). */
export interface GgufTensor {
  name: string;
  dims: number[];
  type: number;
}

/** Options of {@link ggufOf}; the overrides build broken headers. */
export interface GgufOptions {
  magic?: string;
  version?: number;
  tensorCount?: bigint;
  metadataCount?: bigint;
  metadata?: [string, GgufValue][];
  tensors?: GgufTensor[];
  truncateTo?: number;
}

/** A GGUF v2/v3 file (v1 when `version: 1`, with 32-bit counts and lengths). */
export function ggufOf(options: GgufOptions = {}): Buffer {
  const version = options.version ?? 3;
  const wide = version !== 1;
  const count = (n: number | bigint): Buffer => (wide ? u64(n) : u32(Number(n)));
  const str = (s: string): Buffer => {
    const b = Buffer.from(s, 'utf8');
    return Buffer.concat([count(b.length), b]);
  };
  const metadata = options.metadata ?? [
    ['general.architecture', { type: 'string', value: 'llama' }],
    ['general.name', { type: 'string', value: 'tiny' }],
    ['general.alignment', { type: 'u32', value: 32 }],
    ['llama.context_length', { type: 'u32', value: 2048 }],
    ['tokenizer.ggml.tokens', { type: 'string[]', value: ['<s>', '</s>', 'a'] }],
  ];
  const tensors = options.tensors ?? [
    { name: 'token_embd.weight', dims: [4, 3], type: 0 },
    { name: 'output.weight', dims: [32], type: 8 },
  ];
  const value = (v: GgufValue): Buffer => {
    switch (v.type) {
      case 'u32':
        return Buffer.concat([u32(4), u32(v.value)]);
      case 'f32': {
        const b = Buffer.alloc(4);
        b.writeFloatLE(v.value);
        return Buffer.concat([u32(6), b]);
      }
      case 'bool':
        return Buffer.concat([u32(7), u8(v.value ? 1 : 0)]);
      case 'string':
        return Buffer.concat([u32(8), str(v.value)]);
      case 'string[]':
        return Buffer.concat([u32(9), u32(8), count(v.value.length), ...v.value.map(str)]);
      case 'i32[]':
        return Buffer.concat([u32(9), u32(5), count(v.value.length), ...v.value.map(i32)]);
    }
  };
  const sizes: Record<number, (n: number) => number> = {
    0: (n) => n * 4,
    1: (n) => n * 2,
    8: (n) => (n / 32) * 34,
  };
  const infos: Buffer[] = [];
  let dataOffset = 0;
  const blobs: Buffer[] = [];
  for (const t of tensors) {
    const numel = t.dims.reduce((a, b) => a * b, 1);
    const size = (sizes[t.type] ?? ((n: number) => n))(numel);
    infos.push(
      str(t.name),
      u32(t.dims.length),
      ...t.dims.map((d) => count(d)),
      u32(t.type),
      u64(dataOffset),
    );
    const padded = Math.ceil(size / 32) * 32;
    blobs.push(Buffer.alloc(padded, 0x11));
    dataOffset += padded;
  }
  const head = Buffer.concat([
    Buffer.from(options.magic ?? 'GGUF', 'latin1'),
    u32(version),
    count(options.tensorCount ?? BigInt(tensors.length)),
    count(options.metadataCount ?? BigInt(metadata.length)),
    ...metadata.map(([k, v]) => Buffer.concat([str(k), value(v)])),
    ...infos,
  ]);
  const padding = Buffer.alloc((32 - (head.length % 32)) % 32);
  const file = Buffer.concat([head, padding, ...blobs]);
  return options.truncateTo !== undefined ? file.subarray(0, options.truncateTo) : file;
}

// ---------------------------------------------------------------------------------------------
// Sources
// ---------------------------------------------------------------------------------------------

/** A ByteSource-compatible reader over `bytes` that records every range read. */
export function countingSource(
  path: string,
  bytes: Buffer,
): {
  path: string;
  size: number;
  read(start: number, end: number): Promise<Buffer>;
  reads: [number, number][];
  bytesRead(): number;
} {
  const reads: [number, number][] = [];
  return {
    path,
    size: bytes.length,
    reads,
    read(start: number, end: number): Promise<Buffer> {
      const chunk = bytes.subarray(start, end);
      reads.push([start, start + chunk.length]);
      return Promise.resolve(chunk);
    },
    bytesRead: () => reads.reduce((n, [s, e]) => n + (e - s), 0),
  };
}
