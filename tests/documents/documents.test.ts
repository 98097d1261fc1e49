import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../support/gpu.ts';
import { backends } from '../support/config.ts';
import { pollingRateLimit } from '../support/attestation.ts';
import {
  errorCode,
  newAccount,
  signUp,
  startTestSupergraph,
  type GraphQLResponse,
  type SignedUp,
  type TestSupergraph,
} from '../support/supergraph.ts';
import type { DocumentsService } from '../../subgraphs/documents/index.ts';

interface DocumentView {
  id: string;
  kind: string;
  title: string;
  tags: string[];
  metadata: Record<string, unknown>;
  visibility: string;
  version: number;
  access: string;
  deletedAt: string | null;
  restorableUntil: string | null;
  legalHold: boolean;
  files: {
    name: string;
    contentType: string;
    sizeBytes: number;
    sha256: string;
    downloadUrl: string;
  }[];
  versions: { version: number; title: string; change: string; files: { name: string }[] }[];
  grants: { id: string; userId: string | null; role: string | null; access: string }[];
}

const documentFields = /* GraphQL */ `
  fragment DocumentFields on Document {
    id
    kind
    title
    tags
    metadata
    visibility
    version
    access
    deletedAt
    restorableUntil
    legalHold
    files {
      name
      contentType
      sizeBytes
      sha256
      downloadUrl
    }
    versions {
      version
      title
      change
      files {
        name
      }
    }
    grants {
      id
      userId
      role
      access
    }
  }
`;

let supergraph: TestSupergraph;
let owner: SignedUp;
let other: SignedUp;
let viewer: { accessToken: string; userId: string };
let auditor: { accessToken: string; userId: string };
let operatorKey: string;

async function call<T>(
  query: string,
  variables: Record<string, unknown>,
  token: string | null,
): Promise<GraphQLResponse<T>> {
  return supergraph.graphql<T>(query, variables, token);
}

/** Invites a member with `role` into the owner's organization and accepts for them. */
async function addMember(role: string): Promise<{ accessToken: string; userId: string }> {
  const account = newAccount(role.toLowerCase());
  const invited = await call<{ inviteMember: { invitationToken: string; user: { id: string } } }>(
    'mutation($i: InviteMemberInput!) { inviteMember(input: $i) { invitationToken user { id } } }',
    { i: { email: account.email, role } },
    owner.accessToken,
  );
  const accepted = await call<{ acceptInvitation: { accessToken: string } }>(
    'mutation($i: AcceptInvitationInput!) { acceptInvitation(input: $i) { accessToken } }',
    { i: { token: invited.data!.inviteMember.invitationToken, password: account.password } },
    null,
  );
  return {
    accessToken: accepted.data!.acceptInvitation.accessToken,
    userId: invited.data!.inviteMember.user.id,
  };
}

async function createDocument(
  token: string,
  input: Record<string, unknown>,
): Promise<DocumentView> {
  const result = await call<{ createDocument: DocumentView }>(
    `mutation($i: CreateDocumentInput!) { createDocument(input: $i) { ...DocumentFields } } ${documentFields}`,
    { i: input },
    token,
  );
  if (!result.data) throw new Error(JSON.stringify(result.errors));
  return result.data.createDocument;
}

function updateDocument(token: string, input: Record<string, unknown>) {
  return call<{ updateDocument: DocumentView }>(
    `mutation($i: UpdateDocumentInput!) { updateDocument(input: $i) { ...DocumentFields } } ${documentFields}`,
    { i: input },
    token,
  );
}

function readDocument(token: string, id: string, includeDeleted = false) {
  return call<{ document: DocumentView | null }>(
    `query($id: ID!, $d: Boolean) { document(id: $id, includeDeleted: $d) { ...DocumentFields } } ${documentFields}`,
    { id, d: includeDeleted },
    token,
  );
}

async function listDocuments(token: string, filter: Record<string, unknown> = {}) {
  const result = await call<{ documents: { edges: { node: { id: string } }[] } }>(
    'query($f: DocumentFilter) { documents(first: 25, filter: $f) { edges { node { id } } } }',
    { f: filter },
    token,
  );
  if (!result.data) throw new Error(JSON.stringify(result.errors));
  return result.data.documents.edges.map((edge) => edge.node.id);
}

/** Uploads `bytes` as the document's new file through the signed URL; returns the response. */
async function upload(
  token: string,
  documentId: string,
  expectedVersion: number,
  bytes: Buffer,
  options: { declaredSize?: number; sha256?: string } = {},
) {
  const requested = await call<{
    requestDocumentUpload: {
      id: string;
      target: { url: string; method: string; headers: Record<string, string> };
    };
  }>(
    `mutation($i: RequestDocumentUploadInput!) {
      requestDocumentUpload(input: $i) { id target { url method headers expiresAt } }
    }`,
    {
      i: {
        documentId,
        fileName: 'soc2-report.pdf',
        contentType: 'application/pdf',
        sizeBytes: options.declaredSize ?? bytes.length,
      },
    },
    token,
  );
  if (!requested.data) throw new Error(JSON.stringify(requested.errors));
  const { id, target } = requested.data.requestDocumentUpload;
  const put = await fetch(target.url, {
    method: target.method,
    headers: target.headers,
    body: bytes,
  });
  const completed = await call<{ completeDocumentUpload: DocumentView }>(
    `mutation($i: CompleteDocumentUploadInput!) {
      completeDocumentUpload(input: $i) { ...DocumentFields }
    } ${documentFields}`,
    { i: { uploadId: id, expectedVersion, sha256: options.sha256 } },
    token,
  );
  return { uploadId: id, putStatus: put.status, completed };
}

function documentsService(): DocumentsService {
  return supergraph.subgraphs.find((s) => s.name === 'documents') as DocumentsService;
}

beforeAll(async () => {
  supergraph = await startTestSupergraph({ RATE_LIMIT_FREE: pollingRateLimit });
  [owner, other] = await Promise.all([signUp(supergraph, 'docs'), signUp(supergraph, 'docs-b')]);
  viewer = await addMember('VIEWER');
  auditor = await addMember('AUDITOR');
  operatorKey = await createApiKey(supergraph, owner.accessToken, 'OPERATOR');
}, 120_000);

afterAll(async () => {
  await supergraph?.stop();
});

describe(`documents (${backends.database}, ${backends.events}, ${backends.objects})`, () => {
  it('keeps every version: metadata changes keep the file, an upload adds one, history lists all', async () => {
    const created = await createDocument(owner.accessToken, {
      kind: 'COMPLIANCE_CERTIFICATE',
      title: 'SOC 2 Type II',
      tags: ['soc2', 'audit'],
      metadata: { standard: 'SOC 2', issuer: 'Example Auditors LLP', validFrom: '2026-01-01' },
    });
    expect(created).toMatchObject({ version: 1, access: 'WRITE', files: [] });

    const pdf = Buffer.from('%PDF-1.7\n% a certificate, as a customer would upload it\n%%EOF\n');
    const digest = createHash('sha256').update(pdf).digest('hex');
    const uploaded = await upload(owner.accessToken, created.id, 1, pdf, { sha256: digest });
    expect(uploaded.putStatus).toBeLessThan(300);
    expect(uploaded.completed.errors).toBeUndefined();
    const v2 = uploaded.completed.data!.completeDocumentUpload;
    expect(v2.version).toBe(2);
    expect(v2.files).toHaveLength(1);
    expect(v2.files[0]).toMatchObject({
      name: 'soc2-report.pdf',
      contentType: 'application/pdf',
      sizeBytes: pdf.length,
      sha256: digest,
    });
    // The download link works without credentials and serves the same bytes.
    const downloaded = await fetch(v2.files[0]!.downloadUrl);
    expect(downloaded.status).toBe(200);
    expect(Buffer.from(await downloaded.arrayBuffer()).equals(pdf)).toBe(true);

    const updated = await updateDocument(owner.accessToken, {
      id: created.id,
      expectedVersion: 2,
      title: 'SOC 2 Type II (2026)',
      metadata: {
        standard: 'SOC 2',
        issuer: 'Example Auditors LLP',
        validFrom: '2026-01-01',
        validUntil: '2027-01-01',
      },
    });
    expect(updated.errors).toBeUndefined();
    const v3 = updated.data!.updateDocument;
    expect(v3.version).toBe(3);
    expect(v3.title).toBe('SOC 2 Type II (2026)');
    expect(v3.files.map((f) => f.sha256)).toEqual([digest]);
    expect(v3.versions.map((v) => [v.version, v.change, v.title, v.files.length])).toEqual([
      [3, 'updated', 'SOC 2 Type II (2026)', 1],
      [2, 'file uploaded', 'SOC 2 Type II', 1],
      [1, 'created', 'SOC 2 Type II', 0],
    ]);
  });

  it('refuses a change made against a stale version with CONFLICT, and of two racing changes exactly one wins', async () => {
    const created = await createDocument(owner.accessToken, { kind: 'CUSTOM', title: 'Runbook' });
    const first = await updateDocument(owner.accessToken, {
      id: created.id,
      expectedVersion: 1,
      tags: ['ops'],
    });
    expect(first.data?.updateDocument.version).toBe(2);
    const stale = await updateDocument(owner.accessToken, {
      id: created.id,
      expectedVersion: 1,
      title: 'Overwritten?',
    });
    expect(errorCode(stale)).toBe('CONFLICT');
    expect(stale.errors?.[0]?.extensions).toMatchObject({
      reason: 'VERSION_MISMATCH',
      currentVersion: 2,
    });

    const racing = await Promise.all(
      ['A', 'B', 'C', 'D'].map((title) =>
        updateDocument(owner.accessToken, { id: created.id, expectedVersion: 2, title }),
      ),
    );
    const won = racing.filter((r) => r.data?.updateDocument);
    expect(won).toHaveLength(1);
    expect(racing.filter((r) => errorCode(r) === 'CONFLICT')).toHaveLength(3);
    const after = (await readDocument(owner.accessToken, created.id)).data!.document!;
    expect(after.version).toBe(3);
    expect(after.title).toBe(won[0]!.data!.updateDocument.title);
    expect(after.versions).toHaveLength(3);
  });

  it('checks uploads: a wrong SHA-256 or an oversized body is refused and adds no version', async () => {
    const created = await createDocument(owner.accessToken, { kind: 'CUSTOM', title: 'Upload' });
    const body = Buffer.from('the real content');
    const wrongHash = await upload(owner.accessToken, created.id, 1, body, {
      sha256: 'a'.repeat(64),
    });
    expect(errorCode(wrongHash.completed)).toBe('BAD_USER_INPUT');
    expect(wrongHash.completed.errors?.[0]?.message).toContain(
      createHash('sha256').update(body).digest('hex'),
    );
    const tooBig = await upload(owner.accessToken, created.id, 1, Buffer.alloc(64, 1), {
      declaredSize: 16,
    });
    // The filesystem store's URL stops the body at the signed size; on S3 completion checks it.
    if (backends.objects === 'filesystem') expect(tooBig.putStatus).toBe(413);
    expect(errorCode(tooBig.completed)).toBe('BAD_USER_INPUT');
    const declaredTooBig = await call(
      `mutation($i: RequestDocumentUploadInput!) { requestDocumentUpload(input: $i) { id } }`,
      {
        i: {
          documentId: created.id,
          fileName: 'x.bin',
          contentType: 'application/octet-stream',
          sizeBytes: 1e12,
        },
      },
      owner.accessToken,
    );
    expect(errorCode(declaredTooBig)).toBe('BAD_USER_INPUT');
    expect((await readDocument(owner.accessToken, created.id)).data?.document?.version).toBe(1);
  });

  it('validates metadata per kind and names the field', async () => {
    const missing = await call(
      'mutation($i: CreateDocumentInput!) { createDocument(input: $i) { id } }',
      { i: { kind: 'COMPLIANCE_CERTIFICATE', title: 'ISO', metadata: { standard: 'ISO 27001' } } },
      owner.accessToken,
    );
    expect(errorCode(missing)).toBe('BAD_USER_INPUT');
    expect(missing.errors?.[0]?.extensions?.field).toBe('metadata.issuer');
    const backwards = await call(
      'mutation($i: CreateDocumentInput!) { createDocument(input: $i) { id } }',
      {
        i: {
          kind: 'COMPLIANCE_CERTIFICATE',
          title: 'ISO',
          metadata: {
            standard: 'ISO 27001',
            issuer: 'BSI',
            validFrom: '2027-01-01',
            validUntil: '2026-01-01',
          },
        },
      },
      owner.accessToken,
    );
    expect(backwards.errors?.[0]?.extensions?.field).toBe('metadata.validUntil');
    const report = await call(
      'mutation($i: CreateDocumentInput!) { createDocument(input: $i) { id } }',
      { i: { kind: 'ATTESTATION_REPORT', title: 'fake report' } },
      owner.accessToken,
    );
    expect(errorCode(report)).toBe('BAD_USER_INPUT');
  });

  it('per-document grants: a restricted document is invisible until shared, read-only with READ, changeable with WRITE, gone again when revoked', async () => {
    const secret = await createDocument(owner.accessToken, {
      kind: 'POLICY',
      title: 'Incident response policy',
      metadata: { owner: 'security' },
      visibility: 'RESTRICTED',
    });
    // Denied: not listed, not readable, not changeable.
    expect(await listDocuments(viewer.accessToken)).not.toContain(secret.id);
    expect((await readDocument(viewer.accessToken, secret.id)).data?.document).toBeNull();
    const blind = await updateDocument(viewer.accessToken, {
      id: secret.id,
      expectedVersion: 1,
      title: 'x',
    });
    expect(errorCode(blind)).toBe('NOT_FOUND');

    const share = (input: Record<string, unknown>, token = owner.accessToken) =>
      call<{ shareDocument: { id: string; access: string } }>(
        'mutation($i: ShareDocumentInput!) { shareDocument(input: $i) { id access userId role } }',
        { i: { documentId: secret.id, ...input } },
        token,
      );
    const read = await share({ userId: viewer.userId, access: 'READ' });
    expect(read.errors).toBeUndefined();
    const seen = (await readDocument(viewer.accessToken, secret.id)).data?.document;
    expect(seen).toMatchObject({ id: secret.id, access: 'READ', grants: [] });
    expect(await listDocuments(viewer.accessToken)).toContain(secret.id);
    const readOnly = await updateDocument(viewer.accessToken, {
      id: secret.id,
      expectedVersion: 1,
      title: 'changed by a reader',
    });
    expect(errorCode(readOnly)).toBe('FORBIDDEN');
    // A reader cannot pass the document on.
    expect(
      errorCode(await share({ userId: auditor.userId, access: 'READ' }, viewer.accessToken)),
    ).toBe('FORBIDDEN');

    // Sharing again with the same member changes the access.
    const write = await share({ userId: viewer.userId, access: 'WRITE' });
    expect(write.data?.shareDocument.id).toBe(read.data?.shareDocument.id);
    const changed = await updateDocument(viewer.accessToken, {
      id: secret.id,
      expectedVersion: 1,
      title: 'Incident response policy v2',
    });
    expect(changed.data?.updateDocument).toMatchObject({ version: 2, access: 'WRITE' });

    // A role grant reaches that role and stronger ones, not weaker ones.
    expect((await readDocument(auditor.accessToken, secret.id)).data?.document).toBeNull();
    await share({ role: 'AUDITOR', access: 'READ' });
    expect((await readDocument(auditor.accessToken, secret.id)).data?.document?.access).toBe(
      'READ',
    );

    // Revoked: denied again.
    const revoked = await call<{ revokeDocumentGrant: boolean }>(
      'mutation($id: ID!) { revokeDocumentGrant(id: $id) }',
      { id: write.data!.shareDocument.id },
      owner.accessToken,
    );
    expect(revoked.data?.revokeDocumentGrant).toBe(true);
    expect((await readDocument(viewer.accessToken, secret.id)).data?.document).toBeNull();

    // Only members can be named.
    const stranger = await share({ userId: other.user.id, access: 'READ' });
    expect(errorCode(stranger)).toBe('BAD_USER_INPUT');
  });

  it('searches by kind, tags, metadata fields and title text', async () => {
    const iso = await createDocument(operatorKey, {
      kind: 'COMPLIANCE_CERTIFICATE',
      title: 'ISO/IEC 27001 certificate',
      tags: ['iso', 'search-test'],
      metadata: { standard: 'ISO 27001', issuer: 'BSI', scope: { region: 'eu-west' } },
    });
    const card = await createDocument(operatorKey, {
      kind: 'MODEL_CARD',
      title: 'Llama model card',
      tags: ['search-test'],
      metadata: { modelName: 'llama', license: 'llama3' },
    });
    expect(await listDocuments(owner.accessToken, { tags: ['search-test'] })).toEqual([
      card.id,
      iso.id,
    ]);
    expect(
      await listDocuments(owner.accessToken, { tags: ['search-test'], kind: 'MODEL_CARD' }),
    ).toEqual([card.id]);
    expect(await listDocuments(owner.accessToken, { text: '27001 CERT' })).toEqual([iso.id]);
    expect(
      await listDocuments(owner.accessToken, {
        metadata: [{ path: 'scope.region', equals: 'eu-west' }],
      }),
    ).toEqual([iso.id]);
    expect(
      await listDocuments(owner.accessToken, { metadata: [{ path: 'issuer', equals: 'nobody' }] }),
    ).toEqual([]);
    // Pages of one: each cursor leads to the next, nothing repeats.
    const first = await call<{
      documents: { edges: { node: { id: string } }[]; pageInfo: { endCursor: string } };
    }>(
      'query($f: DocumentFilter) { documents(first: 1, filter: $f) { edges { node { id } } pageInfo { endCursor hasNextPage } } }',
      { f: { tags: ['search-test'] } },
      owner.accessToken,
    );
    const second = await call<{ documents: { edges: { node: { id: string } }[] } }>(
      'query($f: DocumentFilter, $a: String) { documents(first: 1, after: $a, filter: $f) { edges { node { id } } } }',
      { f: { tags: ['search-test'] }, a: first.data!.documents.pageInfo.endCursor },
      owner.accessToken,
    );
    expect(second.data!.documents.edges.map((e) => e.node.id)).toEqual([iso.id]);
    const forged = await call(
      'query { documents(after: "bm90IGEgY3Vyc29y") { edges { cursor } } }',
      {},
      owner.accessToken,
    );
    expect(errorCode(forged)).toBe('BAD_USER_INPUT');
  });

  it('a tenant never lists, reads or changes another tenant’s documents', async () => {
    const mine = await createDocument(owner.accessToken, {
      kind: 'CUSTOM',
      title: 'Tenant A only',
      tags: ['tenancy'],
    });
    const theirs = await createDocument(other.accessToken, {
      kind: 'CUSTOM',
      title: 'Tenant B only',
      tags: ['tenancy'],
    });
    expect(await listDocuments(other.accessToken, { tags: ['tenancy'] })).toEqual([theirs.id]);
    expect(await listDocuments(owner.accessToken, { tags: ['tenancy'] })).toEqual([mine.id]);
    expect((await readDocument(other.accessToken, mine.id, true)).data?.document).toBeNull();
    for (const attempt of [
      updateDocument(other.accessToken, { id: mine.id, expectedVersion: 1, title: 'mine now' }),
      call(
        'mutation($id: ID!) { deleteDocument(id: $id) { id } }',
        { id: mine.id },
        other.accessToken,
      ),
      call(
        'mutation($i: ShareDocumentInput!) { shareDocument(input: $i) { id } }',
        { i: { documentId: mine.id, role: 'VIEWER', access: 'WRITE' } },
        other.accessToken,
      ),
    ]) {
      expect(errorCode(await attempt)).toBe('NOT_FOUND');
    }
    // Even the subgraph alone (no gateway) answers by the token's organization.
    const direct = await fetch(documentsService().url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${other.accessToken}` },
      body: JSON.stringify({
        query: 'query($id: ID!) { document(id: $id) { id } }',
        variables: { id: mine.id },
      }),
    });
    expect(((await direct.json()) as { data: { document: unknown } }).data.document).toBeNull();
    expect((await readDocument(owner.accessToken, mine.id)).data?.document?.title).toBe(
      'Tenant A only',
    );
  });

  it('soft delete hides a document until restored; a legal hold blocks deletion and the purge', async () => {
    const doc = await createDocument(owner.accessToken, { kind: 'CUSTOM', title: 'Retention' });
    const del = (token = owner.accessToken) =>
      call<{ deleteDocument: DocumentView }>(
        `mutation($id: ID!) { deleteDocument(id: $id) { ...DocumentFields } } ${documentFields}`,
        { id: doc.id },
        token,
      );
    const deleted = await del();
    expect(deleted.data?.deleteDocument.deletedAt).not.toBeNull();
    expect(Date.parse(deleted.data!.deleteDocument.restorableUntil!)).toBeGreaterThan(
      Date.now() + 29 * 24 * 3600 * 1000,
    );
    expect((await readDocument(owner.accessToken, doc.id)).data?.document).toBeNull();
    expect(await listDocuments(owner.accessToken)).not.toContain(doc.id);
    expect(await listDocuments(owner.accessToken, { deleted: true })).toContain(doc.id);
    const restored = await call<{ restoreDocument: { deletedAt: string | null } }>(
      'mutation($id: ID!) { restoreDocument(id: $id) { deletedAt } }',
      { id: doc.id },
      owner.accessToken,
    );
    expect(restored.data?.restoreDocument.deletedAt).toBeNull();

    const hold = (on: boolean, token = owner.accessToken) =>
      call<{ setDocumentLegalHold: { legalHold: boolean } }>(
        'mutation($i: SetDocumentLegalHoldInput!) { setDocumentLegalHold(input: $i) { legalHold } }',
        { i: { id: doc.id, hold: on, reason: on ? 'matter 2026-17' : null } },
        token,
      );
    expect(errorCode(await hold(true, viewer.accessToken))).toBe('FORBIDDEN');
    expect((await hold(true)).data?.setDocumentLegalHold.legalHold).toBe(true);
    const blocked = await del();
    expect(errorCode(blocked)).toBe('CONFLICT');
    expect(blocked.errors?.[0]?.extensions?.reason).toBe('LEGAL_HOLD');
    await hold(false);
    expect((await del()).errors).toBeUndefined();
  });

  it('purges documents deleted longer ago than the restore window, with their files, but never held ones', async () => {
    const service = documentsService();
    const make = async (title: string) => {
      const doc = await createDocument(owner.accessToken, { kind: 'CUSTOM', title });
      const done = await upload(owner.accessToken, doc.id, 1, Buffer.from(`content of ${title}`));
      return done.completed.data!.completeDocumentUpload;
    };
    const [gone, held] = await Promise.all([make('purge me'), make('keep me')]);
    await call(
      'mutation($i: SetDocumentLegalHoldInput!) { setDocumentLegalHold(input: $i) { id } }',
      { i: { id: held.id, hold: true, reason: 'litigation' } },
      owner.accessToken,
    );
    // Deleted 31 days ago, as far as the restore window is concerned.
    const longAgo = new Date(Date.now() - 31 * 24 * 3600 * 1000);
    await service.deps.prisma.document.updateMany({
      where: { id: { in: [gone.id, held.id] } },
      data: { deletedAt: longAgo, deletedBy: 'test' },
    });
    const restoreLate = await call(
      'mutation($id: ID!) { restoreDocument(id: $id) { id } }',
      { id: gone.id },
      owner.accessToken,
    );
    expect(restoreLate.errors?.[0]?.extensions?.reason, JSON.stringify(restoreLate)).toBe(
      'RESTORE_WINDOW_PASSED',
    );

    await service.deps.documents.purgeExpired();
    expect((await readDocument(owner.accessToken, gone.id, true)).data?.document).toBeNull();
    expect((await fetch(gone.files[0]!.downloadUrl)).status).toBe(404);
    const kept = (await readDocument(owner.accessToken, held.id, true)).data?.document;
    expect(kept?.legalHold).toBe(true);
    expect((await fetch(kept!.files[0]!.downloadUrl)).status).toBe(200);
  });
});
