import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import {
  compareResourceNames,
  isIgnored,
  parseShardName,
  subjectDigestOf,
  type Manifest,
  type ManifestSerialization,
} from '../manifest/oms-manifest.ts';
import { signEnvelope, verifyEnvelope, type DsseEnvelope, type DsseKey } from './dsse.ts';

/**
 * Model signatures as `model_signing` v1.x (sigstore/model-transparency) writes them in key mode:
 * a Sigstore bundle v0.3 (protobuf-specs JSON) whose DSSE envelope carries an in-toto Statement v1
 * with the `https://model_signing/signature/v1.0` predicate, the model's digest manifest.
 * Verification checks the signature, then the statement, then compares the signed manifest with
 * one computed from the model's bytes, resource by resource.
 */

export const SIGSTORE_BUNDLE_V03_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/** The same media type in its older spelling, which protobuf-specs also accepts for v0.3. */
const SIGSTORE_BUNDLE_V03_ALT_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle+json;version=0.3';
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const IN_TOTO_STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const MODEL_SIGNING_PREDICATE_TYPE = 'https://model_signing/signature/v1.0';
/** The predicate of model_signing before 1.0, which this verifier does not read. */
const MODEL_SIGNING_PREDICATE_TYPE_V01 = 'https://model_signing/Digests/v0.1';

/** Largest signature file read, and most resources a signed manifest may list. */
const MAX_BUNDLE_CHARS = 48 << 20;
const MAX_RESOURCES = 1_000_000;

export interface InTotoStatement {
  _type: typeof IN_TOTO_STATEMENT_TYPE;
  subject: [{ name: string; digest: { sha256: string } }];
  predicateType: typeof MODEL_SIGNING_PREDICATE_TYPE;
  predicate: {
    serialization: ManifestSerialization;
    resources: { name: string; algorithm: string; digest: string }[];
  };
}

/** `model.sig` in key mode. */
export interface ModelSignatureBundle {
  mediaType: typeof SIGSTORE_BUNDLE_V03_MEDIA_TYPE;
  verificationMaterial: { publicKey: { hint: string }; tlogEntries: [] };
  dsseEnvelope: DsseEnvelope;
}

export type ModelSignatureResult =
  | { status: 'VERIFIED'; keyid: string | undefined; signedSubjectDigest: string }
  /** Malformed bundle, bad signature, wrong payload type, wrong predicate type. */
  | { status: 'INVALID'; reason: string }
  /** The signature is good, but the signed resources differ from the computed manifest. */
  | {
      status: 'MISMATCH';
      reason: string;
      missing: string[];
      extra: string[];
      mismatched: string[];
    };

/**
 * The in-toto statement `model_signing` signs for a manifest: the model named by its folder, the
 * subject digest over all resource digests, and the manifest itself as the predicate.
 */
export function buildStatement(modelName: string, manifest: Manifest): InTotoStatement {
  const resources = manifest.resources.map(({ name, algorithm, digest }) => ({
    name,
    algorithm,
    digest,
  }));
  const subjectDigest = subjectDigestOf(resources.map((r) => r.digest));
  if (subjectDigest !== manifest.subjectDigest) {
    throw new Error('the manifest subject digest does not match its resources');
  }
  return {
    _type: IN_TOTO_STATEMENT_TYPE,
    subject: [{ name: modelName, digest: { sha256: subjectDigest } }],
    predicateType: MODEL_SIGNING_PREDICATE_TYPE,
    predicate: { serialization: { ...manifest.serialization }, resources },
  };
}

/**
 * Signs a manifest with an elliptic-curve private key (P-256, P-384 or P-521, the curves
 * `model_signing` accepts) and returns the `model.sig` bundle. As model_signing's key signer
 * writes it: the key named by {@link modelSigningKeyHint}, no transparency-log entries, and one
 * DSSE signature with an empty keyid.
 */
export function signModel(
  modelName: string,
  manifest: Manifest,
  privateKey: KeyObject,
): ModelSignatureBundle {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ec') {
    throw new TypeError('model signatures need an elliptic-curve private key');
  }
  const statement = Buffer.from(JSON.stringify(buildStatement(modelName, manifest)), 'utf8');
  return {
    mediaType: SIGSTORE_BUNDLE_V03_MEDIA_TYPE,
    verificationMaterial: {
      publicKey: { hint: modelSigningKeyHint(privateKey) },
      tlogEntries: [],
    },
    dsseEnvelope: signEnvelope(IN_TOTO_PAYLOAD_TYPE, statement, privateKey, ''),
  };
}

/** Key id: SHA-256 of the key's SubjectPublicKeyInfo DER, hex. Accepts a private key too. */
export function publicKeyFingerprint(key: KeyObject): string {
  const der = publicOf(key).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex');
}

/**
 * `verificationMaterial.publicKey.hint` as `model_signing` computes it: SHA-256 of the public
 * key's SubjectPublicKeyInfo PEM text, hex (not of the DER, unlike {@link publicKeyFingerprint}).
 */
export function modelSigningKeyHint(key: KeyObject): string {
  const pem = publicOf(key).export({ type: 'spki', format: 'pem' });
  return createHash('sha256').update(pem).digest('hex');
}

/**
 * Verifies `model.sig` (a JSON string, bytes, or the parsed object) against trusted keys and the
 * manifest computed from the model's bytes. INVALID when anything about the signature is wrong;
 * MISMATCH when the signature is good but signs other bytes (by resource name: `missing` signed
 * but absent, `extra` present but unsigned, `mismatched` digest differs) or another serialization.
 * Computed resources under the signature's `ignore_paths` are left out of the comparison, as the
 * reference verifier ignores them.
 */
export function verifyModelSignature(
  bundle: unknown,
  manifest: Manifest,
  keys: DsseKey[],
): ModelSignatureResult {
  const invalid = (reason: string): ModelSignatureResult => ({ status: 'INVALID', reason });
  const parsedBundle = parseJson(bundle);
  if (!parsedBundle.ok)
    return invalid(`the signature is not a JSON document: ${parsedBundle.reason}`);
  const root = parsedBundle.value;
  if (!isRecord(root)) return invalid('the signature is not a JSON object');
  const material = root.verificationMaterial;
  // Checked before the media type: keyless bundles of any version get the same answer.
  if (isRecord(material) && ('certificate' in material || 'x509CertificateChain' in material)) {
    return invalid('keyless Sigstore bundles are not supported yet');
  }
  if (
    root.mediaType !== SIGSTORE_BUNDLE_V03_MEDIA_TYPE &&
    root.mediaType !== SIGSTORE_BUNDLE_V03_ALT_MEDIA_TYPE
  ) {
    return invalid(
      `unsupported bundle media type ${JSON.stringify(root.mediaType)}, expected ${SIGSTORE_BUNDLE_V03_MEDIA_TYPE}`,
    );
  }
  if (!isRecord(material)) return invalid('the bundle has no verificationMaterial');
  if (!isRecord(material.publicKey)) return invalid('verificationMaterial has no publicKey');
  const hint = material.publicKey.hint;
  if (hint !== undefined && hint !== null && typeof hint !== 'string') {
    return invalid('verificationMaterial.publicKey.hint must be a string');
  }
  let candidates = keys;
  if (typeof hint === 'string' && hint !== '') {
    // Signers name the key by model_signing's PEM hash; a DER fingerprint is accepted as well.
    candidates = keys.filter(
      ({ key }) => modelSigningKeyHint(key) === hint || publicKeyFingerprint(key) === hint,
    );
    if (candidates.length === 0) {
      return invalid(`the bundle names public key ${hint}, which is not a trusted key`);
    }
  }
  if (!('dsseEnvelope' in root)) return invalid('the bundle carries no DSSE envelope');
  const envelope = verifyEnvelope(root.dsseEnvelope, candidates);
  if (!envelope.ok) return invalid(`DSSE: ${envelope.reason}`);
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    return invalid(
      `DSSE payload type is ${JSON.stringify(envelope.payloadType)}, expected ${IN_TOTO_PAYLOAD_TYPE}`,
    );
  }

  const statement = parseStatement(envelope.payload);
  if ('reason' in statement) return invalid(statement.reason);

  const serializationDifference = compareSerialization(statement.serialization, manifest);
  if (serializationDifference !== null) {
    return {
      status: 'MISMATCH',
      reason: serializationDifference,
      missing: [],
      extra: [],
      mismatched: [],
    };
  }

  const shards = manifest.serialization.method === 'shards';
  const signedIgnores = statement.ignorePaths;
  const computed = new Map<string, string>();
  for (const { name, algorithm, digest } of manifest.resources) {
    const path = shards ? (parseShardName(name)?.path ?? name) : name;
    if (!isIgnored(path, signedIgnores)) computed.set(name, `${algorithm}:${digest}`);
  }
  const missing: string[] = [];
  const mismatched: string[] = [];
  for (const [name, signed] of statement.resources) {
    const actual = computed.get(name);
    if (actual === undefined) missing.push(name);
    else if (actual !== signed) mismatched.push(name);
  }
  const extra = [...computed.keys()].filter((name) => !statement.resources.has(name));
  if (missing.length + extra.length + mismatched.length === 0) {
    return {
      status: 'VERIFIED',
      keyid: envelope.keyid,
      signedSubjectDigest: statement.subjectDigest,
    };
  }
  const order = (a: string, b: string): number => compareResourceNames(a, b, shards);
  missing.sort(order);
  extra.sort(order);
  mismatched.sort(order);
  const parts = [
    mismatched.length > 0 ? `${mismatched.length} with another digest` : null,
    missing.length > 0 ? `${missing.length} signed but not in the model` : null,
    extra.length > 0 ? `${extra.length} in the model but not signed` : null,
  ].filter((part) => part !== null);
  return {
    status: 'MISMATCH',
    reason: `the model differs from the signed manifest: ${parts.join(', ')} (first: ${
      mismatched[0] ?? missing[0] ?? extra[0]
    })`,
    missing,
    extra,
    mismatched,
  };
}

interface SignedStatement {
  subjectDigest: string;
  serialization: Record<string, unknown>;
  ignorePaths: string[];
  /** name → `algorithm:digest` */
  resources: Map<string, string>;
}

function parseStatement(payload: Buffer): SignedStatement | { reason: string } {
  let statement: unknown;
  try {
    statement = JSON.parse(payload.toString('utf8'));
  } catch {
    return { reason: 'the signed payload is not JSON' };
  }
  if (!isRecord(statement)) return { reason: 'the signed payload is not a JSON object' };
  if (statement._type !== IN_TOTO_STATEMENT_TYPE) {
    return {
      reason: `the signed statement's _type is ${JSON.stringify(statement._type)}, expected ${IN_TOTO_STATEMENT_TYPE}`,
    };
  }
  if (statement.predicateType === MODEL_SIGNING_PREDICATE_TYPE_V01) {
    return {
      reason: `pre-1.0 model signatures (${MODEL_SIGNING_PREDICATE_TYPE_V01}) are not supported`,
    };
  }
  if (statement.predicateType !== MODEL_SIGNING_PREDICATE_TYPE) {
    return {
      reason: `predicate type ${JSON.stringify(statement.predicateType)} is not ${MODEL_SIGNING_PREDICATE_TYPE}`,
    };
  }
  const subjects = statement.subject;
  if (!Array.isArray(subjects) || subjects.length !== 1) {
    return { reason: 'the statement must have exactly one subject' };
  }
  const subject: unknown = subjects[0];
  const subjectDigest =
    isRecord(subject) && isRecord(subject.digest) ? subject.digest.sha256 : undefined;
  if (typeof subjectDigest !== 'string' || !/^[0-9a-f]{64}$/.test(subjectDigest)) {
    return { reason: 'the subject has no sha256 digest' };
  }
  const predicate = statement.predicate;
  if (!isRecord(predicate)) return { reason: 'the statement has no predicate' };
  const serialization = predicate.serialization;
  if (!isRecord(serialization)) return { reason: 'the predicate has no serialization' };
  const ignorePaths = serialization.ignore_paths ?? [];
  if (!Array.isArray(ignorePaths) || !ignorePaths.every((p) => typeof p === 'string')) {
    return { reason: 'serialization.ignore_paths must be a list of paths' };
  }
  const list = predicate.resources;
  if (!Array.isArray(list)) return { reason: 'the predicate has no resources list' };
  if (list.length > MAX_RESOURCES) return { reason: `more than ${MAX_RESOURCES} resources` };
  const resources = new Map<string, string>();
  const digests: string[] = [];
  for (const [i, resource] of (list as unknown[]).entries()) {
    if (!isRecord(resource)) return { reason: `resources[${i}] is not an object` };
    const { name, algorithm, digest } = resource;
    if (typeof name !== 'string' || name === '') return { reason: `resources[${i}] has no name` };
    if (typeof algorithm !== 'string' || algorithm === '') {
      return { reason: `resource ${name} has no algorithm` };
    }
    if (typeof digest !== 'string' || !/^(?:[0-9a-fA-F]{2})+$/.test(digest)) {
      return { reason: `resource ${name} has no hex digest` };
    }
    if (resources.has(name)) return { reason: `resource ${name} is listed twice` };
    resources.set(name, `${algorithm}:${digest.toLowerCase()}`);
    digests.push(digest);
  }
  const recomputed = subjectDigestOf(digests);
  if (recomputed !== subjectDigest) {
    return {
      reason: `the signed manifest is inconsistent: the subject digest is ${subjectDigest}, but the resources hash to ${recomputed}`,
    };
  }
  return { subjectDigest, serialization, ignorePaths, resources };
}

function compareSerialization(signed: Record<string, unknown>, manifest: Manifest): string | null {
  const computed = manifest.serialization;
  if (signed.method !== computed.method) {
    return `the model was signed with ${JSON.stringify(signed.method)} serialization, the manifest was computed with ${JSON.stringify(computed.method)}`;
  }
  // model_signing 1.0 recorded the shard hasher's name here ("sha256-sharded-<size>"), later "sha256".
  const hashType = signed.hash_type;
  const sha256 =
    hashType === 'sha256' ||
    (computed.method === 'shards' && hashType === `sha256-sharded-${String(signed.shard_size)}`);
  if (!sha256) {
    return `the model was signed with hash ${JSON.stringify(hashType)}; only sha256 is computed`;
  }
  if (computed.method === 'shards' && Number(signed.shard_size) !== computed.shard_size) {
    return `the model was signed with shards of ${String(signed.shard_size)} bytes, the manifest was computed with shards of ${computed.shard_size} bytes`;
  }
  return null;
}

function parseJson(input: unknown): { ok: true; value: unknown } | { ok: false; reason: string } {
  if (typeof input !== 'string' && !Buffer.isBuffer(input) && !(input instanceof Uint8Array)) {
    return { ok: true, value: input };
  }
  const text = typeof input === 'string' ? input : Buffer.from(input).toString('utf8');
  if (text.length > MAX_BUNDLE_CHARS) return { ok: false, reason: 'larger than 48 MiB' };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
}

function publicOf(key: KeyObject): KeyObject {
  return key.type === 'private' ? createPublicKey(key) : key;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
