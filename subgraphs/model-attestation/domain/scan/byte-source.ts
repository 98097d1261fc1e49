/** Random access to one stored file, so scanners read only what they need (headers, zip directory). */
export interface ByteSource {
  /** Path of the file inside the model, used in findings. */
  readonly path: string;
  readonly size: number;
  /** Bytes [start, end) — end exclusive; never more than asked; rejects on I/O errors. */
  read(start: number, end: number): Promise<Buffer>;
}

/** A {@link ByteSource} over bytes already in memory (tests, nested archive entries). */
export function bufferSource(path: string, bytes: Buffer): ByteSource {
  return {
    path,
    size: bytes.length,
    read(start: number, end: number): Promise<Buffer> {
      const from = Math.max(0, Math.min(bytes.length, Math.floor(start)));
      const to = Math.max(from, Math.min(bytes.length, Math.floor(end)));
      return Promise.resolve(bytes.subarray(from, to));
    },
  };
}

/**
 * Reads exactly [start, end) or returns null when the source yields fewer bytes (a file shorter
 * than its own structures claim), so scanners can report truncation instead of misreading.
 */
export async function readExact(
  source: ByteSource,
  start: number,
  end: number,
): Promise<Buffer | null> {
  if (start < 0 || end < start || end > source.size) return null;
  const bytes = await source.read(start, end);
  return bytes.length === end - start ? bytes : null;
}
