import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, decodeJwt } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  nrasVerifierFromConfig,
  verifyNrasResult,
  type NrasFailure,
  type NrasVerification,
  type NrasVerifierOptions,
} from '../../subgraphs/hardware-attestation/domain/nras.ts';
import { createFakeNras, type FakeNras } from '../support/nras.ts';

const nonce = 'a1'.repeat(32);
const otherNonce = 'b2'.repeat(32);
const gpus = [
  { index: 0, driverVersion: '550.54.15', vbiosVersion: '96.00.5E.00.01' },
  { index: 1, driverVersion: '550.54.15', vbiosVersion: '96.00.5E.00.02', measres: 'fail' },
];

let nras: FakeNras;
let elsewhere: FakeNras;
let options: NrasVerifierOptions;

beforeAll(async () => {
  [nras, elsewhere] = await Promise.all([createFakeNras(), createFakeNras()]);
  options = { keys: createLocalJWKSet(nras.jwks) };
});

function failure(result: NrasVerification, check: string, token = 'overall'): NrasFailure {
  const found = result.failures.find((f) => f.check === check && f.token === token);
  expect(
    found,
    `expected a '${check}' failure on ${token}: ${JSON.stringify(result)}`,
  ).toBeDefined();
  return found!;
}

function parts(raw: string): [string, Record<string, string>] {
  const [[, overall], detached] = JSON.parse(raw) as [[string, string], Record<string, string>];
  return [overall, detached];
}

describe('verifyNrasResult', () => {
  it('verifies a two-GPU result and exposes its claims', async () => {
    const raw = await nras.issue({ nonce, gpus });
    const result = await verifyNrasResult(raw, nonce, options);

    expect(result.failures).toEqual([]);
    expect(result.verified).toBe(true);
    expect(result.overall).toMatchObject({
      result: true,
      issuer: 'https://nras.attestation.nvidia.com',
      kid: nras.jwks.keys[0]?.kid,
      nonce,
    });
    expect(result.overall?.expiresAt).toBe(decodeJwt(parts(raw)[0]).exp);
    expect(result.gpus.map((g) => [g.key, g.index, g.vbiosVersion, g.measres])).toEqual([
      ['GPU-0', 0, '96.00.5E.00.01', 'success'],
      ['GPU-1', 1, '96.00.5E.00.02', 'fail'],
    ]);
    const [gpu0] = result.gpus;
    expect(gpu0).toMatchObject({
      driverVersion: '550.54.15',
      secboot: true,
      dbgstat: 'disabled',
      hwmodel: 'GH100 A01 GSP BROM',
    });
    expect(gpu0?.ueid).toMatch(/^\d+$/);
    expect(gpu0?.checks['driver-rim-signature-verified']).toBe(true);
    expect(gpu0?.checks['vbios-index-no-conflict']).toBe(true);
    expect(gpu0?.checks['driver-version']).toBeUndefined();
  });

  it('leaves a negative overall result to the appraisal policy', async () => {
    const raw = await nras.issue({ nonce, gpus, overallResult: false });
    const result = await verifyNrasResult(raw, nonce, options);
    expect(result.verified).toBe(true);
    expect(result.overall?.result).toBe(false);
  });

  it('rejects expired tokens, naming the expiry time', async () => {
    const raw = await nras.issue({ nonce, gpus, expiresInSeconds: -3600 });
    const result = await verifyNrasResult(raw, nonce, options);
    expect(result.verified).toBe(false);
    const exp = decodeJwt(parts(raw)[0]).exp!;
    expect(failure(result, 'expired').reason).toContain(new Date(exp * 1000).toISOString());
    expect(failure(result, 'expired', 'GPU-1').reason).toContain('GPU-1: expired at');
  });

  it('rejects a kid NRAS does not publish', async () => {
    const raw = await nras.issue({ nonce, gpus, kid: 'nv-eat-kid-unknown' });
    const result = await verifyNrasResult(raw, nonce, options);
    expect(result.verified).toBe(false);
    expect(failure(result, 'key').reason).toContain('no NRAS key with kid "nv-eat-kid-unknown"');
    expect(result.overall).toBeNull();
    expect(result.gpus).toEqual([]);
  });

  it('tells an unreachable key set apart from a bad token, so the caller retries', async () => {
    const server = createServer((_req, res) => {
      res.statusCode = 503;
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const unreachable = nrasVerifierFromConfig({ jwks: `http://127.0.0.1:${port}/jwks.json` });
      const result = await verifyNrasResult(await nras.issue({ nonce, gpus }), nonce, unreachable);
      expect(result.verified).toBe(false);
      expect(failure(result, 'key-unavailable').reason).toContain('could not obtain the NRAS key');
    } finally {
      server.close();
    }
  });

  it('rejects tokens forged with a stranger key under the published kid', async () => {
    const raw = await nras.issue({ nonce, gpus, signWith: 'stranger' });
    const result = await verifyNrasResult(raw, nonce, options);
    expect(result.verified).toBe(false);
    expect(failure(result, 'signature').reason).toContain('signature does not verify');
    expect(failure(result, 'signature', 'GPU-0').reason).toContain(nras.jwks.keys[0]!.kid!);
    expect(result.gpus).toEqual([]);
  });

  it.each([
    ['HS256', 'HMAC keyed with the public JWK'],
    ['none', 'unsigned'],
    ['ES256', 'another curve'],
  ] as const)('rejects %s tokens (%s)', async (alg, _how) => {
    const raw = await nras.issueWithAlgorithm(alg, nonce);
    const result = await verifyNrasResult(raw, nonce, options);
    expect(result.verified).toBe(false);
    expect(failure(result, 'algorithm').reason).toContain(`"${alg}"`);
    expect(failure(result, 'algorithm', 'GPU-0').reason).toContain('only ES384');
    expect(result.gpus).toEqual([]);
  });

  it('rejects a detached token whose digest differs from submods, keeping the other GPU', async () => {
    const raw = await nras.issue({ nonce, gpus, tamperDetached: true });
    const result = await verifyNrasResult(raw, nonce, options);
    expect(result.verified).toBe(false);
    const actual = createHash('sha256').update(parts(raw)[1]['GPU-0']!).digest('hex');
    const { reason } = failure(result, 'submods-digest', 'GPU-0');
    expect(reason).toContain(`SHA-256 of the detached token (${actual.slice(0, 16)}…)`);
    expect(result.failures.filter((f) => f.token === 'GPU-1')).toEqual([]);
    expect(result.gpus.find((g) => g.key === 'GPU-1')?.measres).toBe('fail');
  });

  it('rejects a submods entry without its detached token, and a detached token outside submods', async () => {
    const [overall, detached] = parts(await nras.issue({ nonce, gpus }));
    const [, stray] = parts(await nras.issue({ nonce, gpus: [{ ...gpus[0]!, index: 5 }] }));
    const raw = JSON.stringify([
      ['JWT', overall],
      { 'GPU-0': detached['GPU-0'], 'GPU-5': stray['GPU-5'] },
    ]);
    const result = await verifyNrasResult(raw, nonce, options);
    expect(result.verified).toBe(false);
    expect(failure(result, 'submods-missing', 'GPU-1').reason).toContain('no detached token');
    expect(failure(result, 'submods-missing', 'GPU-5').reason).toContain('no entry in');
  });

  it('rejects a nonce other than the one sent, saying expected and got', async () => {
    const raw = await nras.issue({ nonce: otherNonce, gpus });
    const result = await verifyNrasResult(raw, nonce, options);
    expect(result.verified).toBe(false);
    const { reason } = failure(result, 'nonce');
    expect(reason).toContain(`eat_nonce ${otherNonce.slice(0, 16)}…`);
    expect(reason).toContain(`expected nonce ${nonce.slice(0, 16)}…`);
    failure(result, 'nonce', 'GPU-0');
    failure(result, 'nonce', 'GPU-1');
  });

  it('rejects a foreign issuer', async () => {
    const raw = await nras.issue({ nonce, gpus, issuer: 'https://nras.example.com' });
    const result = await verifyNrasResult(raw, nonce, options);
    expect(result.verified).toBe(false);
    expect(failure(result, 'issuer').reason).toContain(
      'issuer "https://nras.example.com" is not the expected "https://nras.attestation.nvidia.com"',
    );
  });

  it.each([
    ['malformed JSON', '[["JWT", "abc"', 'not valid JSON'],
    ['an object', '{"JWT": "abc"}', 'NRAS result is an object'],
    ['a missing detached map', '[["JWT", "a.b.c"]]', 'array of 1 elements'],
    ['a numeric overall token', '[["JWT", 42], {}]', 'overall token is a number'],
    ['a numeric detached token', '[["JWT", "a.b.c"], {"GPU-0": 7}]', 'GPU-0 is a number'],
  ])('rejects %s as format', async (_name, raw, detail) => {
    const result = await verifyNrasResult(raw, nonce, options);
    expect(result.verified).toBe(false);
    expect(failure(result, 'format').reason).toContain(detail);
  });

  it('refuses oversize input before parsing', async () => {
    const raw = JSON.stringify([['JWT', 'x'.repeat(70_000)], {}]);
    const result = await verifyNrasResult(raw, nonce, options);
    expect(failure(result, 'format').reason).toContain('over the 65536-byte limit');
    const small = await verifyNrasResult(await nras.issue({ nonce, gpus }), nonce, {
      ...options,
      maxBytes: 100,
    });
    expect(failure(small, 'format').reason).toContain('over the 100-byte limit');
  });

  describe('with NRAS roots configured', () => {
    it('accepts an x5c chain up to the root', async () => {
      const raw = await nras.issue({ nonce, gpus, x5c: true });
      const roots = [new X509Certificate(nras.rootPem)];
      const result = await verifyNrasResult(raw, nonce, { ...options, rootCertificates: roots });
      expect(result.failures).toEqual([]);
      expect(result.verified).toBe(true);
    });

    it('rejects an x5c chain that ends at another root', async () => {
      const raw = await nras.issue({ nonce, gpus, x5c: true });
      const roots = [new X509Certificate(elsewhere.rootPem)];
      const result = await verifyNrasResult(raw, nonce, { ...options, rootCertificates: roots });
      expect(result.verified).toBe(false);
      expect(failure(result, 'certificate-chain').reason).toContain(
        'does not end at a configured NRAS root',
      );
    });

    it('rejects tokens without x5c', async () => {
      const raw = await nras.issue({ nonce, gpus });
      const roots = [new X509Certificate(nras.rootPem)];
      const result = await verifyNrasResult(raw, nonce, { ...options, rootCertificates: roots });
      expect(result.verified).toBe(false);
      expect(failure(result, 'certificate-chain', 'GPU-0').reason).toContain('has no x5c');
    });
  });
});

describe('nrasVerifierFromConfig', () => {
  it('reads inline or file JWKS and PEM roots', async () => {
    const raw = await nras.issue({ nonce, gpus, x5c: true });
    const inline = nrasVerifierFromConfig({
      jwks: JSON.stringify(nras.jwks),
      rootPem: nras.rootPem,
    });
    expect((await verifyNrasResult(raw, nonce, inline)).verified).toBe(true);

    const dir = mkdtempSync(join(tmpdir(), 'nras-config-'));
    try {
      writeFileSync(join(dir, 'jwks.json'), JSON.stringify(nras.jwks));
      writeFileSync(join(dir, 'roots.pem'), `${elsewhere.rootPem}\n${nras.rootPem}`);
      const files = nrasVerifierFromConfig({
        jwks: join(dir, 'jwks.json'),
        rootPem: join(dir, 'roots.pem'),
      });
      expect(files.rootCertificates).toHaveLength(2);
      expect((await verifyNrasResult(raw, nonce, files)).verified).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(() => nrasVerifierFromConfig({ jwks: '/nonexistent/jwks.json' })).toThrow(
      'neither JSON, a URL nor a readable file',
    );
  });
});
