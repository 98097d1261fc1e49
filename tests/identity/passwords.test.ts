import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../platform/config.ts';
import {
  assertStrongPassword,
  createPasswordHasher,
} from '../../subgraphs/identity/domain/passwords.ts';

describe('password hashing', () => {
  it('defaults to scrypt with N = 2^17, r = 8, p = 1 (OWASP) and a per-hash salt', async () => {
    const config = loadConfig({
      LOTABOTS_DATA_DIR: '/tmp/lotabots-pw',
      LOTABOTS_SECRET: 'y'.repeat(40),
    });
    const hasher = createPasswordHasher(config.PASSWORD_HASH_LOG2N);
    const a = await hasher.hash('correct horse battery staple');
    const b = await hasher.hash('correct horse battery staple');
    expect(a).toMatch(/^scrypt\$ln=17,r=8,p=1\$/);
    expect(a).not.toBe(b);
    expect(await hasher.verify('correct horse battery staple', a)).toBe(true);
    expect(await hasher.verify('correct horse battery stapler', a)).toBe(false);
  });

  it('asks for a rehash when stored parameters are weaker than the current ones', async () => {
    const weak = await createPasswordHasher(14).hash('another long passphrase');
    const strong = createPasswordHasher(15);
    expect(strong.needsRehash(weak)).toBe(true);
    expect(await strong.verify('another long passphrase', weak)).toBe(true);
    expect(strong.needsRehash(await strong.hash('another long passphrase'))).toBe(false);
    expect(await strong.verify('x', 'not-a-hash')).toBe(false);
  });

  it('rejects short, common, repetitive and email-derived passwords', () => {
    expect(() => assertStrongPassword('short', 'a@example.com')).toThrow(/at least 12/);
    expect(() => assertStrongPassword('password1234', 'a@example.com')).toThrow(/too common/);
    expect(() => assertStrongPassword('aaaaaaaaaaaaaaa', 'a@example.com')).toThrow(/too common/);
    expect(() => assertStrongPassword('mallory-secret-99', 'mallory@example.com')).toThrow(/email/);
    expect(() => assertStrongPassword('x'.repeat(300), 'a@example.com')).toThrow(/at most/);
    expect(() => assertStrongPassword('plenty of entropy here', 'a@example.com')).not.toThrow();
  });
});
