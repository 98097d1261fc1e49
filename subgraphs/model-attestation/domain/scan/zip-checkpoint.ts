import { constants as zlibConstants, crc32, inflateRawSync } from 'node:zlib';
import { bufferSource, readExact, type ByteSource } from './byte-source.ts';
import { finding, printable, type Finding } from './findings.ts';
import { scanPickle } from './pickle.ts';

/** Options of {@link scanZipCheckpoint}. */
export interface ZipScanOptions {
  /** Entries read from the central directory (default 100,000). */
  maxEntries?: number;
  /** Total declared uncompressed bytes over all entries before the archive is a bomb (default 1 TiB). */
  maxUncompressedBytes?: number;
  /** Uncompressed/compressed ratio above which a deflated entry is a bomb (default 200). */
  maxRatio?: number;
  /** Largest pickle or nested zip entry inflated and inspected (default 256 MiB). */
  maxEntryBytes?: number;
  /** Opcode budget per pickle entry (default: scanPickle's). */
  maxOps?: number;
  /** Epoch milliseconds after which the scan stops with SCAN_LIMIT_EXCEEDED. */
  deadline?: number;
}

interface Limits {
  maxEntries: number;
  maxUncompressedBytes: number;
  maxRatio: number;
  maxEntryBytes: number;
  maxOps: number | undefined;
  deadline: number;
}

interface Entry {
  name: string;
  rawName: Buffer;
  flags: number;
  method: number;
  crc: number;
  compressedSize: number;
  uncompressedSize: number;
  localOffset: number;
}

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
const MAX_DIRECTORY_BYTES = 128 * 1024 * 1024;
// Deflate cannot amplify a small entry into a problem; ratios are judged from 1 MiB up so small
// zero-filled files do not read as bombs.
const RATIO_FLOOR = 1024 * 1024;
// Enough after the local header for the torch alignment padding and a content sniff.
const SNIFF_BYTES = 512;
// Nested archives are followed this many levels; deeper ones are reported, not opened.
const MAX_DEPTH = 1;

function u64(buf: Buffer, at: number): number {
  const v = buf.readBigUInt64LE(at);
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}

function unsafeName(raw: Buffer, name: string): string | null {
  if (raw.includes(0)) return 'contains NUL';
  if (name.includes('\\')) return 'contains a backslash';
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return 'is an absolute path';
  if (name.split('/').includes('..')) return 'has a ".." segment';
  return null;
}

function looksLikePickle(head: Buffer): boolean {
  const proto = head[1];
  return head[0] === 0x80 && proto !== undefined && proto >= 2 && proto <= 5;
}

function looksLikeZip(head: Buffer): boolean {
  return head.length >= 4 && head.readUInt32LE(0) === LOCAL_SIG;
}

interface Directory {
  entries: Entry[];
  /** Where entry data must end: the start of the central directory. */
  dataLimit: number;
}

/** Finds and parses the end records and the central directory; null when unusable (reported). */
async function readDirectory(
  source: ByteSource,
  limits: Limits,
  findings: Finding[],
): Promise<Directory | null> {
  const path = source.path;
  const malformed = (message: string, offset: number | null = null): null => {
    findings.push(finding('HIGH', 'ZIP_MALFORMED', `malformed zip: ${message}`, path, offset));
    return null;
  };
  if (source.size < EOCD_SIZE) return malformed('too small to hold an end of central directory');
  const tailStart = Math.max(0, source.size - (EOCD_SIZE + MAX_COMMENT));
  const tail = await readExact(source, tailStart, source.size);
  if (tail === null) return malformed('could not read the end of the file');

  // Like Python's zipfile: the record without a comment first, then the last signature whose
  // comment fits in the file.
  let at = -1;
  const last = tail.length - EOCD_SIZE;
  if (tail.readUInt32LE(last) === EOCD_SIG && tail.readUInt16LE(last + 20) === 0) {
    at = last;
  } else {
    for (let i = last - 1; i >= 0; i--) {
      if (
        tail.readUInt32LE(i) === EOCD_SIG &&
        i + EOCD_SIZE + tail.readUInt16LE(i + 20) <= tail.length
      ) {
        at = i;
        break;
      }
    }
  }
  if (at < 0) return malformed('no end of central directory record');
  const eocdOffset = tailStart + at;
  let disk = tail.readUInt16LE(at + 4);
  let cdDisk = tail.readUInt16LE(at + 6);
  let total = tail.readUInt16LE(at + 10);
  let cdSize = tail.readUInt32LE(at + 12);
  let cdOffset = tail.readUInt32LE(at + 16);
  let directoryEnd = eocdOffset;

  const locatorAt = at - 20;
  const hasLocator = locatorAt >= 0 && tail.readUInt32LE(locatorAt) === ZIP64_LOCATOR_SIG;
  if (hasLocator) {
    const recordOffset = u64(tail, locatorAt + 8);
    const record = await readExact(source, recordOffset, recordOffset + 56);
    if (record === null || record.readUInt32LE(0) !== ZIP64_EOCD_SIG) {
      return malformed('ZIP64 locator points to no ZIP64 end record', eocdOffset - 20);
    }
    disk = record.readUInt32LE(16);
    cdDisk = record.readUInt32LE(20);
    total = u64(record, 32);
    cdSize = u64(record, 40);
    cdOffset = u64(record, 48);
    directoryEnd = recordOffset;
  } else if (total === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    return malformed('ZIP64 sizes without a ZIP64 end record', eocdOffset);
  }
  if (disk !== 0 || cdDisk !== 0)
    return malformed('multi-disk archives are not supported', eocdOffset);
  if (cdOffset + cdSize > directoryEnd) {
    return malformed('central directory runs past its end record', eocdOffset);
  }
  if (cdOffset + cdSize < directoryEnd) {
    // Python's zipfile shifts every offset by this gap, other readers do not: the two would
    // read different bytes as the same entry.
    malformed(
      `${directoryEnd - cdOffset - cdSize} unexplained bytes before the end record; readers disagree on entry offsets`,
      cdOffset + cdSize,
    );
  }
  if (cdSize > MAX_DIRECTORY_BYTES) {
    findings.push(
      finding(
        'HIGH',
        'SCAN_LIMIT_EXCEEDED',
        `central directory of ${cdSize} bytes is too large to read`,
        path,
        cdOffset,
      ),
    );
    return null;
  }
  if (total > limits.maxEntries) {
    findings.push(
      finding(
        'HIGH',
        'ZIP_TOO_MANY_ENTRIES',
        `archive declares ${total} entries; only the first ${limits.maxEntries} are inspected`,
        path,
        eocdOffset,
      ),
    );
  }
  const cd = await readExact(source, cdOffset, cdOffset + cdSize);
  if (cd === null) return malformed('central directory lies outside the file', cdOffset);

  // Python's zipfile reads entries until the directory's bytes run out, whatever the count
  // says, so the bytes, not the count, decide what exists.
  const entries: Entry[] = [];
  let p = 0;
  while (p < cd.length) {
    if (entries.length >= limits.maxEntries) {
      if (total <= limits.maxEntries) {
        findings.push(
          finding(
            'HIGH',
            'ZIP_TOO_MANY_ENTRIES',
            `central directory holds more than ${limits.maxEntries} entries; the rest are not inspected`,
            path,
            cdOffset + p,
          ),
        );
      }
      break;
    }
    if (p + 46 > cd.length || cd.readUInt32LE(p) !== CENTRAL_SIG) {
      return malformed('bad central directory entry', cdOffset + p);
    }
    const flags = cd.readUInt16LE(p + 8);
    const method = cd.readUInt16LE(p + 10);
    const crc = cd.readUInt32LE(p + 16);
    let compressedSize = cd.readUInt32LE(p + 20);
    let uncompressedSize = cd.readUInt32LE(p + 24);
    const nameLength = cd.readUInt16LE(p + 28);
    const extraLength = cd.readUInt16LE(p + 30);
    const commentLength = cd.readUInt16LE(p + 32);
    let localOffset = cd.readUInt32LE(p + 42);
    const end = p + 46 + nameLength + extraLength + commentLength;
    if (end > cd.length)
      return malformed('central directory entry runs past the directory', cdOffset + p);
    const rawName = cd.subarray(p + 46, p + 46 + nameLength);
    const extra = cd.subarray(p + 46 + nameLength, p + 46 + nameLength + extraLength);
    const needs64 =
      uncompressedSize === 0xffffffff ||
      compressedSize === 0xffffffff ||
      localOffset === 0xffffffff;
    if (needs64) {
      let found = false;
      for (let q = 0; q + 4 <= extra.length;) {
        const id = extra.readUInt16LE(q);
        const size = extra.readUInt16LE(q + 2);
        if (q + 4 + size > extra.length) break;
        if (id === 0x0001) {
          const field = extra.subarray(q + 4, q + 4 + size);
          let f = 0;
          const next = (): number | null => {
            if (f + 8 > field.length) return null;
            const v = u64(field, f);
            f += 8;
            return v;
          };
          const u = uncompressedSize === 0xffffffff ? next() : uncompressedSize;
          const c = compressedSize === 0xffffffff ? next() : compressedSize;
          const o = localOffset === 0xffffffff ? next() : localOffset;
          if (u === null || c === null || o === null) break;
          uncompressedSize = u;
          compressedSize = c;
          localOffset = o;
          found = true;
          break;
        }
        q += 4 + size;
      }
      if (!found) return malformed('entry needs a ZIP64 extra field it lacks', cdOffset + p);
    }
    entries.push({
      name: rawName.toString((flags & 0x800) !== 0 ? 'utf8' : 'latin1'),
      rawName,
      flags,
      method,
      crc,
      compressedSize,
      uncompressedSize,
      localOffset,
    });
    p = end;
  }
  if (entries.length !== total && entries.length < limits.maxEntries) {
    malformed(
      `end record declares ${total} entries, the directory holds ${entries.length}`,
      eocdOffset,
    );
  }
  return { entries, dataLimit: cdOffset };
}

async function scanZip(
  source: ByteSource,
  limits: Limits,
  depth: number,
  findings: Finding[],
): Promise<void> {
  const directory = await readDirectory(source, limits, findings);
  if (directory === null) return;
  const { entries, dataLimit } = directory;
  const entryPath = (e: Entry): string => `${source.path}!/${e.name}`;
  const add = (f: Finding): void => {
    findings.push(f);
  };

  // Directory-level checks first: they need no reads and decide which entries are opened.
  const skip = new Set<Entry>();
  const seen = new Set<string>();
  let declaredTotal = 0;
  let totalReported = false;
  for (const e of entries) {
    const path = entryPath(e);
    const unsafe = unsafeName(e.rawName, e.name);
    if (unsafe !== null) {
      add(
        finding(
          'CRITICAL',
          'ZIP_PATH_TRAVERSAL',
          `entry name ${printable(JSON.stringify(e.name))} ${unsafe}`,
          path,
          e.localOffset,
        ),
      );
    }
    if (seen.has(e.name)) {
      add(
        finding(
          'MEDIUM',
          'ZIP_DUPLICATE_ENTRY',
          `entry name ${printable(e.name)} appears more than once`,
          path,
          e.localOffset,
        ),
      );
    }
    seen.add(e.name);
    if ((e.flags & 0x1) !== 0) {
      add(
        finding(
          'MEDIUM',
          'ZIP_ENCRYPTED',
          'entry is encrypted and was not inspected',
          path,
          e.localOffset,
        ),
      );
      skip.add(e);
    }
    if (e.method !== 0 && e.method !== 8) {
      add(
        finding(
          'MEDIUM',
          'ZIP_UNSUPPORTED_METHOD',
          `compression method ${e.method} is not supported; entry was not inspected`,
          path,
          e.localOffset,
        ),
      );
      skip.add(e);
    }
    if (e.method === 0 && e.compressedSize !== e.uncompressedSize) {
      add(
        finding(
          'HIGH',
          'ZIP_MALFORMED',
          `stored entry declares ${e.compressedSize} stored but ${e.uncompressedSize} uncompressed bytes`,
          path,
          e.localOffset,
        ),
      );
      skip.add(e);
    }
    if (e.method === 8 && e.uncompressedSize >= RATIO_FLOOR) {
      const ratio = e.compressedSize === 0 ? Infinity : e.uncompressedSize / e.compressedSize;
      if (ratio > limits.maxRatio) {
        add(
          finding(
            'HIGH',
            'ZIP_BOMB',
            `entry declares ${e.uncompressedSize} bytes from ${e.compressedSize} compressed (ratio ${Number.isFinite(ratio) ? Math.round(ratio) : '∞'} > ${limits.maxRatio}); not inflated`,
            path,
            e.localOffset,
          ),
        );
        skip.add(e);
      }
    }
    declaredTotal += e.uncompressedSize;
    if (!totalReported && declaredTotal > limits.maxUncompressedBytes) {
      totalReported = true;
      add(
        finding(
          'HIGH',
          'ZIP_BOMB',
          `entries declare more than ${limits.maxUncompressedBytes} uncompressed bytes in total`,
          source.path,
          null,
        ),
      );
    }
    if (e.localOffset + 30 + e.rawName.length + e.compressedSize > dataLimit) {
      add(
        finding(
          'HIGH',
          'ZIP_MALFORMED',
          'entry data runs into the central directory or past the file',
          path,
          e.localOffset,
        ),
      );
      skip.add(e);
    }
  }
  // A lower bound of each entry's extent (local extras ignored), so only real overlaps show.
  const byOffset = [...entries].sort((a, b) => a.localOffset - b.localOffset);
  let overlaps = 0;
  for (let i = 1; i < byOffset.length && overlaps < 10; i++) {
    const prev = byOffset[i - 1]!;
    const cur = byOffset[i]!;
    if (cur.localOffset < prev.localOffset + 30 + prev.rawName.length + prev.compressedSize) {
      overlaps++;
      add(
        finding(
          'HIGH',
          'ZIP_OVERLAPPING_ENTRIES',
          `entry overlaps the bytes of ${printable(prev.name)}`,
          entryPath(cur),
          cur.localOffset,
        ),
      );
    }
  }

  for (const e of entries) {
    if (skip.has(e)) continue;
    if (Date.now() >= limits.deadline) {
      add(
        finding(
          'HIGH',
          'SCAN_LIMIT_EXCEEDED',
          'scan deadline passed; remaining entries were not inspected',
          source.path,
          null,
        ),
      );
      return;
    }
    await inspectEntry(source, e, entryPath(e), dataLimit, limits, depth, findings);
  }
}

/** Reads an entry's local header and first bytes, and scans it if it is a pickle or a zip. */
async function inspectEntry(
  source: ByteSource,
  e: Entry,
  path: string,
  dataLimit: number,
  limits: Limits,
  depth: number,
  findings: Finding[],
): Promise<void> {
  const malformed = (message: string, offset: number): void => {
    findings.push(
      finding('HIGH', 'ZIP_MALFORMED', `malformed zip entry: ${message}`, path, offset),
    );
  };
  const headerEnd = Math.min(source.size, e.localOffset + 30 + e.rawName.length + SNIFF_BYTES);
  const chunk = await readExact(source, e.localOffset, headerEnd);
  if (chunk === null || chunk.length < 30 || chunk.readUInt32LE(0) !== LOCAL_SIG) {
    return malformed('no local header at the directory offset', e.localOffset);
  }
  const nameLength = chunk.readUInt16LE(26);
  const extraLength = chunk.readUInt16LE(28);
  const localName = chunk.subarray(30, 30 + nameLength);
  if (!localName.equals(e.rawName)) {
    // Streaming readers trust the local name, directory readers the central one.
    malformed(
      `local header names ${printable(JSON.stringify(localName.toString('latin1')))}`,
      e.localOffset,
    );
  }
  if (chunk.readUInt16LE(8) !== e.method) {
    malformed('local header and directory disagree on the compression method', e.localOffset);
  }
  const dataStart = e.localOffset + 30 + nameLength + extraLength;
  if (dataStart + e.compressedSize > dataLimit) {
    return malformed('entry data runs into the central directory', e.localOffset);
  }

  let head: Buffer;
  const inChunk = chunk.subarray(30 + nameLength + extraLength);
  if (e.method === 0) {
    head =
      inChunk.length >= Math.min(8, e.compressedSize)
        ? inChunk.subarray(0, Math.min(8, e.compressedSize))
        : ((await readExact(source, dataStart, dataStart + Math.min(8, e.compressedSize))) ??
          Buffer.alloc(0));
  } else {
    const compressedHead = await readExact(
      source,
      dataStart,
      dataStart + Math.min(SNIFF_BYTES, e.compressedSize),
    );
    try {
      // A sync flush decodes a prefix without demanding the end of the stream; 512 input
      // bytes inflate to at most ~0.5 MB.
      head =
        compressedHead === null
          ? Buffer.alloc(0)
          : inflateRawSync(compressedHead, { finishFlush: zlibConstants.Z_SYNC_FLUSH }).subarray(
              0,
              8,
            );
    } catch {
      head = Buffer.alloc(0);
    }
  }
  const isZip = looksLikeZip(head);
  const isPickle = e.name.toLowerCase().endsWith('.pkl') || looksLikePickle(head);
  if (!isZip && !isPickle) return;
  if (isZip && depth >= MAX_DEPTH) {
    findings.push(
      finding(
        'MEDIUM',
        'ZIP_NESTED',
        `zip nested more than ${MAX_DEPTH} level deep was not inspected`,
        path,
        null,
      ),
    );
    return;
  }
  if (e.uncompressedSize > limits.maxEntryBytes || e.compressedSize > limits.maxEntryBytes) {
    findings.push(
      finding(
        'HIGH',
        'SCAN_LIMIT_EXCEEDED',
        `${isZip ? 'nested zip' : 'pickle'} entry of ${e.uncompressedSize} bytes exceeds the ${limits.maxEntryBytes}-byte inspection cap`,
        path,
        null,
      ),
    );
    return;
  }
  const compressed = await readExact(source, dataStart, dataStart + e.compressedSize);
  if (compressed === null) return malformed('entry data lies outside the file', dataStart);
  let data: Buffer;
  if (e.method === 0) {
    data = compressed;
  } else {
    try {
      // One byte of slack tells "exactly the declared size" from "more than declared".
      data = inflateRawSync(compressed, { maxOutputLength: e.uncompressedSize + 1 });
    } catch (err) {
      if (err instanceof RangeError) {
        findings.push(
          finding(
            'HIGH',
            'ZIP_BOMB',
            `entry inflates past its declared ${e.uncompressedSize} bytes`,
            path,
            e.localOffset,
          ),
        );
      } else {
        malformed(
          `deflate stream is invalid (${err instanceof Error ? err.message : 'error'})`,
          dataStart,
        );
      }
      return;
    }
    if (data.length > e.uncompressedSize) {
      findings.push(
        finding(
          'HIGH',
          'ZIP_BOMB',
          `entry inflates past its declared ${e.uncompressedSize} bytes`,
          path,
          e.localOffset,
        ),
      );
      return;
    }
    if (data.length !== e.uncompressedSize) {
      malformed(
        `entry inflates to ${data.length} bytes, not the declared ${e.uncompressedSize}`,
        dataStart,
      );
    }
  }
  if (crc32(data) >>> 0 !== e.crc) {
    findings.push(
      finding(
        'MEDIUM',
        'ZIP_CRC_MISMATCH',
        'entry CRC-32 differs from the directory; readers may reject or accept it',
        path,
        e.localOffset,
      ),
    );
  }
  if (isZip) {
    await scanZip(bufferSource(path, data), limits, depth + 1, findings);
    return;
  }
  const result = scanPickle(data, path, { maxOps: limits.maxOps, deadline: limits.deadline });
  findings.push(...result.findings);
}

/**
 * Scans a zip archive the way PyTorch checkpoints are stored: checks the central directory for
 * path traversal, bombs and inconsistencies, and statically scans every pickle entry (and one
 * level of nested zips). Reads only the directory, local headers and the entries it inspects.
 */
export async function scanZipCheckpoint(
  source: ByteSource,
  options: ZipScanOptions = {},
): Promise<Finding[]> {
  const limits: Limits = {
    maxEntries: options.maxEntries ?? 100_000,
    maxUncompressedBytes: options.maxUncompressedBytes ?? 2 ** 40,
    maxRatio: options.maxRatio ?? 200,
    maxEntryBytes: options.maxEntryBytes ?? 256 * 1024 * 1024,
    maxOps: options.maxOps,
    deadline: options.deadline ?? Number.POSITIVE_INFINITY,
  };
  const findings: Finding[] = [];
  await scanZip(source, limits, 0, findings);
  return findings;
}
