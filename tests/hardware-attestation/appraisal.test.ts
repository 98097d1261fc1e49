import { describe, expect, it } from 'vitest';
import {
  gpuEvidenceSchema,
  type GpuEvidence,
} from '../../subgraphs/hardware-attestation/domain/evidence.ts';
import type {
  NrasGpuResult,
  NrasVerification,
} from '../../subgraphs/hardware-attestation/domain/nras.ts';
import {
  compilePolicy,
  defaultPolicy,
  defaultPolicyText,
  parsePolicyDocument,
  PolicyError,
  type AppraisalInput,
  type Appraisal,
  type ClaimResult,
} from '../../subgraphs/hardware-attestation/domain/policy.ts';
import {
  compareVersions,
  platformReferenceValues,
  referenceValueContentSchema,
  type ReferenceValueContent,
} from '../../subgraphs/hardware-attestation/domain/reference-values.ts';

const NONCE = '9f'.repeat(32);

function h100(overrides: { node?: object; gpu?: object } = {}): GpuEvidence {
  return gpuEvidenceSchema.parse({
    nonce: NONCE,
    collectedAt: '2025-06-01T12:00:00Z',
    node: {
      id: 'node-1',
      hostname: 'gpu-node-1',
      driverVersion: '580.173.02',
      cudaVersion: '13.0',
      ...overrides.node,
    },
    gpu: {
      uuid: 'GPU-5f4e3d2c-1b0a-4f9e-8d7c-6b5a49382716',
      index: 0,
      name: 'NVIDIA H100 80GB HBM3',
      serial: '1654922000001',
      vbiosVersion: '96.00.CF.00.01',
      pciBusId: '00000000:1B:00.0',
      pciDeviceId: '0x233010DE',
      architecture: 'Hopper',
      memoryTotalMiB: 81559,
      eccEnabled: true,
      eccErrors: {
        volatileCorrected: 0,
        volatileUncorrected: 0,
        aggregateCorrected: 0,
        aggregateUncorrected: 0,
      },
      retiredPages: null,
      remappedRows: { correctable: 0, uncorrectable: 0, pending: false, failure: false },
      migMode: { current: false, pending: false },
      migInstances: [],
      confidentialComputeMode: 'ON',
      confidentialComputeReady: true,
      ...overrides.gpu,
    },
  });
}

const platformH100 = platformReferenceValues.find((r) => r.gpuModel === 'H100')!;

function reference(content: ReferenceValueContent = platformH100.content) {
  return { id: 'rv-1', version: 3, name: 'acme H100', content };
}

function input(overrides: Partial<AppraisalInput> = {}): AppraisalInput {
  return {
    evidence: h100(),
    evidenceProblem: null,
    nonce: { ok: true, reason: null },
    nras: null,
    reference: reference(),
    ...overrides,
  };
}

function claim(appraisal: Appraisal, name: string): ClaimResult {
  const found = appraisal.claims.find((c) => c.name === name);
  if (!found) {
    throw new Error(`no claim ${name} in ${appraisal.claims.map((c) => c.name).join(', ')}`);
  }
  return found;
}

function nrasGpu(overrides: Partial<NrasGpuResult> = {}): NrasGpuResult {
  return {
    key: 'GPU-0',
    index: 0,
    measres: 'success',
    secboot: true,
    dbgstat: 'disabled',
    driverVersion: '580.173.02',
    vbiosVersion: '96.00.CF.00.01',
    hwmodel: 'GH100 A01 GSP BROM',
    ueid: '478176379286082186618948445787393647364802107249',
    checks: {
      'arch-check': true,
      'attestation-report-cert-chain-validated': true,
      'attestation-report-parsed': true,
      'attestation-report-nonce-match': true,
      'attestation-report-signature-verified': true,
      'driver-rim-fetched': true,
      'driver-rim-signature-verified': true,
      'driver-rim-cert-validated': true,
      'vbios-rim-fetched': true,
      'vbios-rim-signature-verified': true,
      'vbios-rim-cert-validated': true,
    },
    ...overrides,
  };
}

function nras(overrides: Partial<NrasVerification> = {}): NrasVerification {
  return {
    verified: true,
    failures: [],
    overall: {
      result: true,
      issuer: 'https://nras.attestation.nvidia.com',
      issuedAt: 1_748_779_200,
      expiresAt: 1_748_782_800,
      kid: 'nv-eat-kid-prod-1',
      nonce: NONCE,
    },
    gpus: [nrasGpu()],
    ...overrides,
  };
}

describe('default policy', () => {
  it('affirms a healthy H100 in CC mode against the platform reference values', () => {
    const appraisal = defaultPolicy.appraise(input());
    expect(appraisal.claims.filter((c) => c.status !== 'affirming')).toEqual([]);
    expect(appraisal.status).toBe('affirming');
    expect(appraisal.policyId).toBe('lotabots/nvidia-gpu-default');
    expect(appraisal.policyVersion).toBe(1);
    expect(appraisal.referenceValueId).toBe('rv-1');
    expect(appraisal.referenceValueVersion).toBe(3);
    expect(appraisal.claims.slice(0, 2).map((c) => c.name)).toEqual(['evidence-format', 'nonce']);
    expect(appraisal.trustVector).toEqual({
      'instance-identity': 2,
      configuration: 2,
      executables: 2,
      'file-system': 0,
      hardware: 2,
      'runtime-opaque': 2,
      'storage-opaque': 0,
      'sourced-data': 0,
    });
    expect(claim(appraisal, 'driver-version')).toMatchObject({
      passed: true,
      expected: '>= 550.54.14',
      actual: '580.173.02',
      reason: null,
    });
  });

  it('contraindicates a denied driver and names it in expected/actual', () => {
    const appraisal = defaultPolicy.appraise(
      input({
        reference: reference({
          ...platformH100.content,
          driverVersions: { min: '550.54.14', denied: ['580.173.02'] },
        }),
      }),
    );
    expect(appraisal.status).toBe('contraindicated');
    const driver = claim(appraisal, 'driver-version');
    expect(driver).toMatchObject({
      passed: false,
      status: 'contraindicated',
      trustClaim: 'configuration',
      expected: '>= 550.54.14, not 580.173.02',
      actual: '580.173.02',
    });
    expect(driver.reason).toContain('580.173.02');
    expect(appraisal.trustVector.configuration).toBe(96);
  });

  it('contraindicates a driver below the minimum', () => {
    const appraisal = defaultPolicy.appraise(
      input({
        evidence: h100({ node: { driverVersion: '550.54.9' } }),
        reference: reference({ ...platformH100.content, driverVersions: { min: '550.54.14' } }),
      }),
    );
    expect(claim(appraisal, 'driver-version')).toMatchObject({
      status: 'contraindicated',
      expected: '>= 550.54.14',
      actual: '550.54.9',
    });
  });

  it('contraindicates CC mode OFF on runtime-opaque', () => {
    const appraisal = defaultPolicy.appraise(
      input({ evidence: h100({ gpu: { confidentialComputeMode: 'OFF' } }) }),
    );
    expect(appraisal.status).toBe('contraindicated');
    expect(appraisal.trustVector['runtime-opaque']).toBe(96);
    expect(claim(appraisal, 'confidential-compute-mode')).toMatchObject({
      status: 'contraindicated',
      expected: 'ON',
      actual: 'OFF',
    });
  });

  it('contraindicates uncorrected ECC errors and warns on disabled ECC', () => {
    const errors = defaultPolicy.appraise(
      input({
        evidence: h100({
          gpu: {
            eccErrors: {
              volatileCorrected: 4,
              volatileUncorrected: 2,
              aggregateCorrected: 4,
              aggregateUncorrected: 2,
            },
          },
        }),
      }),
    );
    expect(claim(errors, 'ecc-uncorrected-errors')).toMatchObject({
      status: 'contraindicated',
      actual: 'volatile 2, aggregate 2',
    });
    expect(errors.trustVector.hardware).toBe(96);

    const off = defaultPolicy.appraise(
      input({ evidence: h100({ gpu: { eccEnabled: false, eccErrors: null } }) }),
    );
    expect(claim(off, 'ecc-enabled')).toMatchObject({ status: 'warning', actual: 'disabled' });
    expect(off.claims.some((c) => c.name === 'ecc-uncorrected-errors')).toBe(false);
    expect(off.status).toBe('warning');
    expect(off.trustVector.hardware).toBe(32);
  });

  it('warns on a missing reference value set instead of failing', () => {
    const appraisal = defaultPolicy.appraise(input({ reference: null }));
    expect(appraisal.status).toBe('warning');
    const driver = claim(appraisal, 'driver-version');
    expect(driver.status).toBe('warning');
    expect(driver.passed).toBe(false);
    expect(driver.reason).toContain('no reference value for GPU model NVIDIA H100 80GB HBM3');
    expect(driver.actual).toBe('580.173.02');
    expect(appraisal.referenceValueId).toBeNull();
  });

  it('warns on a reference value set that lacks one field', () => {
    const { driverVersions: _, ...withoutDriver } = platformH100.content;
    const appraisal = defaultPolicy.appraise(input({ reference: reference(withoutDriver) }));
    expect(appraisal.status).toBe('warning');
    expect(claim(appraisal, 'driver-version')).toMatchObject({ status: 'warning' });
    expect(claim(appraisal, 'driver-version').reason).toMatch(
      /^no reference value for driverVersions/,
    );
  });

  it('contraindicates a failed nonce check with its reason', () => {
    const appraisal = defaultPolicy.appraise(
      input({ nonce: { ok: false, reason: 'nonce already used by attestation att_123' } }),
    );
    expect(appraisal.status).toBe('contraindicated');
    expect(claim(appraisal, 'nonce')).toMatchObject({
      status: 'contraindicated',
      trustClaim: 'instance-identity',
      reason: 'nonce already used by attestation att_123',
    });
    expect(appraisal.trustVector['instance-identity']).toBe(96);
  });

  it('contraindicates unusable evidence and skips the evidence rules', () => {
    const appraisal = defaultPolicy.appraise(
      input({ evidence: null, evidenceProblem: 'gpu.uuid: Required' }),
    );
    expect(appraisal.status).toBe('contraindicated');
    expect(claim(appraisal, 'evidence-format')).toMatchObject({
      status: 'contraindicated',
      reason: 'gpu.uuid: Required',
    });
    expect(appraisal.claims.map((c) => c.name)).toEqual(['evidence-format', 'nonce']);
  });

  it('affirms the NRAS claims of a verified NRAS result', () => {
    const appraisal = defaultPolicy.appraise(
      input({
        nras: nras(),
        reference: reference({ ...platformH100.content, nrasRequired: true }),
      }),
    );
    expect(appraisal.claims.filter((c) => c.status !== 'affirming')).toEqual([]);
    for (const name of [
      'nras-signature',
      'nras-present',
      'nras-overall-result',
      'nras-measurements',
      'nras-secure-boot',
      'nras-debug-disabled',
      'nras-driver-matches-node',
      'nras-rim-and-cert-checks',
      'nras-attestation-report',
    ]) {
      expect(claim(appraisal, name).status).toBe('affirming');
    }
    expect(appraisal.trustVector['sourced-data']).toBe(2);
  });

  it('contraindicates an NRAS result that fails verification, naming the failure', () => {
    const reason = 'GPU-0: signature does not verify with the NRAS key "nv-eat-kid-prod-1"';
    const appraisal = defaultPolicy.appraise(
      input({
        nras: nras({
          verified: false,
          failures: [
            { check: 'signature', token: 'GPU-0', reason },
            { check: 'expired', token: 'overall', reason: 'overall token: expired' },
          ],
        }),
      }),
    );
    expect(appraisal.status).toBe('contraindicated');
    expect(claim(appraisal, 'nras-signature')).toMatchObject({
      status: 'contraindicated',
      trustClaim: 'sourced-data',
      reason: `${reason}; overall token: expired`,
    });
    expect(appraisal.trustVector['sourced-data']).toBe(96);
    // Claims from an unverified result are not appraised.
    expect(appraisal.claims.some((c) => c.name === 'nras-measurements')).toBe(false);
  });

  it('contraindicates bad NRAS claims', () => {
    const appraisal = defaultPolicy.appraise(
      input({
        nras: nras({
          gpus: [
            nrasGpu({
              measres: 'fail',
              dbgstat: 'enabled',
              driverVersion: '570.86.15',
              checks: { ...nrasGpu().checks, 'driver-rim-signature-verified': false },
            }),
          ],
        }),
      }),
    );
    expect(claim(appraisal, 'nras-measurements')).toMatchObject({
      status: 'contraindicated',
      actual: 'fail',
    });
    expect(claim(appraisal, 'nras-debug-disabled').status).toBe('contraindicated');
    expect(claim(appraisal, 'nras-driver-matches-node')).toMatchObject({
      status: 'contraindicated',
      expected: '580.173.02',
      actual: '570.86.15',
    });
    expect(claim(appraisal, 'nras-rim-and-cert-checks')).toMatchObject({
      status: 'contraindicated',
      actual: 'not passed: driver-rim-signature-verified',
    });
    expect(claim(appraisal, 'nras-attestation-report').status).toBe('affirming');
  });

  it('contraindicates a missing NRAS result when the reference values require one', () => {
    const appraisal = defaultPolicy.appraise(
      input({ reference: reference({ ...platformH100.content, nrasRequired: true }) }),
    );
    expect(claim(appraisal, 'nras-present')).toMatchObject({
      status: 'contraindicated',
      actual: 'no NRAS result',
    });
  });

  it('skips the CC rules for an A100, which has no confidential computing', () => {
    const a100 = platformReferenceValues.find((r) => r.gpuModel === 'A100')!;
    const appraisal = defaultPolicy.appraise(
      input({
        evidence: h100({
          gpu: {
            name: 'NVIDIA A100-SXM4-80GB',
            vbiosVersion: '92.00.45.00.03',
            architecture: 'Ampere',
            confidentialComputeMode: null,
            confidentialComputeReady: null,
          },
        }),
        reference: reference(a100.content),
      }),
    );
    expect(appraisal.status).toBe('affirming');
    expect(appraisal.claims.some((c) => c.name.startsWith('confidential-compute'))).toBe(false);
  });

  it('parses its own YAML text', () => {
    const doc = parsePolicyDocument(defaultPolicyText);
    expect(doc.id).toBe('lotabots/nvidia-gpu-default');
    expect(doc.rules.map((r) => r.claim)).toContain('nras-rim-and-cert-checks');
  });
});

describe('custom policies', () => {
  const yaml = (check: string, extra = '') => `
id: acme/strict
version: 2
rules:
  - claim: driver-pinned
    description: Driver is exactly the pinned one
    trustClaim: configuration
    check: ${check}
    onFail: warning
${extra}`;

  it('appraises with a policy from YAML or JSON', () => {
    const policy = compilePolicy(
      parsePolicyDocument(yaml('evidence.node.driverVersion == "580.173.02"')),
    );
    const appraisal = policy.appraise(input());
    expect(appraisal).toMatchObject({ policyId: 'acme/strict', policyVersion: 2 });
    expect(claim(appraisal, 'driver-pinned').status).toBe('affirming');

    const json = compilePolicy(
      parsePolicyDocument(
        JSON.stringify({
          id: 'acme/json',
          version: 1,
          rules: [
            {
              claim: 'old-driver',
              description: 'Driver is older than 560',
              trustClaim: 'configuration',
              check: 'versionCompare(evidence.node.driverVersion, "560") < 0',
              onFail: 'contraindicated',
            },
          ],
        }),
      ),
    );
    const failed = json.appraise(input());
    expect(failed.status).toBe('contraindicated');
    expect(claim(failed, 'old-driver').reason).toContain('Driver is older than 560');
  });

  it('rejects a bad CEL expression naming the rule', () => {
    expect(() => parsePolicyDocument(yaml('evidence.node.driverVersion == '))).toThrow(PolicyError);
    expect(() => parsePolicyDocument(yaml('evidence.node.driverVersion == '))).toThrow(
      /rule "driver-pinned": check is not valid CEL/,
    );
    // Type errors and unknown names are found before any evidence is appraised.
    expect(() => parsePolicyDocument(yaml('1 == "a"'))).toThrow(
      /rule "driver-pinned": check does not type-check/,
    );
    expect(() => parsePolicyDocument(yaml('evidnce.node.driverVersion == "1"'))).toThrow(
      /rule "driver-pinned": check does not type-check: .*evidnce/,
    );
    expect(() => parsePolicyDocument(yaml('size("x")'))).toThrow(
      /check must be a bool, but is int/,
    );
  });

  it('rejects expressions whose cost could explode', () => {
    expect(() =>
      parsePolicyDocument(
        yaml("'[1, 2].all(a, [1, 2].all(b, [1, 2].all(c, [1, 2].all(d, true))))'"),
      ),
    ).toThrow(/rule "driver-pinned": check nests macros too deeply/);
    expect(() => parsePolicyDocument(yaml(`'${'('.repeat(60)}true${')'.repeat(60)}'`))).toThrow(
      /rule "driver-pinned": check is not valid CEL: Exceeded maxDepth/,
    );
  });

  it('rejects a bad document shape precisely', () => {
    expect(() => parsePolicyDocument(yaml('true', '    onFial: warning'))).toThrow(
      /rules\[0\] \(driver-pinned\): Unrecognized key.*onFial/,
    );
    expect(() => parsePolicyDocument(yaml('true').replace('configuration', 'firmware'))).toThrow(
      /rules\[0\] \(driver-pinned\)\.trustClaim: must be one of instance-identity/,
    );
    expect(() => parsePolicyDocument(yaml('true').replace('driver-pinned', 'nonce'))).toThrow(
      /built-in claim/,
    );
    expect(() => parsePolicyDocument('id: [unterminated')).toThrow(/not valid YAML or JSON/);
    expect(() => parsePolicyDocument(yaml('true').replace('version: 2', 'version: 0'))).toThrow(
      /version/,
    );
  });

  it('turns a runtime evaluation error into a claim, not an exception', () => {
    const policy = compilePolicy(
      parsePolicyDocument(
        yaml(
          'evidence.gpu.noSuchField == "x"',
          '  - claim: still-runs\n    description: Runs after\n    trustClaim: hardware\n    check: "true"\n    onFail: warning',
        ),
      ),
    );
    const appraisal = policy.appraise(input());
    expect(claim(appraisal, 'driver-pinned')).toMatchObject({
      passed: false,
      status: 'none',
    });
    expect(claim(appraisal, 'driver-pinned').reason).toMatch(
      /^rule driver-pinned failed to evaluate: .*noSuchField/,
    );
    expect(claim(appraisal, 'still-runs').status).toBe('affirming');
    // A rule that could not be evaluated keeps the result from being affirming.
    expect(appraisal.status).toBe('none');
    expect(appraisal.trustVector.configuration).toBe(-1);
  });

  it('reports a missing-path requirement as a warning', () => {
    const policy = compilePolicy(
      parsePolicyDocument(
        yaml(
          'versionAllowed(evidence.gpu.vbiosVersion, ref.vbiosVersions)',
          '    requires: ref.vbiosVersions',
        ),
      ),
    );
    const { vbiosVersions: _, ...content } = platformH100.content;
    const appraisal = policy.appraise(input({ reference: reference(content) }));
    expect(claim(appraisal, 'driver-pinned')).toMatchObject({ status: 'warning' });
    expect(claim(appraisal, 'driver-pinned').reason).toContain(
      'no reference value for vbiosVersions',
    );
  });
});

describe('versionCompare', () => {
  it.each([
    ['580.173.02', '580.173.02', 0],
    ['580.173.02', '580.173.2', 0],
    ['580.173.02', '550.54.14', 1],
    ['550.54.9', '550.54.14', -1],
    ['580.173', '580.173.02', -1],
    ['1.2', '1.2.0', 0],
    ['96.00.CF.00.01', '96.00.D0.00.01', -1],
    ['96.00.cf.00.01', '96.00.CF.00.01', 0],
    ['96.00.0A.00.01', '96.00.10.00.01', -1],
    ['10', '9', 1],
    ['99999999999999999999', '100000000000000000000', -1],
    ['1.beta', '1.alpha', 1],
  ])('compareVersions(%s, %s) has sign %i', (a, b, sign) => {
    expect(Math.sign(compareVersions(a, b))).toBe(sign);
    expect(Math.sign(compareVersions(b, a))).toBe(-sign || 0);
  });

  it('is available to policies', () => {
    const policy = compilePolicy({
      id: 'acme/versions',
      version: 1,
      rules: [
        {
          claim: 'compare',
          description: 'versionCompare works in CEL',
          trustClaim: 'configuration',
          check:
            'versionCompare("96.00.CF.00.01", "96.00.D0.00.01") == -1 && versionCompare("2", "2.0") == 0',
          onFail: 'contraindicated',
        },
      ],
    });
    expect(claim(policy.appraise(input()), 'compare').status).toBe('affirming');
  });
});

describe('reference value content', () => {
  it('accepts the platform defaults', () => {
    for (const { content } of platformReferenceValues) {
      expect(referenceValueContentSchema.parse(content)).toEqual(content);
    }
  });

  it('rejects unknown keys and malformed versions with clear messages', () => {
    const unknown = referenceValueContentSchema.safeParse({ driverVersion: { min: '550' } });
    expect(unknown.success).toBe(false);
    expect(unknown.error?.issues[0]?.message).toMatch(/unknown field "driverVersion"; expected/);
    const nested = referenceValueContentSchema.safeParse({ driverVersions: { minimum: '550' } });
    expect(nested.error?.issues[0]?.message).toMatch(/unknown field "minimum"/);
    const bad = referenceValueContentSchema.safeParse({ driverVersions: { min: '550; rm -rf' } });
    expect(bad.error?.issues[0]?.message).toMatch(/dotted version/);
    const inverted = referenceValueContentSchema.safeParse({
      driverVersions: { min: '580', max: '550' },
    });
    expect(inverted.error?.issues[0]?.message).toBe('min must not be above max');
  });
});
