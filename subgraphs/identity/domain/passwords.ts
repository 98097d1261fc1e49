import {
  randomBytes,
  scrypt as scryptCallback,
  timingSafeEqual,
  type ScryptOptions,
} from 'node:crypto';
import { badInput } from '../../../platform/errors.ts';

/**
 * Password hashing with scrypt (memory-hard, in Node's standard library, run on libuv's thread
 * pool so hashing does not block the event loop). Parameters travel inside the stored string so
 * they can be raised later: `needsRehash` tells login to upgrade old hashes.
 * Default N = 2^17, r = 8, p = 1 is OWASP's recommendation for scrypt.
 */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(password: string, stored: string): Promise<boolean>;
  needsRehash(stored: string): boolean;
  /** Burns the same time as a real verification, for unknown accounts (no timing oracle). */
  verifyDummy(password: string): Promise<void>;
}

const keyLength = 32;
const blockSize = 8;
const parallelization = 1;

function scrypt(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolvePromise, reject) => {
    scryptCallback(password.normalize('NFKC'), salt, keyLength, options, (error, key) =>
      error ? reject(error) : resolvePromise(key),
    );
  });
}

function options(log2N: number): ScryptOptions {
  const N = 2 ** log2N;
  return { N, r: blockSize, p: parallelization, maxmem: 256 * N * blockSize + 1024 * 1024 };
}

export function createPasswordHasher(log2N: number): PasswordHasher {
  const hasher: PasswordHasher = {
    async hash(password) {
      const salt = randomBytes(16);
      const key = await scrypt(password, salt, options(log2N));
      return `scrypt$ln=${log2N},r=${blockSize},p=${parallelization}$${salt.toString('base64')}$${key.toString('base64')}`;
    },
    async verify(password, stored) {
      const parsed = parse(stored);
      if (!parsed) return false;
      const key = await scrypt(password, parsed.salt, {
        N: 2 ** parsed.log2N,
        r: parsed.r,
        p: parsed.p,
        maxmem: 256 * 2 ** parsed.log2N * parsed.r + 1024 * 1024,
      });
      return key.length === parsed.key.length && timingSafeEqual(key, parsed.key);
    },
    needsRehash(stored) {
      const parsed = parse(stored);
      return !parsed || parsed.log2N < log2N || parsed.r !== blockSize;
    },
    async verifyDummy(password) {
      await scrypt(password, dummySalt, options(log2N));
    },
  };
  return hasher;
}

const dummySalt = randomBytes(16);

function parse(
  stored: string,
): { log2N: number; r: number; p: number; salt: Buffer; key: Buffer } | null {
  const match = /^scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(
    stored,
  );
  if (!match) return null;
  const [, ln, r, p, salt, key] = match;
  return {
    log2N: Number(ln),
    r: Number(r),
    p: Number(p),
    salt: Buffer.from(salt!, 'base64'),
    key: Buffer.from(key!, 'base64'),
  };
}

// The most common passwords that satisfy a 12-character minimum; a full breach list would be a
// data dependency, and the length rule already rules out most of the classic top-100.
const commonPasswords = new Set([
  'password1234',
  'password12345',
  'password123456',
  '123456789012',
  '1234567890123',
  'qwertyuiop12',
  'qwertyuiopas',
  'iloveyou1234',
  'administrator',
  'welcome12345',
  'letmein12345',
  'changeme1234',
  'passw0rd1234',
  'abcdefghijkl',
  '111111111111',
  '000000000000',
  'aaaaaaaaaaaa',
  'qwerty123456',
  '1q2w3e4r5t6y',
  'trustno1trustno1',
]);

export const minPasswordLength = 12;
export const maxPasswordLength = 256;

/** Rejects passwords that are too short, too long, common, or built from the email. */
export function assertStrongPassword(password: string, email: string): void {
  if (password.length < minPasswordLength) {
    throw badInput(`Password must be at least ${minPasswordLength} characters`, {
      field: 'password',
    });
  }
  if (password.length > maxPasswordLength) {
    throw badInput(`Password must be at most ${maxPasswordLength} characters`, {
      field: 'password',
    });
  }
  const lower = password.toLowerCase();
  if (commonPasswords.has(lower) || new Set(lower).size < 4) {
    throw badInput('Password is too common or too repetitive', { field: 'password' });
  }
  const local = email.split('@')[0]?.toLowerCase() ?? '';
  if (local.length >= 4 && lower.includes(local)) {
    throw badInput('Password must not contain your email address', { field: 'password' });
  }
}
