import { createHash, generateKeyPairSync, verify, type KeyObject } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  computeManifest,
  type Manifest,
} from '../../../subgraphs/model-attestation/domain/manifest/oms-manifest.ts';
import { signEnvelope } from '../../../subgraphs/model-attestation/domain/signing/dsse.ts';
import {
  buildStatement,
  modelSigningKeyHint,
  publicKeyFingerprint,
  signModel,
  verifyModelSignature,
  type ModelSignatureBundle,
} from '../../../subgraphs/model-attestation/domain/signing/model-signature.ts';
import { createModelDir, seededBytes, type ModelDir } from '../../support/model-files.ts';

const SHARD = 1000;
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const TRUSTED = [{ keyid: 'release-key', key: publicKey }];

let model: ModelDir | undefined;
afterEach(() => {
  model?.cleanup();
  model = undefined;
});

function sampleModel(): ModelDir {
  return createModelDir({
    'config.json': Buffer.from('{"architectures":["LlamaForCausalLM"]}'),
    'model-00001-of-00002.safetensors': seededBytes(2500, 'w1'),
    'model-00002-of-00002.safetensors': seededBytes(1800, 'w2'),
    'tokenizer/tokenizer.json': seededBytes(700, 'tok'),
  });
}

const manifestOf = (dir: ModelDir, shardSize = SHARD): Promise<Manifest> =>
  computeManifest(dir.files('local'), { shardSize });

/** Re-signs a bundle whose statement was edited, so only the edit is wrong. */
function resign(statement: unknown, key: KeyObject = privateKey): ModelSignatureBundle {
  const bundle = signModel('m', emptyManifest, key);
  return {
    ...bundle,
    dsseEnvelope: signEnvelope(
      'application/vnd.in-toto+json',
      Buffer.from(JSON.stringify(statement)),
      key,
      '',
    ),
  };
}
const emptyManifest: Manifest = {
  serialization: {
    method: 'shards',
    hash_type: 'sha256',
    shard_size: SHARD,
    allow_symlinks: false,
    ignore_paths: [],
  },
  resources: [],
  subjectDigest: createHash('sha256').digest('hex'),
  totalBytes: 0,
};

describe('model signatures (model_signing v1.0, Sigstore bundle v0.3 in key mode)', () => {
  it('writes the bundle and statement the way model_signing does', async () => {
    model = sampleModel();
    const manifest = await manifestOf(model);
    const statement = buildStatement('llama-tiny', manifest);
    expect(statement).toEqual({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: 'llama-tiny', digest: { sha256: manifest.subjectDigest } }],
      predicateType: 'https://model_signing/signature/v1.0',
      predicate: {
        serialization: manifest.serialization,
        resources: manifest.resources.map(({ name, algorithm, digest }) => ({
          name,
          algorithm,
          digest,
        })),
      },
    });
    expect(statement.predicate.resources[0]).toEqual({
      name: 'config.json:0:38',
      algorithm: 'sha256-sharded-1000',
      digest: createHash('sha256').update('{"architectures":["LlamaForCausalLM"]}').digest('hex'),
    });

    const bundle = signModel('llama-tiny', manifest, privateKey);
    const pem = publicKey.export({ type: 'spki', format: 'pem' });
    expect(bundle).toEqual({
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      verificationMaterial: {
        publicKey: { hint: createHash('sha256').update(pem).digest('hex') },
        tlogEntries: [],
      },
      dsseEnvelope: {
        payloadType: 'application/vnd.in-toto+json',
        payload: Buffer.from(JSON.stringify(statement)).toString('base64'),
        signatures: [{ keyid: '', sig: expect.any(String) as string }],
      },
    });
    expect(bundle.verificationMaterial.publicKey.hint).toBe(modelSigningKeyHint(privateKey));

    // The DSSE signature checked by hand: ECDSA P-256 / SHA-256, DER, over PAE.
    const payload = Buffer.from(bundle.dsseEnvelope.payload, 'base64');
    const type = bundle.dsseEnvelope.payloadType;
    const message = Buffer.concat([
      Buffer.from(`DSSEv1 ${type.length} ${type} ${payload.length} `),
      payload,
    ]);
    const sig = Buffer.from(bundle.dsseEnvelope.signatures[0]?.sig ?? '', 'base64');
    expect(verify('sha256', message, publicKey, sig)).toBe(true);
  });

  it('verifies a signed model, from the object or from model.sig JSON text', async () => {
    model = sampleModel();
    const manifest = await manifestOf(model);
    const bundle = signModel('llama-tiny', manifest, privateKey);
    const expected = {
      status: 'VERIFIED',
      keyid: 'release-key',
      signedSubjectDigest: manifest.subjectDigest,
    };
    expect(verifyModelSignature(bundle, manifest, TRUSTED)).toEqual(expected);
    expect(verifyModelSignature(JSON.stringify(bundle), manifest, TRUSTED)).toEqual(expected);
    expect(verifyModelSignature(Buffer.from(JSON.stringify(bundle)), manifest, TRUSTED)).toEqual(
      expected,
    );
    // Recomputed by streaming the bytes instead: the same manifest, the same answer.
    const streamed = await computeManifest(model.files('stream'), { shardSize: SHARD });
    expect(verifyModelSignature(bundle, streamed, TRUSTED)).toEqual(expected);
    // P-384 keys sign too.
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    expect(
      verifyModelSignature(signModel('m', manifest, p384.privateKey), manifest, [
        { key: p384.publicKey },
      ]),
    ).toEqual({ ...expected, keyid: undefined });
  });

  it('reports a changed file as mismatched', async () => {
    model = sampleModel();
    const bundle = signModel('m', await manifestOf(model), privateKey);
    const changed = seededBytes(1800, 'w2');
    changed[1500] = (changed[1500] as number) ^ 1;
    model.write('model-00002-of-00002.safetensors', changed);
    const result = verifyModelSignature(bundle, await manifestOf(model), TRUSTED);
    expect(result).toEqual({
      status: 'MISMATCH',
      reason:
        'the model differs from the signed manifest: 1 with another digest (first: model-00002-of-00002.safetensors:1000:1800)',
      missing: [],
      extra: [],
      mismatched: ['model-00002-of-00002.safetensors:1000:1800'],
    });
  });

  it('reports an added file as extra and a removed one as missing', async () => {
    model = sampleModel();
    const bundle = signModel('m', await manifestOf(model), privateKey);
    model.write('adapter/lora.safetensors', seededBytes(10, 'lora'));
    const added = verifyModelSignature(bundle, await manifestOf(model), TRUSTED);
    expect(added).toMatchObject({
      status: 'MISMATCH',
      missing: [],
      extra: ['adapter/lora.safetensors:0:10'],
      mismatched: [],
    });
    model.remove('adapter/lora.safetensors');
    model.remove('tokenizer/tokenizer.json');
    const removed = verifyModelSignature(bundle, await manifestOf(model), TRUSTED);
    expect(removed).toMatchObject({
      status: 'MISMATCH',
      reason: expect.stringContaining('1 signed but not in the model') as string,
      missing: ['tokenizer/tokenizer.json:0:700'],
      extra: [],
      mismatched: [],
    });
  });

  it('ignores files under the signed ignore_paths, as the reference verifier does', async () => {
    model = sampleModel();
    const signed = await computeManifest(model.files('local'), {
      shardSize: SHARD,
      ignorePaths: ['tokenizer'],
    });
    const bundle = signModel('m', signed, privateKey);
    expect(verifyModelSignature(bundle, await manifestOf(model), TRUSTED).status).toBe('VERIFIED');
  });

  it('reports another serialization as a mismatch', async () => {
    model = sampleModel();
    const bundle = signModel('m', await manifestOf(model), privateKey);
    expect(verifyModelSignature(bundle, await manifestOf(model, 512), TRUSTED)).toEqual({
      status: 'MISMATCH',
      reason:
        'the model was signed with shards of 1000 bytes, the manifest was computed with shards of 512 bytes',
      missing: [],
      extra: [],
      mismatched: [],
    });
    const byFile = await computeManifest(model.files('local'), { method: 'files' });
    expect(verifyModelSignature(bundle, byFile, TRUSTED)).toMatchObject({
      status: 'MISMATCH',
      reason:
        'the model was signed with "shards" serialization, the manifest was computed with "files"',
    });
    // Files mode signs and verifies on its own.
    expect(verifyModelSignature(signModel('m', byFile, privateKey), byFile, TRUSTED).status).toBe(
      'VERIFIED',
    );
  });

  it('rejects a signature from another key', async () => {
    model = sampleModel();
    const manifest = await manifestOf(model);
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const foreign = signModel('m', manifest, other.privateKey);
    expect(verifyModelSignature(foreign, manifest, TRUSTED)).toEqual({
      status: 'INVALID',
      reason: `the bundle names public key ${modelSigningKeyHint(other.publicKey)}, which is not a trusted key`,
    });
    // Without the hint, the signature itself fails.
    const unnamed = {
      ...foreign,
      verificationMaterial: { publicKey: {}, tlogEntries: [] },
    };
    expect(verifyModelSignature(unnamed, manifest, TRUSTED)).toEqual({
      status: 'INVALID',
      reason: 'DSSE: the signature does not verify with the trusted key',
    });
    // A hint naming our key on another key's signature fails too.
    const lying = {
      ...foreign,
      verificationMaterial: {
        publicKey: { hint: modelSigningKeyHint(publicKey) },
        tlogEntries: [],
      },
    };
    expect(verifyModelSignature(lying, manifest, TRUSTED).status).toBe('INVALID');
    // The DER fingerprint names a key as well.
    const byFingerprint = {
      ...signModel('m', manifest, privateKey),
      verificationMaterial: { publicKey: { hint: publicKeyFingerprint(publicKey) } },
    };
    expect(verifyModelSignature(byFingerprint, manifest, TRUSTED).status).toBe('VERIFIED');
  });

  it('rejects a tampered statement', async () => {
    model = sampleModel();
    const manifest = await manifestOf(model);
    const bundle = signModel('m', manifest, privateKey);
    const statement = buildStatement('m', manifest);
    const edited = { ...statement, subject: [{ name: 'm', digest: { sha256: 'ab'.repeat(32) } }] };
    const tampered = {
      ...bundle,
      dsseEnvelope: {
        ...bundle.dsseEnvelope,
        payload: Buffer.from(JSON.stringify(edited)).toString('base64'),
      },
    };
    expect(verifyModelSignature(tampered, manifest, TRUSTED)).toEqual({
      status: 'INVALID',
      reason: 'DSSE: the signature does not verify with the trusted key',
    });
  });

  it('rejects statements that are not model_signing v1.0 manifests', async () => {
    model = sampleModel();
    const manifest = await manifestOf(model);
    const statement = buildStatement('m', manifest);
    const reason = (edited: unknown): string => {
      const result = verifyModelSignature(resign(edited), manifest, TRUSTED);
      return result.status === 'INVALID' ? result.reason : result.status;
    };
    expect(reason(statement)).toBe('VERIFIED');
    expect(reason({ ...statement, predicateType: 'https://slsa.dev/provenance/v1' })).toBe(
      'predicate type "https://slsa.dev/provenance/v1" is not https://model_signing/signature/v1.0',
    );
    expect(reason({ ...statement, predicateType: 'https://model_signing/Digests/v0.1' })).toBe(
      'pre-1.0 model signatures (https://model_signing/Digests/v0.1) are not supported',
    );
    expect(reason({ ...statement, _type: 'https://in-toto.io/Statement/v0.1' })).toBe(
      'the signed statement\'s _type is "https://in-toto.io/Statement/v0.1", expected https://in-toto.io/Statement/v1',
    );
    expect(reason({ ...statement, subject: [] })).toBe(
      'the statement must have exactly one subject',
    );
    const wrongSubject = {
      ...statement,
      subject: [{ name: 'm', digest: { sha256: 'cd'.repeat(32) } }],
    };
    expect(reason(wrongSubject)).toBe(
      `the signed manifest is inconsistent: the subject digest is ${'cd'.repeat(32)}, but the resources hash to ${manifest.subjectDigest}`,
    );
    const [first, ...rest] = statement.predicate.resources;
    const duplicated = {
      ...statement,
      predicate: { ...statement.predicate, resources: [first, first, ...rest] },
    };
    expect(reason(duplicated)).toBe(`resource ${first?.name} is listed twice`);
    expect(reason({ ...statement, predicate: { resources: [] } })).toBe(
      'the predicate has no serialization',
    );
    expect(reason('just a string')).toBe('the signed payload is not a JSON object');

    const wrongType = {
      ...signModel('m', manifest, privateKey),
      dsseEnvelope: signEnvelope(
        'application/json',
        Buffer.from(JSON.stringify(statement)),
        privateKey,
      ),
    };
    expect(verifyModelSignature(wrongType, manifest, TRUSTED)).toEqual({
      status: 'INVALID',
      reason: 'DSSE payload type is "application/json", expected application/vnd.in-toto+json',
    });
  });

  it('rejects garbage, other bundle kinds and keyless bundles', async () => {
    model = sampleModel();
    const manifest = await manifestOf(model);
    const bundle = signModel('m', manifest, privateKey);
    const reason = (input: unknown): string => {
      const result = verifyModelSignature(input, manifest, TRUSTED);
      return result.status === 'INVALID' ? result.reason : result.status;
    };
    expect(reason('{"mediaType": ')).toMatch(/^the signature is not a JSON document: /);
    expect(reason(Buffer.from([0xff, 0x00, 0x13]))).toMatch(
      /^the signature is not a JSON document/,
    );
    expect(reason(42)).toBe('the signature is not a JSON object');
    expect(reason({ ...bundle, mediaType: 'application/vnd.dev.sigstore.bundle.v0.1+json' })).toBe(
      'unsupported bundle media type "application/vnd.dev.sigstore.bundle.v0.1+json", expected application/vnd.dev.sigstore.bundle.v0.3+json',
    );
    expect(
      reason({
        ...bundle,
        verificationMaterial: { certificate: { rawBytes: 'MIIB' }, tlogEntries: [{}] },
      }),
    ).toBe('keyless Sigstore bundles are not supported yet');
    expect(
      reason({
        ...bundle,
        mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.2',
        verificationMaterial: { x509CertificateChain: { certificates: [] } },
      }),
    ).toBe('keyless Sigstore bundles are not supported yet');
    expect(reason({ ...bundle, verificationMaterial: { tlogEntries: [] } })).toBe(
      'verificationMaterial has no publicKey',
    );
    const { dsseEnvelope: _envelope, ...noEnvelope } = bundle;
    expect(reason({ ...noEnvelope, messageSignature: {} })).toBe(
      'the bundle carries no DSSE envelope',
    );
    expect(reason({ ...bundle, dsseEnvelope: { ...bundle.dsseEnvelope, payload: '***' } })).toBe(
      'DSSE: payload is not valid base64',
    );
    // The alternative v0.3 media type spelling is the same format.
    expect(
      reason({ ...bundle, mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.3' }),
    ).toBe('VERIFIED');
  });

  it('fingerprints keys by their SPKI DER', () => {
    const der = publicKey.export({ type: 'spki', format: 'der' });
    const expected = createHash('sha256').update(der).digest('hex');
    expect(publicKeyFingerprint(publicKey)).toBe(expected);
    expect(publicKeyFingerprint(privateKey)).toBe(expected);
    expect(() => signModel('m', emptyManifest, generateKeyPairSync('ed25519').privateKey)).toThrow(
      'elliptic-curve',
    );
  });
});
