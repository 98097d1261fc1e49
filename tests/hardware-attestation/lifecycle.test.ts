import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  submitAttestation,
  waitForFinal,
  type AttestationView,
  pollingRateLimit,
} from '../support/attestation.ts';
import { backends } from '../support/config.ts';
import { createApiKey, enrollSimulatedNode, type SimulatedNode } from '../support/gpu.ts';
import {
  errorCode,
  signUp,
  startTestSupergraph,
  type GraphQLResponse,
  type SignedUp,
  type TestSupergraph,
} from '../support/supergraph.ts';

/**
 * The lifecycle of what an organization configures for attestation (reference values and
 * appraisal policies: versions, supersession, deprecation, deletion), how it changes outcomes,
 * the audit trail and the attestation list, all through the gateway over HTTP.
 */

interface ReferenceValue {
  id: string | null;
  name: string;
  version: number;
  gpuModel: string;
  content: Record<string, unknown>;
  status: string;
  description: string | null;
  platform: boolean;
  createdBy: string | null;
  createdAt: string | null;
}

interface Policy {
  id: string | null;
  policyId: string;
  version: number;
  status: string;
  platform: boolean;
  document: { id: string; version: number; rules: { claim: string; onFail: string }[] };
}

const referenceFields = /* GraphQL */ `
  fragment ReferenceFields on ReferenceValue {
    id
    name
    version
    gpuModel
    content
    status
    description
    platform
    createdBy
    createdAt
  }
`;

const policyFields = /* GraphQL */ `
  fragment PolicyFields on AppraisalPolicy {
    id
    policyId
    version
    status
    platform
    document
  }
`;

let supergraph: TestSupergraph;
let tenantA: SignedUp;
let tenantB: SignedUp;
let adminA: string;
let operatorA: string;
let viewerA: string;
let auditorA: string;
const nodes: SimulatedNode[] = [];
/** H100, CC on, MIG off. */
let gpuH100: string;
/** H100, CC on, MIG on. */
let gpuMig: string;
let gpuH200: string;
let gpuA100: string;

beforeAll(async () => {
  // waitForFinal polls every 100 ms: the FREE tier's 1,000 per minute would run out mid-file.
  supergraph = await startTestSupergraph({ RATE_LIMIT_FREE: pollingRateLimit });
  [tenantA, tenantB] = await Promise.all([
    signUp(supergraph, 'lifecycle-a'),
    signUp(supergraph, 'lifecycle-b'),
  ]);
  const key = (role: 'ADMIN' | 'OPERATOR' | 'VIEWER' | 'AUDITOR') =>
    createApiKey(supergraph, tenantA.accessToken, role);
  [adminA, operatorA, viewerA, auditorA] = await Promise.all([
    key('ADMIN'),
    key('OPERATOR'),
    key('VIEWER'),
    key('AUDITOR'),
  ]);
  const [hopper, h200, a100] = await Promise.all([
    enrollSimulatedNode(supergraph, operatorA, 'lifecycle-h100', [
      { model: 'H100-80GB', migEnabled: false, confidentialComputeMode: 'ON' },
      {
        model: 'H100-80GB',
        migEnabled: true,
        migInstances: ['3g.40gb'],
        confidentialComputeMode: 'ON',
      },
    ]),
    enrollSimulatedNode(supergraph, operatorA, 'lifecycle-h200', [
      { model: 'H200-141GB', migEnabled: false, confidentialComputeMode: 'ON' },
    ]),
    enrollSimulatedNode(supergraph, operatorA, 'lifecycle-a100', [
      { model: 'A100-40GB', migEnabled: false },
    ]),
  ]);
  nodes.push(hopper, h200, a100);
  gpuH100 = hopper.source.gpuUuids[0] ?? '';
  gpuMig = hopper.source.gpuUuids[1] ?? '';
  gpuH200 = h200.source.gpuUuids[0] ?? '';
  gpuA100 = a100.source.gpuUuids[0] ?? '';
}, 120_000);

afterAll(async () => {
  for (const node of nodes) await node.agent.stop();
  await supergraph?.stop();
});

/** Runs an operation that must succeed and returns its data. */
async function ok<T>(
  query: string,
  variables: Record<string, unknown>,
  credential: string,
): Promise<T> {
  const result = await supergraph.graphql<T>(query, variables, credential);
  if (!result.data || result.errors?.length) {
    throw new Error(`${query.trim().slice(0, 60)}…: ${JSON.stringify(result.errors)}`);
  }
  return result.data;
}

function createReference(
  credential: string,
  input: Record<string, unknown>,
): Promise<GraphQLResponse<{ createReferenceValue: ReferenceValue }>> {
  return supergraph.graphql(
    `mutation($i: CreateReferenceValueInput!) {
      createReferenceValue(input: $i) { ...ReferenceFields }
    } ${referenceFields}`,
    { i: input },
    credential,
  );
}

async function createdReference(
  credential: string,
  input: Record<string, unknown>,
): Promise<ReferenceValue> {
  const result = await createReference(credential, input);
  if (!result.data) throw new Error(JSON.stringify(result.errors));
  return result.data.createReferenceValue;
}

async function listReferences(
  credential: string,
  args: { name?: string; includeInactive?: boolean },
): Promise<ReferenceValue[]> {
  const data = await ok<{ referenceValues: ReferenceValue[] }>(
    `query($n: String, $all: Boolean) {
      referenceValues(name: $n, includeInactive: $all) { ...ReferenceFields }
    } ${referenceFields}`,
    { n: args.name ?? null, all: args.includeInactive ?? false },
    credential,
  );
  return data.referenceValues;
}

async function fetchReference(credential: string, id: string): Promise<ReferenceValue | null> {
  const data = await ok<{ referenceValue: ReferenceValue | null }>(
    `query($id: ID!) { referenceValue(id: $id) { ...ReferenceFields } } ${referenceFields}`,
    { id },
    credential,
  );
  return data.referenceValue;
}

function deleteReference(credential: string, id: string) {
  return supergraph.graphql<{ deleteReferenceValue: boolean }>(
    'mutation($id: ID!) { deleteReferenceValue(id: $id) }',
    { id },
    credential,
  );
}

function deprecateReference(credential: string, id: string) {
  return supergraph.graphql<{ deprecateReferenceValue: ReferenceValue }>(
    `mutation($id: ID!) { deprecateReferenceValue(id: $id) { ...ReferenceFields } } ${referenceFields}`,
    { id },
    credential,
  );
}

function createPolicy(credential: string, document: string) {
  return supergraph.graphql<{ createAppraisalPolicy: Policy }>(
    `mutation($i: CreateAppraisalPolicyInput!) {
      createAppraisalPolicy(input: $i) { ...PolicyFields }
    } ${policyFields}`,
    { i: { document } },
    credential,
  );
}

async function listPolicies(credential: string, includeInactive = false): Promise<Policy[]> {
  const data = await ok<{ appraisalPolicies: Policy[] }>(
    `query($all: Boolean) { appraisalPolicies(includeInactive: $all) { ...PolicyFields } } ${policyFields}`,
    { all: includeInactive },
    credential,
  );
  return data.appraisalPolicies;
}

/** Submits through the gateway without evidence (the server reads the GPU) and waits for the end. */
async function attest(
  gpuUuid: string,
  extra: Record<string, unknown> = {},
  credential = operatorA,
): Promise<AttestationView> {
  const submitted = await submitAttestation(supergraph, credential, { gpuUuid, ...extra });
  expect(submitted.status).toBe('PENDING');
  return waitForFinal(supergraph, operatorA, submitted.id);
}

function submitRaw(input: Record<string, unknown>, credential = operatorA) {
  return supergraph.graphql<{ submitHardwareAttestation: { id: string } }>(
    'mutation($i: SubmitHardwareAttestationInput!) { submitHardwareAttestation(input: $i) { id } }',
    { i: input },
    credential,
  );
}

async function attestationReference(
  id: string,
): Promise<{ id: string | null; version: number; name: string; platform: boolean } | null> {
  const data = await ok<{
    hardwareAttestation: {
      referenceValue: {
        id: string | null;
        version: number;
        name: string;
        platform: boolean;
      } | null;
    } | null;
  }>(
    'query($id: ID!) { hardwareAttestation(id: $id) { referenceValue { id version name platform } } }',
    { id },
    operatorA,
  );
  return data.hardwareAttestation?.referenceValue ?? null;
}

function claim(view: AttestationView, name: string): AttestationView['claims'][number] {
  const found = view.claims.find((c) => c.name === name);
  if (!found) throw new Error(`no ${name} claim in ${JSON.stringify(view.claims)}`);
  return found;
}

describe(`reference values lifecycle (${backends.database})`, () => {
  it('v1 is ACTIVE; v2 supersedes it; fetch, deprecate, delete; gone afterwards', async () => {
    const v1Content = {
      gpuModels: ['H100'],
      driverVersions: { min: '550.54.14' },
      confidentialComputeMode: 'ON',
    };
    const v1 = await createdReference(adminA, {
      name: 'h100-fleet',
      gpuModel: 'H100',
      content: v1Content,
      description: 'first cut',
    });
    expect(v1).toMatchObject({
      name: 'h100-fleet',
      version: 1,
      gpuModel: 'H100',
      content: v1Content,
      status: 'ACTIVE',
      description: 'first cut',
      platform: false,
    });
    expect(v1.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(v1.createdBy).toMatch(/^apikey:/);
    expect(Number.isNaN(Date.parse(v1.createdAt ?? ''))).toBe(false);
    expect(await listReferences(viewerA, { name: 'h100-fleet' })).toEqual([v1]);

    const v2Content = {
      ...v1Content,
      driverVersions: { min: '550.54.14', denied: ['560.28.03'] },
    };
    const v2 = await createdReference(adminA, {
      name: 'h100-fleet',
      gpuModel: 'H100',
      content: v2Content,
    });
    expect(v2).toMatchObject({ version: 2, status: 'ACTIVE', content: v2Content });
    expect(v2.id).not.toBe(v1.id);

    // Only the active version by default; every version, newest first, with includeInactive.
    const active = await listReferences(viewerA, {});
    expect(active.filter((r) => r.name === 'h100-fleet').map((r) => r.version)).toEqual([2]);
    const all = await listReferences(viewerA, { name: 'h100-fleet', includeInactive: true });
    expect(all.map((r) => [r.version, r.status])).toEqual([
      [2, 'ACTIVE'],
      [1, 'SUPERSEDED'],
    ]);

    expect(await fetchReference(viewerA, v1.id ?? '')).toMatchObject({
      id: v1.id,
      version: 1,
      status: 'SUPERSEDED',
      content: v1Content,
    });
    expect(await fetchReference(viewerA, v2.id ?? '')).toEqual(v2);

    const deprecated = await deprecateReference(adminA, v2.id ?? '');
    expect(deprecated.errors).toBeUndefined();
    expect(deprecated.data?.deprecateReferenceValue).toMatchObject({
      id: v2.id,
      version: 2,
      status: 'DEPRECATED',
    });
    expect(await listReferences(viewerA, { name: 'h100-fleet' })).toEqual([]);
    expect(
      (await listReferences(viewerA, { name: 'h100-fleet', includeInactive: true })).map((r) => [
        r.version,
        r.status,
      ]),
    ).toEqual([
      [2, 'DEPRECATED'],
      [1, 'SUPERSEDED'],
    ]);

    const deleted = await deleteReference(adminA, v2.id ?? '');
    expect(deleted.errors).toBeUndefined();
    expect(deleted.data?.deleteReferenceValue).toBe(true);
    expect(await fetchReference(viewerA, v2.id ?? '')).toBeNull();
    const again = await deleteReference(adminA, v2.id ?? '');
    expect(errorCode(again)).toBe('NOT_FOUND');
    expect(
      (await listReferences(viewerA, { name: 'h100-fleet', includeInactive: true })).map(
        (r) => r.version,
      ),
    ).toEqual([1]);
    // Not a UUID at all: the same answers, not an internal error.
    expect(await fetchReference(viewerA, 'not-an-id')).toBeNull();
    expect(errorCode(await deleteReference(adminA, 'not-an-id'))).toBe('NOT_FOUND');
  });

  it.each([
    [
      'an unknown key',
      { driverVersion: { min: '550.54.14' } },
      /unknown field "driverVersion"; expected gpuModels, driverVersions/,
    ],
    ['a wrong type', { eccRequired: 'yes' }, /eccRequired: Expected boolean, received string/],
    [
      'a malformed nested version',
      { driverVersions: { min: 'latest' } },
      /driverVersions\.min: must be a dotted version like "580\.173\.02"/,
    ],
    ['an unknown enum value', { migMode: 'SOMETIMES' }, /migMode/],
    [
      'min above max',
      { driverVersions: { min: '580.0', max: '550.0' } },
      /driverVersions\.max: min must not be above max/,
    ],
  ])(
    'content with %s → BAD_USER_INPUT naming the field; nothing stored',
    async (_l, content, m) => {
      const result = await createReference(adminA, {
        name: 'bad-content',
        gpuModel: 'H100',
        content,
      });
      expect(errorCode(result)).toBe('BAD_USER_INPUT');
      expect(result.errors?.[0]?.extensions?.field).toBe('content');
      expect(result.errors?.[0]?.message).toMatch(/^content is not valid reference values: /);
      expect(result.errors?.[0]?.message).toMatch(m);
      expect(result.data ?? null).toBeNull();
      expect(await listReferences(viewerA, { name: 'bad-content', includeInactive: true })).toEqual(
        [],
      );
    },
  );

  it('a bad name or GPU model → BAD_USER_INPUT naming it', async () => {
    const badName = await createReference(adminA, {
      name: 'has spaces!',
      gpuModel: 'H100',
      content: {},
    });
    expect(errorCode(badName)).toBe('BAD_USER_INPUT');
    expect(badName.errors?.[0]?.extensions?.field).toBe('name');
    const badModel = await createReference(adminA, { name: 'ok', gpuModel: '   ', content: {} });
    expect(errorCode(badModel)).toBe('BAD_USER_INPUT');
    expect(badModel.errors?.[0]?.extensions?.field).toBe('gpuModel');
  });

  it('an OPERATOR key cannot create, deprecate or delete; another tenant can neither see nor change them', async () => {
    const mine = await createdReference(adminA, {
      name: 'gb200-isolation',
      gpuModel: 'GB200',
      content: { gpuModels: ['GB200'] },
    });
    const id = mine.id ?? '';

    const byOperator = await createReference(operatorA, {
      name: 'operator-try',
      gpuModel: 'H100',
      content: {},
    });
    expect(byOperator.status).toBe(403);
    expect(errorCode(byOperator)).toBe('FORBIDDEN');
    expect(byOperator.errors?.[0]?.message).toContain('the ADMIN role or stronger');
    expect(errorCode(await deprecateReference(operatorA, id))).toBe('FORBIDDEN');
    expect(errorCode(await deleteReference(operatorA, id))).toBe('FORBIDDEN');
    expect(await listReferences(viewerA, { name: 'operator-try', includeInactive: true })).toEqual(
      [],
    );

    // Tenant B's owner has every role in B, and none of A's data.
    const other = tenantB.accessToken;
    expect(await fetchReference(other, id)).toBeNull();
    expect(await listReferences(other, { includeInactive: true })).toEqual([]);
    expect(errorCode(await deleteReference(other, id))).toBe('NOT_FOUND');
    expect(errorCode(await deprecateReference(other, id))).toBe('NOT_FOUND');
    // Same name in B: its own version 1, A's unaffected.
    const theirs = await createdReference(other, {
      name: 'gb200-isolation',
      gpuModel: 'GB200',
      content: {},
    });
    expect(theirs.version).toBe(1);
    expect(await fetchReference(viewerA, id)).toMatchObject({ id, version: 1, status: 'ACTIVE' });
    expect(errorCode(await deleteReference(adminA, theirs.id ?? ''))).toBe('NOT_FOUND');
    expect((await deleteReference(adminA, id)).data?.deleteReferenceValue).toBe(true);
  });

  it('platformReferenceValues lists the built-in defaults, marked platform', async () => {
    const data = await ok<{ platformReferenceValues: ReferenceValue[] }>(
      `{ platformReferenceValues { ...ReferenceFields } } ${referenceFields}`,
      {},
      viewerA,
    );
    const platform = data.platformReferenceValues;
    expect(platform.map((r) => r.gpuModel).sort()).toEqual(['A100', 'H100', 'H200']);
    for (const reference of platform) {
      expect(reference).toMatchObject({
        id: null,
        version: 1,
        status: 'ACTIVE',
        platform: true,
        createdBy: null,
        createdAt: null,
      });
      expect(reference.content.gpuModels).toEqual([reference.gpuModel]);
    }
    expect(platform.find((r) => r.gpuModel === 'H100')?.content).toMatchObject({
      driverVersions: { min: '550.54.14' },
      confidentialComputeMode: 'ON',
    });
    // An organization's own list never mixes them in.
    expect((await listReferences(viewerA, { includeInactive: true })).some((r) => r.platform)).toBe(
      false,
    );
  });
});

describe('reference values decide the outcome', () => {
  it('an org reference value denying the simulated driver → FAILED naming the driver and the reference value; deprecated, the platform default applies again', async () => {
    const reference = await createdReference(adminA, {
      name: 'h100-no-580',
      gpuModel: 'H100',
      content: {
        gpuModels: ['H100'],
        driverVersions: { min: '550.54.14', denied: ['580.173.02'] },
        confidentialComputeMode: 'ON',
      },
    });

    const failed = await attest(gpuH100);
    expect(failed.status).toBe('FAILED');
    expect(failed.verdict).toBe('CONTRAINDICATED');
    expect(claim(failed, 'driver-version')).toMatchObject({
      passed: false,
      status: 'CONTRAINDICATED',
      actual: '580.173.02',
      expected: '>= 550.54.14, not 580.173.02',
    });
    expect(failed.error).toContain('driver-version');
    expect(failed.policy).toBe('lotabots/nvidia-gpu-default@1');
    expect(await attestationReference(failed.id)).toEqual({
      id: reference.id,
      version: 1,
      name: 'h100-no-580',
      platform: false,
    });

    const deprecated = await deprecateReference(adminA, reference.id ?? '');
    expect(deprecated.data?.deprecateReferenceValue.status).toBe('DEPRECATED');
    const verified = await attest(gpuH100);
    expect(verified.status).toBe('VERIFIED');
    expect(verified.verdict).toBe('AFFIRMING');
    expect(claim(verified, 'driver-version')).toMatchObject({
      passed: true,
      actual: '580.173.02',
      expected: '>= 550.54.14',
    });
    // Platform defaults are not a stored version.
    expect(await attestationReference(verified.id)).toBeNull();
    // The earlier attestation still names the version it used.
    expect((await attestationReference(failed.id))?.id).toBe(reference.id);
  });

  it('an A100-40GB with no org reference value is appraised against the platform default → VERIFIED', async () => {
    const view = await attest(gpuA100);
    expect(view.status).toBe('VERIFIED');
    expect(await attestationReference(view.id)).toBeNull();
    expect(claim(view, 'gpu-model')).toMatchObject({
      passed: true,
      actual: 'NVIDIA A100-SXM4-40GB',
      expected: 'one of A100',
    });
    expect(claim(view, 'driver-version')).toMatchObject({
      passed: true,
      expected: '>= 535.54.03',
    });
    expect(claim(view, 'vbios-version')).toMatchObject({ passed: true, actual: '92.00.45.00.03' });
    expect(claim(view, 'ecc-enabled').passed).toBe(true);
    expect(claim(view, 'ecc-uncorrected-errors').passed).toBe(true);
    // The simulator reports CC mode "OFF" (not null) for an Ampere GPU, and the A100 default has
    // no CC values, so the two CC claims are warnings for a missing value; nothing else is off.
    const notPassed = view.claims.filter((c) => !c.passed);
    expect(notPassed.every((c) => c.name.startsWith('confidential-compute-'))).toBe(true);
    for (const c of notPassed) {
      expect(c.status).toBe('WARNING');
      expect(c.reason).toContain('no reference value');
      expect(c.reason).toContain('"platform default: NVIDIA A100"');
    }
    expect(view.verdict).toBe(notPassed.length > 0 ? 'WARNING' : 'AFFIRMING');
  });

  it('an org reference value with only gpuModels → the claims it has no value for are WARNING "no reference value", the attestation VERIFIED with verdict WARNING', async () => {
    const reference = await createdReference(adminA, {
      name: 'h200-models-only',
      gpuModel: 'H200',
      content: { gpuModels: ['H200'] },
    });
    const view = await attest(gpuH200);
    expect(view.status).toBe('VERIFIED');
    expect(view.verdict).toBe('WARNING');
    expect(view.error).toBeNull();
    expect(claim(view, 'gpu-model')).toMatchObject({
      passed: true,
      status: 'AFFIRMING',
      actual: 'NVIDIA H200',
    });
    for (const name of [
      'driver-version',
      'vbios-version',
      'confidential-compute-mode',
      'ecc-enabled',
      'mig-mode',
    ]) {
      const c = claim(view, name);
      expect(c, name).toMatchObject({ passed: false, status: 'WARNING' });
      expect(c.reason, name).toContain('no reference value');
      expect(c.reason, name).toContain('"h200-models-only"');
    }
    expect(claim(view, 'driver-version').reason).toBe(
      'no reference value for driverVersions in reference values "h200-models-only"',
    );
    expect(claim(view, 'driver-version').actual).toBe('580.173.02');
    // Every claim that is not affirming is a warning for a missing value, never a failure.
    for (const c of view.claims.filter((x) => !x.passed)) {
      expect(c.status).toBe('WARNING');
      expect(c.reason).toMatch(/no reference value/);
    }
    expect((await attestationReference(view.id))?.id).toBe(reference.id);

    // Deleted afterwards: the attestation keeps its claims; the version is simply gone.
    expect((await deleteReference(adminA, reference.id ?? '')).data?.deleteReferenceValue).toBe(
      true,
    );
    expect(await attestationReference(view.id)).toBeNull();
    const reread = await waitForFinal(supergraph, operatorA, view.id);
    expect(reread.claims).toEqual(view.claims);
    expect(reread.verdict).toBe('WARNING');
  });
});

/** A one-rule policy: MIG must be off. */
function strictPolicy(
  onFail: 'warning' | 'contraindicated',
  options: { id?: string; check?: string } = {},
): string {
  return `# MIG must be off on shared nodes
id: ${options.id ?? 'acme/strict'}
version: 1
description: MIG must be off
rules:
  - claim: mig-disabled
    description: MIG is disabled
    trustClaim: configuration
    when: evidence != null
    check: ${options.check ?? 'evidence.gpu.migMode.current == false'}
    onFail: ${onFail}
    expected: '"DISABLED"'
    actual: 'evidence.gpu.migMode.current ? "ENABLED" : "DISABLED"'
`;
}

describe('appraisal policies', () => {
  let v1: Policy;
  let v2: Policy;

  it('create → version 1; again → version 2 and v1 SUPERSEDED; listed beside the platform default; invisible to another tenant', async () => {
    const first = await createPolicy(adminA, strictPolicy('warning'));
    expect(first.errors).toBeUndefined();
    v1 = first.data?.createAppraisalPolicy as Policy;
    expect(v1).toMatchObject({
      policyId: 'acme/strict',
      version: 1,
      status: 'ACTIVE',
      platform: false,
    });
    expect(v1.document.rules.map((r) => [r.claim, r.onFail])).toEqual([
      ['mig-disabled', 'warning'],
    ]);

    const second = await createPolicy(adminA, strictPolicy('contraindicated'));
    expect(second.errors).toBeUndefined();
    v2 = second.data?.createAppraisalPolicy as Policy;
    // The server numbers versions: the document's `version: 1` is replaced.
    expect(v2).toMatchObject({ policyId: 'acme/strict', version: 2, status: 'ACTIVE' });
    expect(v2.document.version).toBe(2);

    const fetched = await ok<{ appraisalPolicy: Policy | null }>(
      `query($id: ID!) { appraisalPolicy(id: $id) { ...PolicyFields } } ${policyFields}`,
      { id: v1.id },
      viewerA,
    );
    expect(fetched.appraisalPolicy).toMatchObject({ version: 1, status: 'SUPERSEDED' });

    const active = await listPolicies(viewerA);
    expect(active[0]).toMatchObject({
      id: null,
      policyId: 'lotabots/nvidia-gpu-default',
      version: 1,
      status: 'ACTIVE',
      platform: true,
    });
    expect(active.filter((p) => p.policyId === 'acme/strict').map((p) => p.version)).toEqual([2]);
    const all = await listPolicies(viewerA, true);
    expect(
      all.filter((p) => p.policyId === 'acme/strict').map((p) => [p.version, p.status]),
    ).toEqual([
      [2, 'ACTIVE'],
      [1, 'SUPERSEDED'],
    ]);

    // Tenant B sees the platform default only, and not A's record.
    expect((await listPolicies(tenantB.accessToken, true)).map((p) => p.policyId)).toEqual([
      'lotabots/nvidia-gpu-default',
    ]);
    const theirs = await ok<{ appraisalPolicy: Policy | null }>(
      `query($id: ID!) { appraisalPolicy(id: $id) { id } }`,
      { id: v2.id },
      tenantB.accessToken,
    );
    expect(theirs.appraisalPolicy).toBeNull();
  });

  it('acme/strict uses v2 (FAILED on a MIG GPU, naming the rule); acme/strict@1 still works; once v2 is deprecated it is refused', async () => {
    const failed = await attest(gpuMig, { policyId: 'acme/strict' });
    expect(failed.status).toBe('FAILED');
    expect(failed.verdict).toBe('CONTRAINDICATED');
    expect(failed.policy).toBe('acme/strict@2');
    expect(failed.claims.map((c) => c.name)).toEqual(['evidence-format', 'nonce', 'mig-disabled']);
    expect(claim(failed, 'mig-disabled')).toMatchObject({
      passed: false,
      status: 'CONTRAINDICATED',
      trustClaim: 'configuration',
      expected: 'DISABLED',
      actual: 'ENABLED',
    });
    expect(failed.error).toContain('mig-disabled');

    // The same policy on a GPU without MIG: every claim affirming.
    const passing = await attest(gpuH100, { policyId: 'acme/strict' });
    expect(passing).toMatchObject({
      status: 'VERIFIED',
      verdict: 'AFFIRMING',
      policy: 'acme/strict@2',
    });

    // v1 is SUPERSEDED, not deprecated: asking for it by version still uses it (a warning there).
    const older = await attest(gpuMig, { policyId: 'acme/strict@1' });
    expect(older).toMatchObject({
      status: 'VERIFIED',
      verdict: 'WARNING',
      policy: 'acme/strict@1',
    });
    expect(claim(older, 'mig-disabled').status).toBe('WARNING');

    const deprecated = await supergraph.graphql<{ deprecateAppraisalPolicy: Policy }>(
      `mutation($id: ID!) { deprecateAppraisalPolicy(id: $id) { ...PolicyFields } } ${policyFields}`,
      { id: v2.id },
      adminA,
    );
    expect(deprecated.data?.deprecateAppraisalPolicy).toMatchObject({
      version: 2,
      status: 'DEPRECATED',
    });

    const byVersion = await submitRaw({ gpuUuid: gpuMig, policyId: 'acme/strict@2' });
    expect(errorCode(byVersion)).toBe('BAD_USER_INPUT');
    expect(byVersion.errors?.[0]?.message).toBe('appraisal policy acme/strict@2 is deprecated');
    expect(byVersion.errors?.[0]?.extensions?.field).toBe('policyId');

    // No active version is left: the bare id is refused rather than falling back to v1.
    const bare = await submitRaw({ gpuUuid: gpuMig, policyId: 'acme/strict' });
    expect(errorCode(bare)).toBe('BAD_USER_INPUT');
    expect(bare.errors?.[0]?.message).toContain('no active appraisal policy acme/strict');

    const stillOlder = await attest(gpuMig, { policyId: 'acme/strict@1' });
    expect(stillOlder).toMatchObject({ status: 'VERIFIED', policy: 'acme/strict@1' });

    expect((await listPolicies(viewerA)).some((p) => p.policyId === 'acme/strict')).toBe(false);
  });

  it('unknown policies, bad CEL, reserved ids and the wrong roles are refused', async () => {
    const unknown = await submitRaw({ gpuUuid: gpuMig, policyId: 'acme/nope' });
    expect(errorCode(unknown)).toBe('BAD_USER_INPUT');
    expect(unknown.errors?.[0]?.message).toContain('acme/nope');
    const platformVersion = await submitRaw({
      gpuUuid: gpuMig,
      policyId: 'lotabots/nvidia-gpu-default@2',
    });
    expect(errorCode(platformVersion)).toBe('BAD_USER_INPUT');
    expect(platformVersion.errors?.[0]?.message).toContain('has only version 1');
    const malformed = await submitRaw({ gpuUuid: gpuMig, policyId: 'acme strict' });
    expect(errorCode(malformed)).toBe('BAD_USER_INPUT');

    const badCel = await createPolicy(
      adminA,
      strictPolicy('contraindicated', {
        id: 'acme/broken',
        check: 'evidence.gpu.migMode.current ==',
      }),
    );
    expect(errorCode(badCel)).toBe('BAD_USER_INPUT');
    expect(badCel.errors?.[0]?.message).toMatch(/^rule "mig-disabled": check is not valid CEL/);
    expect(badCel.errors?.[0]?.extensions?.field).toBe('document');

    const notBool = await createPolicy(
      adminA,
      strictPolicy('contraindicated', { id: 'acme/broken', check: `'"yes"'` }),
    );
    expect(errorCode(notBool)).toBe('BAD_USER_INPUT');
    expect(notBool.errors?.[0]?.message).toContain('rule "mig-disabled": check must be a bool');

    const reserved = await createPolicy(adminA, strictPolicy('warning', { id: 'lotabots/x' }));
    expect(errorCode(reserved)).toBe('BAD_USER_INPUT');
    expect(reserved.errors?.[0]?.message).toContain('reserved');

    const notYaml = await createPolicy(adminA, 'id: [unclosed');
    expect(errorCode(notYaml)).toBe('BAD_USER_INPUT');
    expect(notYaml.errors?.[0]?.message).toMatch(/^invalid policy: /);

    const byOperator = await createPolicy(operatorA, strictPolicy('warning', { id: 'acme/op' }));
    expect(byOperator.status).toBe(403);
    expect(errorCode(byOperator)).toBe('FORBIDDEN');

    const ids = (await listPolicies(viewerA, true)).map((p) => p.policyId);
    for (const refused of ['acme/broken', 'lotabots/x', 'acme/op']) {
      expect(ids).not.toContain(refused);
    }
  });
});

interface AuditEntry {
  action: string;
  actor: string;
  detail: Record<string, unknown> | null;
  at: string;
}

const auditQuery = /* GraphQL */ `
  query ($id: ID!) {
    hardwareAttestation(id: $id) {
      id
      status
      auditTrail {
        action
        actor
        detail
        at
      }
    }
  }
`;

describe('audit trail', () => {
  it('lists submitted, then PENDING, RUNNING and the final status, in order, with who did each', async () => {
    const view = await attest(gpuA100, {}, tenantA.accessToken);
    expect(['VERIFIED', 'FAILED']).toContain(view.status);
    const data = await ok<{
      hardwareAttestation: { id: string; status: string; auditTrail: AuditEntry[] };
    }>(auditQuery, { id: view.id }, tenantA.accessToken);
    const trail = data.hardwareAttestation.auditTrail;
    expect(trail.map((e) => [e.action, e.detail?.status ?? null])).toEqual([
      ['attestation.submitted', null],
      ['attestation.status', 'PENDING'],
      ['attestation.status', 'RUNNING'],
      ['attestation.status', view.status],
    ]);
    const owner = `user:${tenantA.user.id}`;
    expect(trail[0]?.actor).toBe(owner);
    expect(trail[1]?.actor).toBe(owner);
    expect(trail[2]?.actor).toMatch(/^worker:/);
    expect(trail[3]?.actor).toMatch(/^worker:/);
    expect(trail[0]?.detail).toMatchObject({
      gpuUuid: gpuA100,
      trigger: 'request',
      evidenceSource: 'gpu-agent',
      policy: 'lotabots/nvidia-gpu-default@1',
      nrasResult: false,
    });
    expect(trail[3]?.detail).toMatchObject({ verdict: view.verdict });
    const times = trail.map((e) => Date.parse(e.at));
    expect(times.every((t) => !Number.isNaN(t))).toBe(true);
    expect([...times].sort((a, b) => a - b)).toEqual(times);

    // An AUDITOR may read it too.
    const asAuditor = await ok<{ hardwareAttestation: { auditTrail: AuditEntry[] } }>(
      auditQuery,
      { id: view.id },
      auditorA,
    );
    expect(asAuditor.hardwareAttestation.auditTrail).toEqual(trail);
  });

  it('a VIEWER is refused the audit trail (the whole request, 403 FORBIDDEN) but can read the status', async () => {
    const view = await attest(gpuA100);
    const refused = await supergraph.graphql(auditQuery, { id: view.id }, viewerA);
    expect(refused.status).toBe(403);
    expect(errorCode(refused)).toBe('FORBIDDEN');
    expect(refused.errors?.[0]?.message).toContain('the AUDITOR role or stronger');
    expect(refused.errors?.[0]?.extensions?.deniedFields).toEqual([
      'hardwareAttestation.auditTrail',
    ]);
    expect(refused.data ?? null).toBeNull();

    const allowed = await ok<{ hardwareAttestation: { id: string; status: string } }>(
      'query($id: ID!) { hardwareAttestation(id: $id) { id status verdict } }',
      { id: view.id },
      viewerA,
    );
    expect(allowed.hardwareAttestation).toMatchObject({ id: view.id, status: view.status });
  });
});

interface Page {
  hardwareAttestations: {
    edges: { cursor: string; node: { id: string; status: string; submittedAt: string } }[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  };
}

const pageQuery = /* GraphQL */ `
  query ($first: Int, $after: String, $status: AttestationStatus) {
    hardwareAttestations(first: $first, after: $after, status: $status) {
      edges {
        cursor
        node {
          id
          status
          submittedAt
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`;

async function walk(
  credential: string,
  status: string | null = null,
): Promise<{ pages: number; nodes: Page['hardwareAttestations']['edges'][number]['node'][] }> {
  const nodes: Page['hardwareAttestations']['edges'][number]['node'][] = [];
  let after: string | null = null;
  let pages = 0;
  for (;;) {
    const data: Page = await ok<Page>(pageQuery, { first: 2, after, status }, credential);
    const { edges, pageInfo } = data.hardwareAttestations;
    pages += 1;
    expect(edges.length).toBeLessThanOrEqual(2);
    nodes.push(...edges.map((e) => e.node));
    if (!pageInfo.hasNextPage) break;
    expect(edges).toHaveLength(2);
    expect(pageInfo.endCursor).toBe(edges.at(-1)?.cursor);
    after = pageInfo.endCursor;
    if (pages > 100) throw new Error('pagination does not end');
  }
  return { pages, nodes };
}

describe('listing attestations', () => {
  it('first: 2 + after walks every attestation newest first without duplicates; status filters; another tenant sees none', async () => {
    // A few more of its own, one FAILED (a nonce never issued), so the test stands alone.
    const verified = await attest(gpuA100);
    const failed = await attest(gpuA100, { nonce: 'ab'.repeat(32) });
    expect(failed.status).toBe('FAILED');
    const third = await attest(gpuH200);

    const everything = await ok<Page>(pageQuery, { first: 100 }, operatorA);
    const all = everything.hardwareAttestations.edges.map((e) => e.node);
    expect(everything.hardwareAttestations.pageInfo.hasNextPage).toBe(false);
    expect(all.length).toBeGreaterThanOrEqual(3);
    // Newest first.
    expect(all.slice(0, 3).map((n) => n.id)).toEqual([third.id, failed.id, verified.id]);

    const { pages, nodes } = await walk(operatorA);
    expect(nodes.map((n) => n.id)).toEqual(all.map((n) => n.id));
    expect(new Set(nodes.map((n) => n.id)).size).toBe(nodes.length);
    expect(pages).toBe(Math.ceil(all.length / 2));
    const times = nodes.map((n) => Date.parse(n.submittedAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);

    const onlyFailed = await walk(operatorA, 'FAILED');
    expect(onlyFailed.nodes.map((n) => n.id)).toEqual(
      all.filter((n) => n.status === 'FAILED').map((n) => n.id),
    );
    expect(onlyFailed.nodes.map((n) => n.id)).toContain(failed.id);
    expect(onlyFailed.nodes.map((n) => n.id)).not.toContain(verified.id);

    const theirs = await ok<Page>(pageQuery, { first: 2 }, tenantB.accessToken);
    expect(theirs.hardwareAttestations).toEqual({
      edges: [],
      pageInfo: { hasNextPage: false, endCursor: null },
    });
    // A's cursor gives B nothing either.
    const theirsAfter = await ok<Page>(
      pageQuery,
      { first: 2, after: everything.hardwareAttestations.edges[0]?.cursor },
      tenantB.accessToken,
    );
    expect(theirsAfter.hardwareAttestations.edges).toEqual([]);

    const badCursor = await supergraph.graphql(pageQuery, { first: 2, after: 'nope' }, operatorA);
    expect(errorCode(badCursor)).toBe('BAD_USER_INPUT');
  });
});
