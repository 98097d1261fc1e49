export type Severity = 'CRITICAL' | 'HIGH' | 'MEDIUM' | 'LOW' | 'INFO';

/** One thing a scanner noticed about one file (or one entry inside an archive). */
export interface Finding {
  severity: Severity;
  /** SCREAMING_SNAKE code; every code is documented in {@link findingCodes}. */
  code: string;
  message: string;
  /** File path inside the model; entries inside an archive read `<archive>!/<entry>`. */
  path: string;
  /** Byte offset in the file (or in the inflated entry) where the problem starts, when known. */
  offset: number | null;
}

/** Every finding code the scanners emit, with a one-line description for the service's docs. */
export const findingCodes = {
  PICKLE_DANGEROUS_GLOBAL:
    'The pickle imports a callable that can run code, touch files, the network or the interpreter (os.system, builtins.eval, subprocess.Popen, …).',
  PICKLE_RISKY_BUILTIN:
    'The pickle imports a builtins name that is not on the allowlist; builtins reach the interpreter directly.',
  PICKLE_UNKNOWN_GLOBAL:
    'The pickle imports a global that is not on the allowlist of tensor-rebuilding callables.',
  PICKLE_UNRESOLVED_GLOBAL:
    'STACK_GLOBAL takes its module or name from a value that is not a literal string, so the imported global cannot be known statically.',
  PICKLE_INDIRECT_CALL:
    'REDUCE/NEWOBJ/OBJ calls something other than an imported global (for example the result of another call).',
  PICKLE_EXTENSION_CODE:
    'EXT1/EXT2/EXT4 imports a global through the copyreg extension registry, which the scanner cannot resolve.',
  PICKLE_TRAILING_DATA:
    'Bytes follow the STOP opcode; they are scanned as a further pickle because loaders that read several pickles will run them.',
  PICKLE_MALFORMED:
    'The pickle is truncated, uses an unknown opcode or an impossible stack/memo operation.',
  SAFETENSORS_HEADER_TOO_LARGE: 'The declared JSON header length exceeds the header size cap.',
  SAFETENSORS_HEADER_TRUNCATED:
    'The file is shorter than the 8-byte length prefix plus the header.',
  SAFETENSORS_HEADER_NOT_JSON: 'The header is not a UTF-8 JSON object.',
  SAFETENSORS_DUPLICATE_TENSOR:
    'A tensor name appears twice in the header; parsers disagree on which entry wins.',
  SAFETENSORS_INVALID_METADATA: '__metadata__ is not an object mapping strings to strings.',
  SAFETENSORS_INVALID_TENSOR:
    'A tensor entry is not an object with dtype, shape (non-negative integers) and data_offsets.',
  SAFETENSORS_BAD_DTYPE: 'A tensor declares a dtype the safetensors format does not define.',
  SAFETENSORS_OFFSETS_OUT_OF_BOUNDS:
    'A tensor data_offsets pair is reversed or points past the end of the data section.',
  SAFETENSORS_SIZE_MISMATCH: 'A tensor byte range does not equal product(shape) × dtype size.',
  SAFETENSORS_OVERLAPPING_OFFSETS: 'Two tensors share bytes of the data section.',
  SAFETENSORS_UNUSED_BYTES:
    'Parts of the data section belong to no tensor (room for hidden content).',
  ZIP_MALFORMED:
    'The zip directory or a local header is missing, inconsistent or points outside the file.',
  ZIP_PATH_TRAVERSAL:
    'An entry name is absolute or contains "..", a backslash or NUL, so extracting it could escape the target directory.',
  ZIP_TOO_MANY_ENTRIES: 'The archive has more entries than the scanner accepts.',
  ZIP_BOMB:
    'An entry (or the archive) declares far more uncompressed bytes than it stores, or inflates past its declared size.',
  ZIP_OVERLAPPING_ENTRIES:
    'Two entries share compressed bytes, a zip-bomb and parser-confusion technique.',
  ZIP_DUPLICATE_ENTRY: 'Two entries have the same name; readers disagree on which one they return.',
  ZIP_ENCRYPTED: 'An entry is encrypted and cannot be inspected.',
  ZIP_CRC_MISMATCH:
    'The CRC-32 of an inflated entry differs from the directory; readers may reject or accept it.',
  ZIP_UNSUPPORTED_METHOD:
    'An entry uses a compression method other than stored or deflate and was not inspected.',
  ZIP_NESTED: 'A zip is nested deeper than the scanner follows; its content was not inspected.',
  GGUF_BAD_MAGIC: 'The file does not start with the GGUF magic bytes.',
  GGUF_UNSUPPORTED_VERSION: 'The GGUF version is not 1, 2 or 3.',
  GGUF_IMPLAUSIBLE_COUNTS: 'The tensor or metadata counts are beyond sane limits.',
  GGUF_TRUNCATED: 'The GGUF header, metadata or tensor table runs past the end of the file.',
  GGUF_MALFORMED:
    'A GGUF metadata value or tensor entry is invalid (unknown type, too many dimensions, bad offset).',
  GGUF_SUSPICIOUS_CHAT_TEMPLATE:
    'tokenizer.chat_template reaches Python internals (dunder attributes, imports); Jinja template injection runs code in some runtimes.',
  FORMAT_MISMATCH: 'The file extension names one format but the content is another.',
  FORMAT_NOT_SCANNED:
    'The format is recognised but its content is not inspected by these scanners.',
  SCAN_LIMIT_EXCEEDED:
    'A size, opcode, time or count cap was reached, so part of the file was not inspected.',
} as const satisfies Record<string, string>;

export type FindingCode = keyof typeof findingCodes;

/**
 * Makes text from an untrusted file safe to store and show: control characters (NUL breaks
 * PostgreSQL text columns) become `\xNN`, and long strings are cut.
 */
export function printable(text: string, max = 200): string {
  const clipped = text.length > max ? `${text.slice(0, max)}…` : text;
  let out = '';
  for (const c of clipped) {
    const code = c.charCodeAt(0);
    out += code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, '0')}` : c;
  }
  return out;
}

/** Builds a finding; the code is typed so a typo cannot reach the service. */
export function finding(
  severity: Severity,
  code: FindingCode,
  message: string,
  path: string,
  offset: number | null = null,
): Finding {
  return { severity, code, message, path: printable(path, 1000), offset };
}

const severityRank: Record<Severity, number> = { CRITICAL: 4, HIGH: 3, MEDIUM: 2, LOW: 1, INFO: 0 };

/** True when `a` is at least as severe as `b`. */
export function atLeast(a: Severity, b: Severity): boolean {
  return severityRank[a] >= severityRank[b];
}
