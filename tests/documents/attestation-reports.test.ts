import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  pollingRateLimit,
  submitAttestation,
  waitForFinal,
  type AttestationView,
} from '../support/attestation.ts';
import { createApiKey, enrollSimulatedNode, type SimulatedNode } from '../support/gpu.ts';
import { pdfText } from '../support/pdf.ts';
import { pickleCall, torchCheckpointOf } from '../support/model-artifacts.ts';
import { artifactPath } from '../support/browser.ts';
import { backends } from '../support/config.ts';
import { brokenObjectStore } from '../support/broken-objects.ts';
import type { ObjectStore } from '../../platform/objects/index.ts';
import {
  errorCode,
  signUp,
  startTestSupergraph,
  type SignedUp,
  type TestSupergraph,
} from '../support/supergraph.ts';
import { waitUntil } from '../support/wait.ts';
import type { DocumentsService } from '../../subgraphs/documents/index.ts';
import type { HardwareAttestationService } from '../../subgraphs/hardware-attestation/index.ts';

interface ReportView {
  id: string;
  kind: string;
  title: string;
  version: number;
  metadata: Record<string, unknown>;
  subject: string;
  files: {
    name: string;
    contentType: string;
    sizeBytes: number;
    sha256: string;
    downloadUrl: string;
  }[];
  versions: { version: number; change: string; createdBy: string }[];
}

const reportQuery = /* GraphQL */ `
  query Report($id: ID!) {
    hardwareAttestation(id: $id) {
      id
      report {
        id
        kind
        title
        version
        metadata
        subject
        files {
          name
          contentType
          sizeBytes
          sha256
          downloadUrl
        }
        versions {
          version
          change
          createdBy
        }
      }
    }
  }
`;

// Few attempts, so a store that stays down ends a job FAILED within a test's time.
const maxAttempts = 3;

let supergraph: TestSupergraph;
let tenant: SignedUp;
let other: SignedUp;
let operatorKey: string;
let viewerKey: string;
let goodNode: SimulatedNode;
let oldDriverNode: SimulatedNode;

function service<T>(name: string): T {
  return supergraph.subgraphs.find((s) => s.name === name) as T;
}

async function readReport(credential: string, attestationId: string): Promise<ReportView | null> {
  const result = await supergraph.graphql<{
    hardwareAttestation: { report: ReportView | null } | null;
  }>(reportQuery, { id: attestationId }, credential);
  if (!result.data) throw new Error(JSON.stringify(result.errors));
  return result.data.hardwareAttestation?.report ?? null;
}

/** Waits for the attestation's report document to reach `version`. */
async function waitForReport(attestationId: string, version = 1): Promise<ReportView> {
  let report: ReportView | null = null;
  await waitUntil(
    async () => {
      report = await readReport(operatorKey, attestationId);
      return (report?.version ?? 0) >= version;
    },
    20_000,
    `report version ${version} of attestation ${attestationId}`,
  );
  return report!;
}

async function download(url: string): Promise<Buffer> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}

/** Checks the PDF and JSON files of a report against the attestation they report on. */
async function expectReportMatches(report: ReportView, final: AttestationView): Promise<string> {
  const pdf = report.files.find((f) => f.contentType === 'application/pdf');
  const json = report.files.find((f) => f.contentType === 'application/json');
  expect(pdf?.name).toBe(`attestation-${final.id}.pdf`);
  expect(json?.name).toBe(`attestation-${final.id}.json`);
  const bytes = await download(pdf!.downloadUrl);
  expect(bytes.subarray(0, 5).toString()).toBe('%PDF-');
  expect(bytes.length).toBe(pdf!.sizeBytes);
  // Kept for a person to look at (gitignored; CI keeps it with the logs).
  writeFileSync(artifactPath(`attestation-report-${final.status.toLowerCase()}.pdf`), bytes);
  const text = await pdfText(bytes);
  expect(text).toContain(final.id);
  expect(text).toContain(final.status);
  expect(text).toContain(final.verdict!);
  expect(text).toContain(final.policy!);
  expect(final.claims.length).toBeGreaterThan(3);
  for (const claim of final.claims) expect(text).toContain(claim.name);
  // The signed result is printed whole (wrapped over lines) with how to verify it.
  expect(text.replace(/\s+/g, '')).toContain(final.token!);
  expect(text).toContain(`${supergraph.runtime.config.publicUrl}/.well-known/jwks.json`);

  const body = JSON.parse((await download(json!.downloadUrl)).toString()) as {
    attestation: { id: string; status: string; verdict: string };
    claims: { name: string; passed: boolean }[];
    signedResult: { token: string };
  };
  expect(body.attestation).toMatchObject({
    id: final.id,
    status: final.status,
    verdict: final.verdict,
  });
  expect(body.claims.map((c) => [c.name, c.passed])).toEqual(
    final.claims.map((c) => [c.name, c.passed]),
  );
  expect(body.signedResult.token).toBe(final.token);
  return text;
}

beforeAll(async () => {
  supergraph = await startTestSupergraph({
    RATE_LIMIT_FREE: pollingRateLimit,
    REPORT_MAX_ATTEMPTS: String(maxAttempts),
  });
  [tenant, other] = await Promise.all([
    signUp(supergraph, 'reports'),
    signUp(supergraph, 'reports-b'),
  ]);
  operatorKey = await createApiKey(supergraph, tenant.accessToken, 'OPERATOR');
  viewerKey = await createApiKey(supergraph, tenant.accessToken, 'VIEWER');
  goodNode = await enrollSimulatedNode(supergraph, operatorKey, 'reports-good', [
    { model: 'H100-80GB', migEnabled: false, confidentialComputeMode: 'ON' },
  ]);
  oldDriverNode = await enrollSimulatedNode(
    supergraph,
    operatorKey,
    'reports-old-driver',
    [{ model: 'H100-80GB', migEnabled: false, confidentialComputeMode: 'ON' }],
    { driverVersion: '535.54.03' },
  );
}, 120_000);

afterAll(async () => {
  await goodNode?.agent.stop();
  await oldDriverNode?.agent.stop();
  await supergraph?.stop();
});

describe(`attestation reports (${backends.database}, ${backends.events}, ${backends.objects})`, () => {
  it('a finished attestation yields a report document whose PDF text holds the verdict, the claims and the signed result', async () => {
    const submitted = await submitAttestation(supergraph, operatorKey, {
      gpuUuid: goodNode.source.gpuUuids[0],
    });
    const final = await waitForFinal(supergraph, operatorKey, submitted.id);
    const report = await waitForReport(submitted.id);
    expect(report).toMatchObject({
      kind: 'ATTESTATION_REPORT',
      version: 1,
      subject: `hardware-attestation:${submitted.id}`,
      metadata: {
        attestationType: 'HARDWARE',
        attestationId: submitted.id,
        status: final.status,
        verdict: final.verdict,
        policy: final.policy,
      },
    });
    expect(report.versions).toEqual([
      { version: 1, change: 'report generated', createdBy: 'system:reports' },
    ]);
    await expectReportMatches(report, final);

    // Readable by every member (a VIEWER key), listed among the organization's reports.
    expect((await readReport(viewerKey, submitted.id))?.id).toBe(report.id);
    const listed = await supergraph.graphql<{ documents: { edges: { node: { id: string } }[] } }>(
      'query { documents(filter: { kind: ATTESTATION_REPORT }) { edges { node { id } } } }',
      {},
      viewerKey,
    );
    expect(listed.data?.documents.edges.map((e) => e.node.id)).toContain(report.id);

    // The other tenant sees none of it.
    const theirs = await supergraph.graphql<{ documents: { edges: unknown[] } }>(
      'query { documents(filter: { kind: ATTESTATION_REPORT }) { edges { node { id } } } }',
      {},
      other.accessToken,
    );
    expect(theirs.data?.documents.edges).toEqual([]);
    const direct = await supergraph.graphql<{ document: unknown }>(
      'query($id: ID!) { document(id: $id) { id } }',
      { id: report.id },
      other.accessToken,
    );
    expect(direct.data?.document).toBeNull();
    const regenerate = await supergraph.graphql(
      'mutation($id: ID!) { regenerateAttestationReport(attestationId: $id) { id } }',
      { id: submitted.id },
      other.accessToken,
    );
    expect(errorCode(regenerate)).toBe('NOT_FOUND');
  });

  it('a failed attestation’s report says FAIL and names the failing claim and its value', async () => {
    const submitted = await submitAttestation(supergraph, operatorKey, {
      gpuUuid: oldDriverNode.source.gpuUuids[0],
    });
    const final = await waitForFinal(supergraph, operatorKey, submitted.id);
    expect(final.status).toBe('FAILED');
    const report = await waitForReport(submitted.id);
    const text = await expectReportMatches(report, final);
    expect(text).toContain('FAIL');
    expect(text).toContain('CONTRAINDICATED');
    expect(text).toContain('535.54.03');
    expect(report.title).toContain('FAILED');
  });

  it('regenerates on demand as a durable job: a new version of the same document, done even when the workers were down', async () => {
    const submitted = await submitAttestation(supergraph, operatorKey, {
      gpuUuid: goodNode.source.gpuUuids[0],
    });
    const final = await waitForFinal(supergraph, operatorKey, submitted.id);
    const first = await waitForReport(submitted.id);

    const reports = service<DocumentsService>('documents').deps.reports;
    await reports.stop(0);
    const asked = await supergraph.graphql<{
      regenerateAttestationReport: { id: string; state: string; trigger: string };
    }>(
      'mutation($id: ID!) { regenerateAttestationReport(attestationId: $id) { id state trigger } }',
      { id: submitted.id },
      operatorKey,
    );
    expect(asked.errors).toBeUndefined();
    const job = asked.data!.regenerateAttestationReport;
    expect(job).toMatchObject({ state: 'PENDING', trigger: 'regenerate' });
    // Nothing runs it while the workers are down; the job waits in the database.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect((await readReport(operatorKey, submitted.id))?.version).toBe(1);
    reports.start();

    type JobView = {
      state: string;
      attempts: number;
      document: { id: string } | null;
      documentVersion: number;
    };
    let done: JobView | null = null;
    await waitUntil(
      async () => {
        const read = await supergraph.graphql<{ reportJob: JobView }>(
          'query($id: ID!) { reportJob(id: $id) { state attempts documentVersion document { id } } }',
          { id: job.id },
          operatorKey,
        );
        done = read.data?.reportJob ?? null;
        return done?.state === 'DONE';
      },
      20_000,
      'regeneration job done',
    );
    expect(done).toMatchObject({
      state: 'DONE',
      attempts: 1,
      documentVersion: 2,
      document: { id: first.id },
    });
    const second = await waitForReport(submitted.id, 2);
    expect(second.id).toBe(first.id);
    expect(second.versions.map((v) => [v.version, v.change])).toEqual([
      [2, 'report regenerated'],
      [1, 'report generated'],
    ]);
    // Each version keeps its own files.
    expect(second.files.map((f) => f.sha256)).not.toEqual(first.files.map((f) => f.sha256));
    await expectReportMatches(second, final);
  });

  it('refuses to regenerate a report of an attestation that has not finished', async () => {
    const attestation = service<HardwareAttestationService>('hardware-attestation');
    await attestation.pipeline.stop(0);
    try {
      const submitted = await submitAttestation(supergraph, operatorKey, {
        gpuUuid: goodNode.source.gpuUuids[0],
      });
      const result = await supergraph.graphql(
        'mutation($id: ID!) { regenerateAttestationReport(attestationId: $id) { id } }',
        { id: submitted.id },
        operatorKey,
      );
      expect(errorCode(result)).toBe('CONFLICT');
      expect(result.errors?.[0]?.extensions?.reason).toBe('NOT_FINISHED');
      expect(await readReport(operatorKey, submitted.id)).toBeNull();
    } finally {
      attestation.pipeline.start();
    }
    const viewer = await supergraph.graphql(
      'mutation($id: ID!) { regenerateAttestationReport(attestationId: $id) { id } }',
      { id: '00000000-0000-4000-8000-000000000000' },
      viewerKey,
    );
    expect(errorCode(viewer)).toBe('FORBIDDEN');
  });

  it('a finished model attestation yields a report naming its findings, linked from ModelAttestation.report', async () => {
    const registered = await supergraph.graphql<{ registerModel: { id: string } }>(
      'mutation($i: RegisterModelInput!) { registerModel(input: $i) { id } }',
      { i: { name: 'acme/reported', version: '1', license: 'mit', format: 'pytorch' } },
      operatorKey,
    );
    const versionId = registered.data!.registerModel.id;
    const checkpoint = torchCheckpointOf({ dataPkl: pickleCall('os', 'system', ['id']) });
    const target = await supergraph.graphql<{
      requestModelUpload: { url: string; method: string; headers: Record<string, string> | null };
    }>(
      'mutation($i: RequestModelUploadInput!) { requestModelUpload(input: $i) { url method headers } }',
      { i: { modelVersionId: versionId, path: 'model.pt', sizeBytes: checkpoint.length } },
      operatorKey,
    );
    const upload = target.data!.requestModelUpload;
    await fetch(upload.url, {
      method: upload.method,
      headers: upload.headers ?? {},
      body: checkpoint,
    });
    await supergraph.graphql(
      'mutation($i: CompleteModelUploadInput!) { completeModelUpload(input: $i) { path } }',
      { i: { modelVersionId: versionId, path: 'model.pt' } },
      operatorKey,
    );
    const submitted = await supergraph.graphql<{ submitModelAttestation: { id: string } }>(
      'mutation($i: SubmitModelAttestationInput!) { submitModelAttestation(input: $i) { id } }',
      { i: { modelVersionId: versionId } },
      operatorKey,
    );
    const id = submitted.data!.submitModelAttestation.id;
    type ModelReport = {
      modelAttestation: {
        status: string;
        verdict: string;
        report: {
          kind: string;
          title: string;
          files: { contentType: string; downloadUrl: string }[];
        } | null;
      } | null;
    };
    let view: ModelReport['modelAttestation'] = null;
    await waitUntil(
      async () => {
        const read = await supergraph.graphql<ModelReport>(
          'query($id: ID!) { modelAttestation(id: $id) { status verdict report { kind title files { contentType downloadUrl } } } }',
          { id },
          operatorKey,
        );
        view = read.data?.modelAttestation ?? null;
        return view?.report != null;
      },
      20_000,
      'the model attestation report',
    );
    const done = view!;
    expect(done).toMatchObject({ status: 'FAILED', verdict: 'CONTRAINDICATED' });
    expect(done.report).toMatchObject({ kind: 'ATTESTATION_REPORT' });
    expect(done.report!.title).toContain('acme/reported@1');
    const pdf = done.report!.files.find((f) => f.contentType === 'application/pdf')!;
    const bytes = await download(pdf.downloadUrl);
    writeFileSync(artifactPath('model-attestation-report.pdf'), bytes);
    const text = await pdfText(bytes);
    expect(text).toContain('CONTRAINDICATED');
    // Table cells wrap long codes; the code is there once the wrapping is taken out.
    expect(text.replace(/\s+/g, '')).toContain('PICKLE_DANGEROUS_GLOBAL');
    expect(text).toContain('modelAttestation(id:');
    expect(text).not.toContain('verifyAttestationResult');
    expect(text).toContain('os.system');
    // The other tenant cannot reach it.
    const theirs = await supergraph.graphql<{ modelAttestation: unknown }>(
      'query($id: ID!) { modelAttestation(id: $id) { report { id } } }',
      { id },
      other.accessToken,
    );
    expect(theirs.data?.modelAttestation).toBeNull();
  });

  describe('the object store fails', () => {
    let broken: ObjectStore;
    let healthy: ObjectStore;
    const reports = () => service<DocumentsService>('documents').deps.reports;

    beforeAll(() => {
      healthy = reports().deps.objects;
      broken = brokenObjectStore();
    });

    afterAll(async () => {
      reports().deps.objects = healthy;
      await broken.close();
    });

    /** The report job of an attestation, as stored. */
    async function jobOf(attestationId: string) {
      return service<DocumentsService>('documents').deps.prisma.reportJob.findFirst({
        where: { subject: `hardware-attestation:${attestationId}` },
      });
    }

    it('while it is down the report job retries; once it is back the report is generated once', async () => {
      reports().deps.objects = broken;
      const submitted = await submitAttestation(supergraph, operatorKey, {
        gpuUuid: goodNode.source.gpuUuids[0],
      });
      const final = await waitForFinal(supergraph, operatorKey, submitted.id);
      await waitUntil(
        async () => ((await jobOf(submitted.id))?.lastError ?? null) !== null,
        10_000,
        'a failed report attempt',
      );
      expect(await jobOf(submitted.id)).toMatchObject({ state: 'PENDING' });
      reports().deps.objects = healthy;
      const report = await waitForReport(submitted.id);
      expect(report.versions).toHaveLength(1);
      await expectReportMatches(report, final);
      expect(await jobOf(submitted.id)).toMatchObject({ state: 'DONE', documentVersion: 1 });
    });

    it('when it stays down past the attempts the job ends FAILED with the store’s error, and a regeneration succeeds later', async () => {
      reports().deps.objects = broken;
      const submitted = await submitAttestation(supergraph, operatorKey, {
        gpuUuid: goodNode.source.gpuUuids[0],
      });
      await waitForFinal(supergraph, operatorKey, submitted.id);
      await waitUntil(
        async () => (await jobOf(submitted.id))?.state === 'FAILED',
        15_000,
        'the report job to fail for good',
      );
      const failed = await jobOf(submitted.id);
      expect(failed?.attempts).toBe(maxAttempts);
      expect(failed?.lastError).toBeTruthy();
      expect(await readReport(operatorKey, submitted.id)).toBeNull();

      reports().deps.objects = healthy;
      const again = await supergraph.graphql<{ regenerateAttestationReport: { id: string } }>(
        'mutation($id: ID!) { regenerateAttestationReport(attestationId: $id) { id } }',
        { id: submitted.id },
        operatorKey,
      );
      expect(again.errors).toBeUndefined();
      const report = await waitForReport(submitted.id);
      expect(report.versions.map((v) => v.change)).toEqual(['report regenerated']);
    });
  });
});
