/**
 * Deterministic randomness and identifiers for the simulator: the same seed and hostname give
 * the same GPUs, ids and telemetry, so tests and demos are repeatable.
 */
import { createHash } from 'node:crypto';

/** A seeded pseudo-random generator (sfc32): fast, and good enough for telemetry noise. */
export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seedMaterial: string) {
    const digest = createHash('sha256').update(seedMaterial).digest();
    this.a = digest.readUInt32LE(0);
    this.b = digest.readUInt32LE(4);
    this.c = digest.readUInt32LE(8);
    this.d = digest.readUInt32LE(12);
    // Discard the first outputs: sfc32 mixes poorly for a few rounds after seeding.
    for (let i = 0; i < 12; i += 1) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** Uniform in [min, max). */
  between(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Approximately normal with mean 0 and standard deviation 1 (Irwin–Hall of four). */
  gaussian(): number {
    return (this.next() + this.next() + this.next() + this.next() - 2) * Math.sqrt(3);
  }

  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }
}

/** 32 hex digits derived from the parts, stable across runs. */
function hexDigest(parts: readonly (string | number)[]): string {
  return createHash('sha1').update(parts.join('\u0000')).digest('hex').slice(0, 32);
}

/** A GPU UUID in nvidia-smi's format: `GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`. */
export function gpuUuid(...parts: (string | number)[]): string {
  const h = hexDigest(['gpu', ...parts]);
  return `GPU-${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/**
 * A MIG device UUID. Real ones are name-based (version 5) UUIDs of the parent GPU, GPU instance and
 * compute instance: the same GI/CI ids on the same GPU get the same UUID again after a destroy and
 * re-create (`MIG-8443519f…` in both prickle-exporter H100 captures; `MIG-ab3c9061…` in the A100
 * 80GB session). So derive it from exactly those.
 */
export function migUuid(
  parentGpuUuid: string,
  gpuInstanceId: number,
  computeInstanceId: number,
): string {
  const h = hexDigest(['mig', parentGpuUuid, gpuInstanceId, computeInstanceId]);
  const variant = ((parseInt(h.slice(16, 17), 16) & 0x3) | 0x8).toString(16);
  return `MIG-${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** A 13-digit board serial like the `1650…`/`1324…` ones in the fixtures. */
export function boardSerial(...parts: (string | number)[]): string {
  const n = parseInt(hexDigest(['serial', ...parts]).slice(0, 12), 16) % 1_000_000_000;
  return `1654${String(n).padStart(9, '0')}`;
}
