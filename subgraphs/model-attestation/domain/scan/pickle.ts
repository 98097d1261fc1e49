import { finding, printable, type Finding, type FindingCode, type Severity } from './findings.ts';

/** Options of {@link scanPickle}. */
export interface PickleScanOptions {
  /** Opcode budget over all concatenated pickles (default 10 million). */
  maxOps?: number;
  /** Added to every reported offset, for pickles that are part of a larger file or entry. */
  baseOffset?: number;
  /** Epoch milliseconds after which the walk stops with SCAN_LIMIT_EXCEEDED. */
  deadline?: number;
  /** Findings kept per scan (default 1,000); one more finding says the list was cut. */
  maxFindings?: number;
}

/** What {@link scanPickle} found: findings plus every distinct global the pickle imports. */
export interface PickleScanResult {
  findings: Finding[];
  /** `module.name` as written in the pickle, in order of first import. */
  globals: string[];
}

/** How one imported global is judged; null means allowlisted. */
export interface GlobalVerdict {
  severity: Severity;
  code: Extract<
    FindingCode,
    'PICKLE_DANGEROUS_GLOBAL' | 'PICKLE_RISKY_BUILTIN' | 'PICKLE_UNKNOWN_GLOBAL'
  >;
  reason: string;
}

// Python 2 module names that Python 3's unpickler maps (fix_imports) for protocol 0–2 pickles,
// restricted to those that matter for the denylist: `__builtin__.eval` must judge like
// `builtins.eval`, `commands.getoutput` like `subprocess.getoutput`.
const py2Modules: Record<string, string> = {
  __builtin__: 'builtins',
  exceptions: 'builtins',
  copy_reg: 'copyreg',
  cPickle: 'pickle',
  commands: 'subprocess',
  urllib2: 'urllib.request',
  urlparse: 'urllib.parse',
  robotparser: 'urllib.robotparser',
  httplib: 'http.client',
  cookielib: 'http.cookiejar',
  Cookie: 'http.cookies',
  BaseHTTPServer: 'http.server',
  SimpleHTTPServer: 'http.server',
  CGIHTTPServer: 'http.server',
  SocketServer: 'socketserver',
  xmlrpclib: 'xmlrpc.client',
  thread: '_thread',
  dummy_thread: '_dummy_thread',
};

// Dotted prefixes: a global is dangerous when `module.name` equals one or lies beneath it, so
// `os` covers `os.system` and `os.path.join`, and `torch.hub` covers `torch.hub.load`.
const dangerousPrefixes = [
  // processes, OS and interpreter access
  'os',
  'posix',
  'nt',
  'posixpath',
  'ntpath',
  'subprocess',
  '_posixsubprocess',
  'sys',
  'pty',
  'signal',
  'ctypes',
  '_ctypes',
  'code',
  'codeop',
  'runpy',
  'importlib',
  'imp',
  'pkgutil',
  'zipimport',
  'marshal',
  'shutil',
  'webbrowser',
  'pdb',
  'bdb',
  'trace',
  'profile',
  'cProfile',
  'timeit',
  'doctest',
  'pydoc',
  'site',
  'ensurepip',
  'pip',
  'venv',
  'setuptools',
  'distutils',
  // nested deserialisers
  'pickle',
  '_pickle',
  'dill',
  'cloudpickle',
  'joblib.load',
  'torch.load',
  'torch.serialization.load',
  'torch.storage._load_from_bytes',
  'torch.jit.load',
  'torch.hub',
  'torch.utils.cpp_extension',
  'numpy.load',
  'numpy.lib.npyio.load',
  'numpy.testing',
  // network and concurrency
  'socket',
  '_socket',
  'ssl',
  'requests',
  'urllib',
  'urllib3',
  'http',
  'ftplib',
  'smtplib',
  'telnetlib',
  'socketserver',
  'xmlrpc',
  'asyncio',
  'multiprocessing',
  'threading',
  '_thread',
  // files and code objects
  'io.open',
  '_io.open',
  'io.FileIO',
  '_io.FileIO',
  'codecs.open',
  'types.FunctionType',
  'types.CodeType',
  // call and attribute gadgets
  'builtins.eval',
  'builtins.exec',
  'builtins.compile',
  'builtins.open',
  'builtins.getattr',
  'builtins.setattr',
  'builtins.delattr',
  'builtins.__import__',
  'builtins.globals',
  'builtins.locals',
  'builtins.vars',
  'builtins.input',
  'builtins.breakpoint',
  'builtins.apply',
  'builtins.execfile',
  'builtins.file',
  'builtins.reload',
  'functools.partial',
  'operator.attrgetter',
  'operator.itemgetter',
  'operator.methodcaller',
];
const dangerousSet = new Set(dangerousPrefixes);

const torchDtypes = [
  'float32',
  'float',
  'float64',
  'double',
  'float16',
  'half',
  'bfloat16',
  'complex32',
  'complex64',
  'cfloat',
  'complex128',
  'cdouble',
  'uint8',
  'int8',
  'int16',
  'short',
  'int32',
  'int',
  'int64',
  'long',
  'uint16',
  'uint32',
  'uint64',
  'bool',
  'float8_e4m3fn',
  'float8_e5m2',
  'float8_e4m3fnuz',
  'float8_e5m2fnuz',
  'qint8',
  'quint8',
  'qint32',
];

const allowedGlobals = new Set<string>([
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_tensor_v3',
  'torch._utils._rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state',
  'torch._tensor._rebuild_from_type_v2',
  'torch.device',
  'torch.Size',
  ...torchDtypes.map((d) => `torch.${d}`),
  'collections.OrderedDict',
  'numpy.core.multiarray._reconstruct',
  'numpy._core.multiarray._reconstruct',
  'numpy.core.multiarray.scalar',
  'numpy.core.numeric._frombuffer',
  'numpy._core.numeric._frombuffer',
  'numpy._core.multiarray.scalar',
  'numpy.ndarray',
  'numpy.dtype',
  // numpy pickles byte buffers at protocol 2 as _codecs.encode(text, 'latin1'): pure data.
  '_codecs.encode',
  'builtins.set',
  'builtins.frozenset',
  'builtins.slice',
  'builtins.complex',
  'builtins.bytearray',
]);

// `torch.FloatStorage`, `torch.cuda.HalfStorage`, `torch.storage.UntypedStorage`, …
const torchStorage = /^torch\.(?:cuda\.|storage\.)?[A-Z][A-Za-z0-9]*Storage$/;

// copyreg helpers are dunder-named but only instantiate a class; judge them as unknown.
const benignDunders = new Set(['copyreg.__newobj__', 'copyreg.__newobj_ex__']);

function underDangerous(dotted: string): string | null {
  const parts = dotted.split('.');
  for (let n = 1; n <= parts.length; n++) {
    const prefix = parts.slice(0, n).join('.');
    if (dangerousSet.has(prefix)) return prefix;
  }
  return null;
}

/** Normalises `module` the way Python 3's unpickler does for Python 2 pickles. */
function normaliseModule(module: string): string {
  const top = module.split('.')[0] ?? module;
  const mapped = py2Modules[module] ?? py2Modules[top];
  if (mapped === undefined) return module;
  return py2Modules[module] !== undefined ? mapped : mapped + module.slice(top.length);
}

/**
 * Judges one imported global. Returns null for allowlisted tensor-rebuilding callables; otherwise
 * the finding it deserves: denylisted → CRITICAL, other builtins → HIGH, anything else → MEDIUM.
 */
export function judgeGlobal(module: string, name: string): GlobalVerdict | null {
  const full = `${normaliseModule(module)}.${name}`;
  const hit = underDangerous(full);
  if (hit !== null) {
    return {
      severity: 'CRITICAL',
      code: 'PICKLE_DANGEROUS_GLOBAL',
      reason: `${hit} can run code or reach the system`,
    };
  }
  // Protocol 4 names may be dotted; the unpickler walks them with getattr, so `torch` +
  // `_utils.os.system` or `x` + `f.__globals__` reach what the module name hides.
  const nameParts = name.split('.');
  if (
    !benignDunders.has(full) &&
    nameParts.some((p) => p.length > 4 && p.startsWith('__') && p.endsWith('__'))
  ) {
    return {
      severity: 'CRITICAL',
      code: 'PICKLE_DANGEROUS_GLOBAL',
      reason: 'the name walks dunder attributes, a sandbox-escape gadget',
    };
  }
  // Only suffixes of two or more segments: a lone trailing `code` or `sys` is an attribute
  // name, not a module reached through one.
  for (let i = 0; i < nameParts.length - 1; i++) {
    const inner = underDangerous(nameParts.slice(i).join('.'));
    if (inner !== null) {
      return {
        severity: 'CRITICAL',
        code: 'PICKLE_DANGEROUS_GLOBAL',
        reason: `the name reaches ${inner} through attribute traversal`,
      };
    }
  }
  if (allowedGlobals.has(full) || torchStorage.test(full)) return null;
  if (full.startsWith('builtins.')) {
    return {
      severity: 'HIGH',
      code: 'PICKLE_RISKY_BUILTIN',
      reason: 'builtins outside the allowlist reach the interpreter directly',
    };
  }
  return {
    severity: 'MEDIUM',
    code: 'PICKLE_UNKNOWN_GLOBAL',
    reason: 'not on the allowlist',
  };
}

// Symbolic stack values: only what matters for resolving globals is tracked.
type Sym =
  | { readonly k: 'str'; readonly v: string | null } // null: too long to keep, never a module name
  | { readonly k: 'global'; readonly name: string | null }
  | { readonly k: 'ext' }
  | { readonly k: 'other' }
  | { readonly k: 'missing' }; // stood in for a value the stack did not have

const OTHER: Sym = { k: 'other' };
const MISSING: Sym = { k: 'missing' };
const MAX_KEPT_STRING = 4096;
// Memory bounds for the symbolic state: a few entries per tensor in real checkpoints, while a
// hostile pickle could MEMOIZE or MARK on every opcode of its budget.
const MAX_MEMO = 2_000_000;
const MAX_STACK = 5_000_000;
const MAX_MARKS = 100_000;

class Malformed extends Error {
  constructor(
    message: string,
    readonly at: number,
  ) {
    super(message);
  }
}

class LimitReached extends Error {}

// Opcodes (pickletools names).
const Op = {
  MARK: 0x28,
  STOP: 0x2e,
  POP: 0x30,
  POP_MARK: 0x31,
  DUP: 0x32,
  FLOAT: 0x46,
  INT: 0x49,
  BININT: 0x4a,
  BININT1: 0x4b,
  LONG: 0x4c,
  BININT2: 0x4d,
  NONE: 0x4e,
  PERSID: 0x50,
  BINPERSID: 0x51,
  REDUCE: 0x52,
  STRING: 0x53,
  BINSTRING: 0x54,
  SHORT_BINSTRING: 0x55,
  UNICODE: 0x56,
  BINUNICODE: 0x58,
  APPEND: 0x61,
  BUILD: 0x62,
  GLOBAL: 0x63,
  DICT: 0x64,
  EMPTY_DICT: 0x7d,
  APPENDS: 0x65,
  GET: 0x67,
  BINGET: 0x68,
  INST: 0x69,
  LONG_BINGET: 0x6a,
  LIST: 0x6c,
  EMPTY_LIST: 0x5d,
  OBJ: 0x6f,
  PUT: 0x70,
  BINPUT: 0x71,
  LONG_BINPUT: 0x72,
  SETITEM: 0x73,
  TUPLE: 0x74,
  EMPTY_TUPLE: 0x29,
  SETITEMS: 0x75,
  BINFLOAT: 0x47,
  BINBYTES: 0x42,
  SHORT_BINBYTES: 0x43,
  PROTO: 0x80,
  NEWOBJ: 0x81,
  EXT1: 0x82,
  EXT2: 0x83,
  EXT4: 0x84,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  LONG1: 0x8a,
  LONG4: 0x8b,
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE8: 0x8d,
  BINBYTES8: 0x8e,
  EMPTY_SET: 0x8f,
  ADDITEMS: 0x90,
  FROZENSET: 0x91,
  NEWOBJ_EX: 0x92,
  STACK_GLOBAL: 0x93,
  MEMOIZE: 0x94,
  FRAME: 0x95,
  BYTEARRAY8: 0x96,
  NEXT_BUFFER: 0x97,
  READONLY_BUFFER: 0x98,
} as const;

const HIGHEST_PROTOCOL = 5;

/** Python's `int(text)` for memo indices: whitespace, sign, digits with single underscores. */
function parsePyInt(text: string): number | null {
  const m = /^[ \t\n\r\f\v]*([+-]?)(\d(?:_?\d)*)[ \t\n\r\f\v]*$/.exec(text);
  if (m === null) return null;
  const value = Number((m[1] ?? '') + (m[2] ?? '').replace(/_/g, ''));
  return Number.isSafeInteger(value) ? value : null;
}

/** `codecs.escape_decode`, as protocol 0 STRING arguments are decoded. */
function escapeDecode(raw: Buffer): string | null {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c !== 0x5c) {
      out += String.fromCharCode(c);
      continue;
    }
    i++;
    if (i >= raw.length) return null; // trailing backslash: ValueError in Python
    const e = String.fromCharCode(raw[i]!);
    const simple: Record<string, string> = {
      '\\': '\\',
      "'": "'",
      '"': '"',
      a: '\x07',
      b: '\b',
      f: '\f',
      n: '\n',
      r: '\r',
      t: '\t',
      v: '\v',
      '\n': '',
    };
    if (simple[e] !== undefined) {
      out += simple[e];
    } else if (e >= '0' && e <= '7') {
      let digits = e;
      while (
        digits.length < 3 &&
        i + 1 < raw.length &&
        /[0-7]/.test(String.fromCharCode(raw[i + 1]!))
      ) {
        digits += String.fromCharCode(raw[++i]!);
      }
      out += String.fromCharCode(parseInt(digits, 8) & 0xff);
    } else if (e === 'x') {
      const hex = raw.toString('latin1', i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) return null;
      out += String.fromCharCode(parseInt(hex, 16));
      i += 2;
    } else {
      out += '\\' + e;
    }
  }
  return out;
}

/** `raw-unicode-escape` decoding, as protocol 0 UNICODE arguments are decoded. */
function rawUnicodeEscapeDecode(raw: Buffer): string | null {
  let out = '';
  let i = 0;
  while (i < raw.length) {
    const c = raw[i]!;
    if (c !== 0x5c) {
      out += String.fromCharCode(c);
      i++;
      continue;
    }
    let run = 0;
    while (i + run < raw.length && raw[i + run] === 0x5c) run++;
    const next = raw[i + run];
    if (run % 2 === 1 && (next === 0x75 || next === 0x55)) {
      out += '\\'.repeat(run - 1);
      const width = next === 0x75 ? 4 : 8;
      const hex = raw.toString('latin1', i + run + 1, i + run + 1 + width);
      if (hex.length !== width || !/^[0-9a-fA-F]+$/.test(hex)) return null;
      const code = parseInt(hex, 16);
      if (code > 0x10ffff) return null;
      out += String.fromCodePoint(code);
      i += run + 1 + width;
    } else {
      out += '\\'.repeat(run);
      i += run;
    }
  }
  return out;
}

interface ScanState {
  readonly bytes: Buffer;
  readonly path: string;
  readonly base: number;
  readonly maxOps: number;
  readonly deadline: number;
  readonly maxFindings: number;
  readonly findings: Finding[];
  readonly globals: Set<string>;
  readonly reported: Set<string>;
  ops: number;
  truncatedFindings: boolean;
}

function report(
  s: ScanState,
  severity: Severity,
  code: FindingCode,
  message: string,
  at: number | null,
  dedupeKey?: string,
): void {
  if (dedupeKey !== undefined) {
    const key = `${code}\u0000${dedupeKey}`;
    if (s.reported.has(key)) return;
    s.reported.add(key);
  }
  if (s.findings.length >= s.maxFindings) {
    if (!s.truncatedFindings) {
      s.truncatedFindings = true;
      s.findings.push(
        finding(
          'INFO',
          'SCAN_LIMIT_EXCEEDED',
          `more than ${s.maxFindings} findings; the rest are not listed`,
          s.path,
          null,
        ),
      );
    }
    return;
  }
  s.findings.push(finding(severity, code, message, s.path, at === null ? null : s.base + at));
}

function recordGlobal(s: ScanState, module: string, name: string, at: number, via: string): void {
  const written = `${module}.${name}`;
  s.globals.add(printable(written, 500));
  const verdict = judgeGlobal(module, name);
  if (verdict === null) return;
  const normalised = `${normaliseModule(module)}.${name}`;
  const shown = printable(written) + (normalised !== written ? ` (${printable(normalised)})` : '');
  const what =
    verdict.code === 'PICKLE_DANGEROUS_GLOBAL'
      ? 'dangerous global'
      : verdict.code === 'PICKLE_RISKY_BUILTIN'
        ? 'builtin'
        : 'global';
  report(
    s,
    verdict.severity,
    verdict.code,
    `pickle imports ${what} ${shown} via ${via}: ${verdict.reason}`,
    at,
    written,
  );
}

/**
 * Walks one pickle starting at `start`. Returns the offset after its STOP, or null when the walk
 * cannot go on (malformed bytes, limits).
 */
function walkOne(s: ScanState, start: number): number | null {
  const b = s.bytes;
  let pos = start;
  let opStart = start;
  let stack: Sym[] = [];
  const metastack: Sym[][] = [];
  const memo = new Map<number, Sym>();
  let stackErrorReported = false;

  // Stack errors make CPython abort, but the model may differ from the real unpickler in corner
  // cases, so they are reported once and the walk goes on with placeholders: staying
  // conservative beats stopping early.
  const stackError = (message: string): void => {
    if (stackErrorReported) return;
    stackErrorReported = true;
    report(s, 'HIGH', 'PICKLE_MALFORMED', `malformed pickle: ${message}`, opStart);
  };
  const need = (n: number): void => {
    if (n > b.length - pos) throw new Malformed('pickle data is truncated', opStart);
  };
  const u8 = (): number => {
    need(1);
    return b[pos++]!;
  };
  const u16 = (): number => {
    need(2);
    const v = b.readUInt16LE(pos);
    pos += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = b.readUInt32LE(pos);
    pos += 4;
    return v;
  };
  const i32 = (): number => {
    need(4);
    const v = b.readInt32LE(pos);
    pos += 4;
    return v;
  };
  const u64 = (): number => {
    need(8);
    const v = b.readBigUInt64LE(pos);
    pos += 8;
    // Anything past MAX_SAFE_INTEGER cannot fit in the buffer anyway.
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  };
  const take = (n: number): Buffer => {
    if (n < 0) throw new Malformed('negative length argument', opStart);
    need(n);
    const out = b.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  const line = (): Buffer => {
    const nl = b.indexOf(0x0a, pos);
    if (nl < 0) throw new Malformed('pickle data is truncated (no newline)', opStart);
    const out = b.subarray(pos, nl);
    pos = nl + 1;
    return out;
  };
  const strSym = (text: string | null, length: number): Sym => ({
    k: 'str',
    v: length > MAX_KEPT_STRING ? null : text,
  });
  const utf8 = (raw: Buffer): Sym =>
    strSym(raw.length > MAX_KEPT_STRING ? null : raw.toString('utf8'), raw.length);
  const latin1 = (raw: Buffer): Sym =>
    strSym(raw.length > MAX_KEPT_STRING ? null : raw.toString('latin1'), raw.length);

  const limit = (what: string): never => {
    report(
      s,
      'HIGH',
      'SCAN_LIMIT_EXCEEDED',
      `${what}; the rest of the pickle was not inspected`,
      opStart,
    );
    throw new LimitReached();
  };
  const push = (v: Sym): void => {
    if (stack.length >= MAX_STACK) limit(`stack deeper than ${MAX_STACK}`);
    stack.push(v);
  };
  const pop = (): Sym => {
    const v = stack.pop();
    if (v === undefined) {
      stackError('stack underflow');
      return MISSING;
    }
    return v;
  };
  const top = (): Sym => {
    const v = stack[stack.length - 1];
    if (v === undefined) {
      stackError('stack underflow');
      return MISSING;
    }
    return v;
  };
  const popMark = (): Sym[] => {
    const items = stack;
    const outer = metastack.pop();
    if (outer === undefined) {
      stackError('could not find MARK');
      stack = [];
      return items;
    }
    stack = outer;
    return items;
  };
  const checkCallable = (callable: Sym, opcode: string): void => {
    if (callable.k === 'str' || callable.k === 'other') {
      report(
        s,
        'MEDIUM',
        'PICKLE_INDIRECT_CALL',
        `${opcode} calls a value that is not an imported global`,
        opStart,
        `indirect:${opcode}`,
      );
    }
  };
  const memoPut = (index: number | null): void => {
    if (index === null || index < 0) throw new Malformed('invalid memo index', opStart);
    if (memo.size >= MAX_MEMO && !memo.has(index)) limit(`memo larger than ${MAX_MEMO} entries`);
    memo.set(index, top());
  };
  const memoGet = (index: number | null): void => {
    const v = index === null ? undefined : memo.get(index);
    if (v === undefined) {
      stackError(`memo value ${index ?? '?'} not found`);
      push(MISSING);
      return;
    }
    push(v);
  };

  try {
    for (;;) {
      if (pos >= b.length) throw new Malformed('pickle ends without STOP', pos);
      opStart = pos;
      s.ops++;
      if (s.ops > s.maxOps) limit(`stopped after ${s.maxOps} opcodes`);
      if ((s.ops & 0xffff) === 1 && Date.now() >= s.deadline) limit('scan deadline passed');
      const code = b[pos++]!;
      switch (code) {
        case Op.PROTO: {
          const proto = u8();
          if (proto > HIGHEST_PROTOCOL) {
            throw new Malformed(`unsupported pickle protocol ${proto}`, opStart);
          }
          break;
        }
        case Op.FRAME: {
          const length = u64();
          // The C unpickler refuses a frame longer than the data, but the pure-Python one runs
          // the opcodes it has first, so the frame's content is still walked.
          if (length > b.length - pos) stackError('frame extends past the end of the data');
          break;
        }
        case Op.STOP:
          pop();
          return pos;

        // Integers, floats, constants.
        case Op.INT:
        case Op.LONG:
        case Op.FLOAT:
          line();
          push(OTHER);
          break;
        case Op.BININT:
          take(4);
          push(OTHER);
          break;
        case Op.BININT1:
          take(1);
          push(OTHER);
          break;
        case Op.BININT2:
          take(2);
          push(OTHER);
          break;
        case Op.LONG1:
          take(u8());
          push(OTHER);
          break;
        case Op.LONG4:
          take(i32());
          push(OTHER);
          break;
        case Op.BINFLOAT:
          take(8);
          push(OTHER);
          break;
        case Op.NONE:
        case Op.NEWTRUE:
        case Op.NEWFALSE:
          push(OTHER);
          break;

        // Strings and bytes. Python 3 decodes the protocol 0–2 string opcodes to str (ASCII by
        // default), and bytes are treated as strings too: judging a name STACK_GLOBAL would
        // reject is the conservative choice.
        case Op.STRING: {
          const raw = line();
          const first = raw[0];
          const quoted =
            raw.length >= 2 && first === raw[raw.length - 1] && (first === 0x22 || first === 0x27);
          if (!quoted) throw new Malformed('STRING argument must be quoted', opStart);
          const decoded = escapeDecode(raw.subarray(1, raw.length - 1));
          if (decoded === null) throw new Malformed('invalid STRING escape', opStart);
          push(strSym(decoded, decoded.length));
          break;
        }
        case Op.UNICODE: {
          const raw = line();
          const decoded = rawUnicodeEscapeDecode(raw);
          if (decoded === null) throw new Malformed('invalid UNICODE escape', opStart);
          push(strSym(decoded, decoded.length));
          break;
        }
        case Op.BINSTRING:
          push(latin1(take(i32())));
          break;
        case Op.SHORT_BINSTRING:
          push(latin1(take(u8())));
          break;
        case Op.BINBYTES:
          push(latin1(take(u32())));
          break;
        case Op.SHORT_BINBYTES:
          push(latin1(take(u8())));
          break;
        case Op.BINBYTES8:
        case Op.BYTEARRAY8:
          push(latin1(take(u64())));
          break;
        case Op.SHORT_BINUNICODE:
          push(utf8(take(u8())));
          break;
        case Op.BINUNICODE:
          push(utf8(take(u32())));
          break;
        case Op.BINUNICODE8:
          push(utf8(take(u64())));
          break;
        case Op.NEXT_BUFFER:
          push(OTHER);
          break;
        case Op.READONLY_BUFFER:
          top();
          break;

        // Containers.
        case Op.EMPTY_LIST:
        case Op.EMPTY_TUPLE:
        case Op.EMPTY_DICT:
        case Op.EMPTY_SET:
          push(OTHER);
          break;
        case Op.MARK:
          if (metastack.length >= MAX_MARKS) limit(`MARKs nested deeper than ${MAX_MARKS}`);
          metastack.push(stack);
          stack = [];
          break;
        case Op.POP:
          if (stack.length > 0) stack.pop();
          else popMark();
          break;
        case Op.POP_MARK:
          popMark();
          break;
        case Op.DUP:
          push(top());
          break;
        case Op.TUPLE:
        case Op.LIST:
        case Op.DICT:
        case Op.FROZENSET:
          popMark();
          push(OTHER);
          break;
        case Op.TUPLE1:
          pop();
          push(OTHER);
          break;
        case Op.TUPLE2:
          pop();
          pop();
          push(OTHER);
          break;
        case Op.TUPLE3:
          pop();
          pop();
          pop();
          push(OTHER);
          break;
        case Op.APPEND:
          pop();
          top();
          break;
        case Op.APPENDS:
        case Op.SETITEMS:
        case Op.ADDITEMS:
          popMark();
          top();
          break;
        case Op.SETITEM:
          pop();
          pop();
          top();
          break;

        // Memo.
        case Op.PUT:
          memoPut(parsePyInt(line().toString('latin1')));
          break;
        case Op.BINPUT:
          memoPut(u8());
          break;
        case Op.LONG_BINPUT:
          memoPut(u32());
          break;
        case Op.MEMOIZE:
          memoPut(memo.size);
          break;
        case Op.GET:
          memoGet(parsePyInt(line().toString('latin1')));
          break;
        case Op.BINGET:
          memoGet(u8());
          break;
        case Op.LONG_BINGET:
          memoGet(u32());
          break;

        // Imports and calls.
        case Op.GLOBAL:
        case Op.INST: {
          const module = line().toString('utf8');
          const name = line().toString('utf8');
          const opName = code === Op.GLOBAL ? 'GLOBAL' : 'INST';
          recordGlobal(s, module, name, opStart, opName);
          if (code === Op.GLOBAL) {
            push({ k: 'global', name: `${module}.${name}` });
          } else {
            popMark();
            push(OTHER);
          }
          break;
        }
        case Op.STACK_GLOBAL: {
          const name = pop();
          const module = pop();
          if (module.k === 'str' && name.k === 'str' && module.v !== null && name.v !== null) {
            recordGlobal(s, module.v, name.v, opStart, 'STACK_GLOBAL');
            push({ k: 'global', name: `${module.v}.${name.v}` });
          } else {
            const which = module.k === 'str' && module.v !== null ? 'name' : 'module';
            report(
              s,
              'HIGH',
              'PICKLE_UNRESOLVED_GLOBAL',
              `STACK_GLOBAL ${which} is not a literal string; the imported global cannot be determined`,
              opStart,
            );
            push({ k: 'global', name: null });
          }
          break;
        }
        case Op.EXT1:
        case Op.EXT2:
        case Op.EXT4: {
          const ext = code === Op.EXT1 ? u8() : code === Op.EXT2 ? u16() : i32();
          if (ext <= 0) throw new Malformed('EXT code must be positive', opStart);
          report(
            s,
            'HIGH',
            'PICKLE_EXTENSION_CODE',
            `pickle imports extension code ${ext} from the copyreg registry; the global cannot be determined`,
            opStart,
          );
          push({ k: 'ext' });
          break;
        }
        case Op.REDUCE: {
          pop();
          checkCallable(pop(), 'REDUCE');
          push(OTHER);
          break;
        }
        case Op.BUILD:
          pop();
          top();
          break;
        case Op.NEWOBJ:
          pop();
          checkCallable(pop(), 'NEWOBJ');
          push(OTHER);
          break;
        case Op.NEWOBJ_EX:
          pop();
          pop();
          checkCallable(pop(), 'NEWOBJ_EX');
          push(OTHER);
          break;
        case Op.OBJ: {
          const items = popMark();
          const cls = items[0];
          if (cls === undefined) stackError('OBJ without a class');
          else checkCallable(cls, 'OBJ');
          push(OTHER);
          break;
        }
        // Torch checkpoints reference their storages this way; what persistent_load returns is
        // up to the loader, not the pickle.
        case Op.PERSID:
          line();
          push(OTHER);
          break;
        case Op.BINPERSID:
          pop();
          push(OTHER);
          break;
        default:
          throw new Malformed(`unknown opcode 0x${code.toString(16).padStart(2, '0')}`, opStart);
      }
    }
  } catch (e) {
    if (e instanceof Malformed) {
      report(s, 'HIGH', 'PICKLE_MALFORMED', `malformed pickle: ${e.message}`, e.at);
      return null;
    }
    if (e instanceof LimitReached) return null;
    throw e;
  }
}

/**
 * Statically walks pickle bytes (protocols 0–5) opcode by opcode and reports the globals they
 * import and the tricks they use. Nothing is executed or imported. Bytes after STOP are walked
 * as further pickles, since loaders that read a stream of pickles run them too.
 */
export function scanPickle(
  bytes: Buffer,
  path: string,
  options: PickleScanOptions = {},
): PickleScanResult {
  const s: ScanState = {
    bytes,
    path,
    base: options.baseOffset ?? 0,
    maxOps: options.maxOps ?? 10_000_000,
    deadline: options.deadline ?? Number.POSITIVE_INFINITY,
    maxFindings: options.maxFindings ?? 1000,
    findings: [],
    globals: new Set(),
    reported: new Set(),
    ops: 0,
    truncatedFindings: false,
  };
  if (bytes.length === 0) {
    report(s, 'HIGH', 'PICKLE_MALFORMED', 'malformed pickle: empty data', 0);
  }
  let start = 0;
  while (start < bytes.length) {
    if (start > 0) {
      report(
        s,
        'MEDIUM',
        'PICKLE_TRAILING_DATA',
        `${bytes.length - start} bytes follow STOP; scanning them as another pickle`,
        start,
      );
    }
    const end = walkOne(s, start);
    if (end === null) break;
    start = end;
  }
  return { findings: s.findings, globals: [...s.globals] };
}
