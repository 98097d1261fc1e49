import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  verify,
  type KeyObject,
} from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  pae,
  signEnvelope,
  verifyEnvelope,
  type DsseEnvelope,
} from '../../../subgraphs/model-attestation/domain/signing/dsse.ts';

const IN_TOTO = 'application/vnd.in-toto+json';
const STATEMENT = Buffer.from('{"_type":"https://in-toto.io/Statement/v1"}');

function ecKeys(curve: 'P-256' | 'P-384'): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: curve });
}

/** RFC 8032 section 7.1 TEST 1 and TEST 2, the keys of the DSSE test vectors. */
function ed25519(seedHex: string): { privateKey: KeyObject; publicKey: KeyObject } {
  const pkcs8 = Buffer.concat([
    Buffer.from('302e020100300506032b657004220420', 'hex'),
    Buffer.from(seedHex, 'hex'),
  ]);
  const privateKey = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  return { privateKey, publicKey: createPublicKey(privateKey) };
}
const KEY_A = ed25519('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
const KEY_B = ed25519('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb');

describe('pae', () => {
  it('encodes the DSSE protocol.md example, and a signature made over it verifies', () => {
    const encoded = pae('http://example.com/HelloWorld', Buffer.from('hello world'));
    expect(encoded.toString()).toBe('DSSEv1 29 http://example.com/HelloWorld 11 hello world');

    // protocol.md's ECDSA P-256 key and raw r||s signature over that PAE.
    const coordinate = (decimal: string): string =>
      Buffer.from(BigInt(decimal).toString(16).padStart(64, '0'), 'hex').toString('base64url');
    const key = createPublicKey({
      format: 'jwk',
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: coordinate(
          '46950820868899156662930047687818585632848591499744589407958293238635476079160',
        ),
        y: coordinate(
          '5640078356564379163099075877009565129882514886557779369047442380624545832820',
        ),
      },
    });
    const sig = Buffer.from(
      'A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA==',
      'base64',
    );
    expect(verify('sha256', encoded, { key, dsaEncoding: 'ieee-p1363' }, sig)).toBe(true);
  });

  it('counts bytes, not characters, and encodes an empty body with a trailing space', () => {
    // testvectors/vectors.json in secure-systems-lab/dsse: non-ascii-payload-type, empty-payload.
    expect(pae('application/vnd.exämple+json', STATEMENT).toString('hex')).toBe(
      '445353457631203239206170706c69636174696f6e2f766e642e6578c3a46d706c652b6a736f6e203433207b225f74797065223a2268747470733a2f2f696e2d746f746f2e696f2f53746174656d656e742f7631227d',
    );
    expect(pae(IN_TOTO, Buffer.alloc(0)).toString()).toBe(
      'DSSEv1 28 application/vnd.in-toto+json 0 ',
    );
  });
});

describe('DSSE test vectors (secure-systems-lab/dsse testvectors/vectors.json)', () => {
  const envelope = (payload: string, payloadType: string, sig: string): unknown => ({
    payload,
    payloadType,
    signatures: [{ sig, keyid: 'A' }],
  });
  const sigA =
    '2WAfaHm5jluo0w+0rk8uVkluELJYWjSmU9x7EUzx+AyteDGJ4/nqyJXfmAUVFIAoQafWm7AxBZNw5M9ixNHiCA==';
  const payload = 'eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjEifQ==';

  it('accepts single-signature, url-safe-base64, non-ascii-payload-type and empty-payload', () => {
    const keys = [{ keyid: 'A', key: KEY_A.publicKey }];
    const single = verifyEnvelope(envelope(payload, IN_TOTO, sigA), keys);
    expect(single).toEqual({ ok: true, keyid: 'A', payload: STATEMENT, payloadType: IN_TOTO });
    const urlSafe = verifyEnvelope(
      envelope(
        '-_-_Pj8=',
        IN_TOTO,
        'P-_KHICeR7tI6S_YyejJTRtrXhcQyQ2LYPaL8h90KjC9qN8HU_svOQ6TuDOT1HIrsGW886DbWNWcCmX5twLrAw==',
      ),
      keys,
    );
    expect(urlSafe.ok && urlSafe.payload.toString('hex')).toBe('fbffbf3e3f');
    const nonAscii = verifyEnvelope(
      envelope(
        payload,
        'application/vnd.exämple+json',
        'xmSk/ug66ysT7ayhkCIjhAq42zgZXSsEWuzUaNL7w2eGAdF/NU6/fRXPtmfN+5DNSAs5/i2lUnHjbbjPsu0tAw==',
      ),
      keys,
    );
    expect(nonAscii.ok).toBe(true);
    const empty = verifyEnvelope(
      envelope(
        '',
        IN_TOTO,
        'gSggCAaTLTYyRH6FIDBem6meyIynsYy8RTHVzwx9tnTb7Bg/1jMWnuVgI/gffqmbsC2VX5/jHfkkDqsj7CDbDg==',
      ),
      keys,
    );
    expect(empty.ok && empty.payload.length).toBe(0);
  });

  it('rejects payload-type-swapped and empty-payload-type', () => {
    const keys = [{ keyid: 'A', key: KEY_A.publicKey }];
    expect(
      verifyEnvelope(envelope(payload, 'application/vnd.example.other+json', sigA), keys),
    ).toEqual({ ok: false, reason: 'the signature does not verify with the trusted key' });
    expect(verifyEnvelope(envelope(payload, '', sigA), keys)).toEqual({
      ok: false,
      reason: 'payloadType must be a non-empty string',
    });
  });

  it('finds the trusted key among several, keyid or not', () => {
    const sigB =
      'c1+67/aT0yqEpwx8PsVY3MLHsj9D0CZ014/Fv/QlG59P+9CobUZ7xECJ/V3USG0Ob9CiE5LjReEZUzNF2l7eBw==';
    const result = verifyEnvelope({ payload, payloadType: IN_TOTO, signatures: [{ sig: sigB }] }, [
      { keyid: 'A', key: KEY_A.publicKey },
      { keyid: 'B', key: KEY_B.publicKey },
    ]);
    expect(result.ok && result.keyid).toBe('B');
  });
});

describe('signEnvelope / verifyEnvelope', () => {
  for (const curve of ['P-256', 'P-384'] as const) {
    it(`round-trips with ECDSA ${curve}, DER signatures over the PAE`, () => {
      const { privateKey, publicKey } = ecKeys(curve);
      const envelope = signEnvelope(IN_TOTO, STATEMENT, privateKey, 'k1');
      expect(envelope.payloadType).toBe(IN_TOTO);
      expect(envelope.payload).toBe(STATEMENT.toString('base64'));
      expect(envelope.signatures).toHaveLength(1);
      expect(envelope.signatures[0]?.keyid).toBe('k1');

      // Independently: plain crypto.verify over hand-built PAE bytes, hash by curve, DER.
      const sig = Buffer.from(envelope.signatures[0]?.sig ?? '', 'base64');
      expect(sig[0]).toBe(0x30); // an ASN.1 SEQUENCE
      const message = Buffer.concat([
        Buffer.from(`DSSEv1 ${IN_TOTO.length} ${IN_TOTO} ${STATEMENT.length} `),
        STATEMENT,
      ]);
      const hash = curve === 'P-256' ? 'sha256' : 'sha384';
      expect(verify(hash, message, { key: publicKey, dsaEncoding: 'der' }, sig)).toBe(true);
      const otherHash = curve === 'P-256' ? 'sha384' : 'sha256';
      expect(verify(otherHash, message, { key: publicKey, dsaEncoding: 'der' }, sig)).toBe(false);

      expect(verifyEnvelope(envelope, [{ keyid: 'trusted', key: publicKey }])).toEqual({
        ok: true,
        keyid: 'trusted',
        payload: STATEMENT,
        payloadType: IN_TOTO,
      });
      // A private key is accepted as the verification key too.
      expect(verifyEnvelope(envelope, [{ key: privateKey }]).ok).toBe(true);
    });
  }

  it('omits keyid when none is given and rejects unsupported keys', () => {
    const { privateKey, publicKey } = ecKeys('P-256');
    expect(signEnvelope(IN_TOTO, STATEMENT, privateKey).signatures[0]).not.toHaveProperty('keyid');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(() => signEnvelope(IN_TOTO, STATEMENT, rsa.privateKey)).toThrow('unsupported');
    expect(() => signEnvelope(IN_TOTO, STATEMENT, publicKey)).toThrow('private key');
    const envelope = signEnvelope(IN_TOTO, STATEMENT, privateKey);
    expect(verifyEnvelope(envelope, [{ key: rsa.publicKey }])).toEqual({
      ok: false,
      reason: 'no usable verification key (ECDSA P-256, P-384, P-521 or Ed25519 public keys)',
    });
  });

  it('says why an envelope fails', () => {
    const { privateKey, publicKey } = ecKeys('P-256');
    const keys = [{ key: publicKey }];
    const good = signEnvelope(IN_TOTO, STATEMENT, privateKey);
    const sig = good.signatures[0]?.sig ?? '';
    const reason = (envelope: unknown, with_ = keys): string => {
      const result = verifyEnvelope(envelope, with_);
      return result.ok ? 'ok' : result.reason;
    };

    const tampered: DsseEnvelope = {
      ...good,
      payload: Buffer.from('{"_type":"https://in-toto.io/Statement/v2"}').toString('base64'),
    };
    expect(reason(tampered)).toBe('the signature does not verify with the trusted key');
    const other = ecKeys('P-256').publicKey;
    expect(reason(good, [{ key: other }, { key: ecKeys('P-384').publicKey }])).toBe(
      'the signature does not verify with any of the 2 trusted keys',
    );
    expect(reason({ ...good, signatures: [{ sig }, { sig }] }, [{ key: other }])).toBe(
      'none of the 2 signatures verifies with the trusted key',
    );

    expect(reason({ ...good, payload: 'not base64!' })).toBe('payload is not valid base64');
    expect(reason({ ...good, payload: 'abcde' })).toBe('payload is not valid base64');
    expect(reason({ ...good, payload: 'ab+_' })).toBe('payload is not valid base64');
    expect(reason({ ...good, signatures: [{ sig: '%%%' }] })).toBe(
      'signatures[0].sig is not valid base64',
    );
    expect(reason({ ...good, signatures: [{ sig: '' }] })).toBe(
      'signatures[0].sig must be a base64 string',
    );
    expect(reason({ ...good, signatures: [] })).toBe('signatures must be a non-empty array');
    expect(reason({ ...good, signatures: Array.from({ length: 9 }, () => ({ sig })) })).toBe(
      'more than 8 signatures',
    );
    expect(reason({ ...good, signatures: [{ sig, keyid: 7 }] })).toBe(
      'signatures[0].keyid must be a string',
    );
    expect(reason({ ...good, signatures: [{ sig, extra: 1 }] })).toBe(
      'signatures[0] has unknown field(s): extra',
    );
    expect(reason({ ...good, signatures: [{ sig, keyid: null }] })).toBe('ok');
    expect(reason({ ...good, unsigned: true })).toBe('the envelope has unknown field(s): unsigned');
    expect(reason({ ...good, payloadType: 7 })).toBe('payloadType must be a non-empty string');
    expect(reason({ ...good, payloadType: 'x'.repeat(257) })).toBe(
      'payloadType is longer than 256 characters',
    );
    expect(reason({ ...good, payload: 'A'.repeat(45_000_000) })).toBe(
      `payload is larger than ${32 << 20} bytes`,
    );
    expect(reason(null)).toBe('the envelope is not a JSON object');
    expect(reason([good])).toBe('the envelope is not a JSON object');
    expect(reason(good)).toBe('ok');
  });
});
