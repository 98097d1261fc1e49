import { SmiParseError } from '../errors.ts';

/**
 * Tokens nvidia-smi prints instead of a value. They mean "not reported", never 0: exporters that
 * read `[N/A]` as a number broke (telegraf#7659, nvidia_gpu_exporter#68) or wrote 0 (pai#949).
 * Compared lower-cased, after trimming and dropping one pair of surrounding brackets.
 */
const ABSENT_TOKENS = new Set([
  '',
  'n/a',
  'not supported',
  'requested functionality has been deprecated',
  'insufficient permissions',
  'unknown error',
  'gpu is lost',
  'none',
  'not available',
]);

/** Units nvidia-smi appends to numbers; anything else after the digits is garbage. */
const KNOWN_UNITS = new Set([
  '',
  'b',
  'kib',
  'mib',
  'gib',
  'w',
  'mw',
  'c',
  'f',
  '%',
  'mhz',
  'ghz',
  'x',
  'bank(s)',
  'us',
  'ms',
  's',
  'v',
  'mv',
  'rpm',
]);

const NUMBER_WITH_UNIT = /^([-+]?\d+(?:\.\d+)?)\s*(.*)$/;

/** True when `raw` is one of the driver's "no value" tokens (`N/A`, `[Not Supported]`, …). */
export function isAbsentToken(raw: string): boolean {
  let value = raw.trim().toLowerCase();
  if (value.startsWith('[') && value.endsWith(']')) value = value.slice(1, -1).trim();
  return ABSENT_TOKENS.has(value);
}

/** Trimmed text, or null for a missing value or an absent token. */
export function text(raw: string | undefined | null): string | null {
  if (raw === undefined || raw === null || isAbsentToken(raw)) return null;
  return raw.trim();
}

/**
 * A number with its unit stripped ("81920 MiB", "67.03 W", " 40 % ", "16x"); null for absent
 * tokens. Throws SmiParseError naming `field` for anything else, so a garbled value is reported
 * instead of silently becoming NaN or 0.
 */
export function number(raw: string | undefined | null, field: string): number | null {
  const value = text(raw);
  if (value === null) return null;
  const match = NUMBER_WITH_UNIT.exec(value);
  if (!match || !KNOWN_UNITS.has((match[2] ?? '').trim().toLowerCase())) {
    throw new SmiParseError(field, `expected a number, got ${JSON.stringify(value.slice(0, 40))}`);
  }
  return Number(match[1]);
}

/** Like {@link number} but rejects fractions: ids, counts and PIDs are whole numbers. */
export function integer(raw: string | undefined | null, field: string): number | null {
  const value = number(raw, field);
  if (value !== null && !Number.isInteger(value)) {
    throw new SmiParseError(field, `expected a whole number, got ${value}`);
  }
  return value;
}

const TRUE_WORDS = new Set(['enabled', 'yes', 'on', 'active', 'true']);
const FALSE_WORDS = new Set(['disabled', 'no', 'off', 'not active', 'false']);

/** "Enabled"/"Disabled", "Yes"/"No", "On"/"Off", "Active"/"Not Active" → boolean; null when absent. */
export function flag(raw: string | undefined | null, field: string): boolean | null {
  const value = text(raw);
  if (value === null) return null;
  const lower = value.toLowerCase();
  if (TRUE_WORDS.has(lower)) return true;
  if (FALSE_WORDS.has(lower)) return false;
  throw new SmiParseError(
    field,
    `expected Enabled/Disabled or Yes/No, got ${JSON.stringify(value)}`,
  );
}

/** GiB as `mig -lgip` prints it ("9.75", "140.00") → whole MiB (9984, 143360). */
export function gibToMiB(gib: number): number {
  return Math.round(gib * 1024);
}
