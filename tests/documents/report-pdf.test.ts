import { getDocument } from 'pdfjs-dist/legacy/build/pdf.mjs';
import { describe, expect, it } from 'vitest';
import {
  reportJson,
  type AttestationReportInput,
  type ReportClaim,
} from '../../subgraphs/documents/domain/report-content.ts';
import { pdfSafe, renderReportPdf } from '../../subgraphs/documents/domain/report-pdf.ts';
import { pdfPageTexts, pdfText } from '../support/pdf.ts';

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A JWT shaped like a signed EAR: long, no spaces, base64url characters only. */
const token = [
  b64url({ alg: 'ES384', kid: 'ear-2026-11', typ: 'JWT' }),
  b64url({
    eat_profile: 'tag:github.com,2023:veraison/ear',
    iat: 1_796_000_000,
    eat_nonce: 'q2F8c1N0b3JlZC1ub25jZS0xMjM0NTY3ODkw',
    'ear.verifier-id': { developer: 'https://lotabots.example', build: 'lotabots-0.1.0' },
    submods: {
      'GPU-5f2c9a7e-1d3b-4c8e-9f0a-2b4d6e8f1a3c': {
        'ear.status': 'affirming',
        'ear.trustworthiness-vector': { 'instance-identity': 2, configuration: 2 },
        'ear.appraisal-policy-id': 'default-h100@3',
      },
    },
    'x-lotabots-attestation-id': '0b4f6c1e-9a7d-4c3e-8f21-5d6e7a8b9c0d',
  }),
  Buffer.alloc(96, 0xa7).toString('base64url'),
].join('.');

const sixClaims: ReportClaim[] = [
  {
    name: 'evidence-format',
    passed: true,
    status: 'affirming',
    expected: 'GPU evidence matching the evidence schema',
    actual: 'well-formed',
  },
  {
    name: 'nonce',
    passed: true,
    status: 'affirming',
    expected: 'an unexpired, unused challenge nonce issued for this GPU',
    actual: 'q2F8c1N0b3JlZC1ub25jZS0xMjM0NTY3ODkw',
  },
  { name: 'nras-signature', passed: true, status: 'affirming', actual: 'verified' },
  {
    name: 'driver-version',
    passed: true,
    status: 'affirming',
    expected: '>= 550.54',
    actual: '550.90.07',
  },
  {
    name: 'confidential-compute-mode',
    passed: true,
    status: 'affirming',
    expected: 'on',
    actual: 'on',
  },
  { name: 'nras-rim-and-cert-checks', passed: true, status: 'affirming', actual: 'all passed' },
];

function hardwareReport(overrides: Partial<AttestationReportInput> = {}): AttestationReportInput {
  return {
    attestationType: 'HARDWARE',
    attestationId: '0b4f6c1e-9a7d-4c3e-8f21-5d6e7a8b9c0d',
    organizationId: '7d1e2f3a-4b5c-4d6e-8f70-1a2b3c4d5e6f',
    subject: 'GPU GPU-5f2c… (NVIDIA H100 80GB HBM3)',
    status: 'VERIFIED',
    verdict: 'AFFIRMING',
    policy: 'default-h100@3',
    submittedAt: '2026-11-30T14:03:12.123Z',
    completedAt: '2026-11-30T14:03:14.456Z',
    error: null,
    claims: sixClaims,
    findings: [],
    token,
    jwksUrl: 'https://lotabots.example/.well-known/jwks.json',
    graphqlUrl: 'https://lotabots.example/graphql',
    generatedAt: new Date('2026-12-01T09:30:00.000Z'),
    ...overrides,
  };
}

const compact = (text: string) => text.replace(/\s+/g, '');

describe('renderReportPdf', () => {
  it('prints a verified hardware attestation: summary, every claim, the token and how to verify it', async () => {
    const input = hardwareReport();
    const pdf = await renderReportPdf(input);
    expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');

    const text = await pdfText(pdf);
    expect(text).toContain('LotaBots attestation report');
    expect(text).toContain('Hardware attestation');
    expect(text).toContain('VERIFIED - verdict AFFIRMING');
    expect(text).toContain(input.attestationId);
    expect(text).toContain('default-h100@3');
    expect(text).toContain('GPU GPU-5f2c... (NVIDIA H100 80GB HBM3)');
    expect(text).toContain('2026-11-30 14:03:12 UTC');
    for (const claim of sixClaims) expect(text).toContain(claim.name);
    expect(text).toContain('No findings.');
    // The token is cut into fixed-width lines, which extraction separates with spaces.
    expect(compact(text)).toContain(token);
    expect(text).toContain(input.jwksUrl);
    expect(text).toContain('verifyAttestationResult(token: "...") { valid status reason }');
    expect(text).toContain(`jwtVerify(token, createRemoteJWKSet(new URL("${input.jwksUrl}")))`);
    expect(text).toContain(`Attestation ${input.attestationId} · page 1 of 1`);
  });

  it('shows which claim failed, with its actual value and reason', async () => {
    const claims: ReportClaim[] = [
      ...sixClaims.slice(0, 3),
      {
        name: 'driver-version',
        passed: false,
        status: 'contraindicated',
        expected: '>= 550.54',
        actual: '535.104.05',
        reason: 'driver 535.104.05 is older than the minimum 550.54',
      },
      ...sixClaims.slice(4),
    ];
    const pdf = await renderReportPdf(
      hardwareReport({ status: 'FAILED', verdict: 'CONTRAINDICATED', claims }),
    );
    const text = await pdfText(pdf);
    expect(text).toContain('FAILED - verdict CONTRAINDICATED');
    expect(text).toContain('5 passed, 1 failed.');
    expect(text).toMatch(/driver-version FAIL contraindicated >= 550\.54 535\.104\.05/);
    expect(text).toContain('535.104.05');
    expect(text).toContain('driver 535.104.05 is older than the minimum 550.54');
  });

  it('continues a long claims table over pages, repeating its header row on each', async () => {
    const claims: ReportClaim[] = Array.from({ length: 80 }, (_, i) => ({
      name: `nras-measurement-${String(i).padStart(2, '0')}`,
      passed: i % 9 !== 0,
      status: i % 9 === 0 ? 'contraindicated' : 'affirming',
      expected: 'measurement matches the reference integrity manifest',
      actual:
        i % 4 === 0 ? 'a3f9c2e17b5d4e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f' : 'match',
      reason: i % 9 === 0 ? 'measurement differs from the RIM' : null,
    }));
    const pdf = await renderReportPdf(hardwareReport({ claims }));
    const pages = await pdfPageTexts(pdf);
    expect(pages.length).toBeGreaterThan(1);

    const text = pages.join('\n');
    for (const claim of claims) expect(text).toContain(claim.name);
    expect(text).toContain(`page 2 of ${pages.length}`);
    pages.forEach((page, i) => {
      expect(page).toContain(`page ${i + 1} of ${pages.length}`);
      const firstRow = page.search(/nras-measurement-\d\d/);
      if (firstRow === -1) return;
      // The header row comes before the first claim row of every page the table reaches.
      const header = page.indexOf('Claim Result Expected Actual Reason');
      expect(header, `header row on page ${i + 1}`).toBeGreaterThanOrEqual(0);
      expect(header).toBeLessThan(firstRow);
    });
    const headerRows = text.match(/Claim Result Expected Actual Reason/g) ?? [];
    const tablePages = pages.filter((p) => /nras-measurement-\d\d/.test(p)).length;
    expect(headerRows.length).toBe(tablePages);
  });

  it('wraps cells that do not fit: long words are cut, a row taller than a page is split', async () => {
    const longName = `claim-${'x'.repeat(70)}`;
    const longReason = Array.from({ length: 900 }, (_, i) => `word${i}`).join(' ');
    const pdf = await renderReportPdf(
      hardwareReport({
        claims: [
          { name: longName, passed: false, reason: 'too long to fit' },
          { name: 'endless-reason', passed: false, reason: longReason },
          { name: 'after-the-long-row', passed: true },
        ],
      }),
    );
    const pages = await pdfPageTexts(pdf);
    const text = pages.join('\n');
    expect(compact(text)).toContain(longName);
    expect(text).toContain('word0 word1');
    expect(text).toContain('word899');
    expect(text).toContain('after-the-long-row');
    expect(pages.length).toBeGreaterThan(2);
  });

  it('spells characters the standard fonts cannot draw in ASCII', async () => {
    const pdf = await renderReportPdf(hardwareReport({ subject: 'GPU → 東京 — “primary” node…' }));
    const text = await pdfText(pdf);
    expect(text).toContain('GPU -> ?? - "primary" node...');
    // Everything extracted is Latin-1: nothing was written in an encoding the font lacks.
    expect([...text].filter((c) => (c.codePointAt(0) ?? 0) > 0xff)).toEqual([]);
  });

  it('says why there is no signed result when there is none', async () => {
    const pdf = await renderReportPdf(
      hardwareReport({
        status: 'ERROR',
        verdict: null,
        token: null,
        error: 'NRAS did not answer within 30 s',
      }),
    );
    const text = await pdfText(pdf);
    expect(text).toContain('ERROR - no verdict');
    expect(text).toContain('No signed result: NRAS did not answer within 30 s');
    expect(text).not.toContain('How to verify');
  });

  it('prints a model attestation with its findings and DSSE envelope', async () => {
    const envelope = JSON.stringify({
      payloadType: 'application/vnd.in-toto+json',
      payload: Buffer.from('{"_type":"https://in-toto.io/Statement/v1"}').toString('base64'),
      signatures: [{ keyid: 'model-2026-11', sig: Buffer.alloc(64, 0x3c).toString('base64') }],
    });
    const pdf = await renderReportPdf(
      hardwareReport({
        attestationType: 'MODEL',
        subject: 'model llama-3@1.0',
        claims: [{ name: 'weights-digest', passed: true }],
        findings: [
          {
            severity: 'HIGH',
            code: 'pickle-global',
            message: 'The checkpoint imports os.system when unpickled',
            path: 'weights/model.bin',
          },
          { severity: 'LOW', code: 'license-missing', message: 'No LICENSE file' },
        ],
        token: envelope,
      }),
    );
    const text = await pdfText(pdf);
    expect(text).toContain('Model attestation');
    expect(text).toContain('Severity Code Message Path');
    expect(text).toContain('HIGH pickle-global The checkpoint imports os.system when unpickled');
    expect(text).toContain('weights/model.bin');
    expect(text).toContain('license-missing');
    expect(text).toContain('Format: DSSE envelope');
    expect(compact(text)).toContain(compact(envelope));
    expect(text).not.toContain('jwtVerify');
  });

  it('is deterministic: the same input gives the same bytes', async () => {
    // pdfkit derives the trailer /ID from the document info (an MD5 over CreationDate and the
    // other entries), so with CreationDate fixed to generatedAt nothing in the file is random.
    const first = await renderReportPdf(hardwareReport());
    const second = await renderReportPdf(hardwareReport());
    expect(first.equals(second)).toBe(true);
    const later = await renderReportPdf(
      hardwareReport({ generatedAt: new Date('2026-12-02T09:30:00.000Z') }),
    );
    expect(later.equals(first)).toBe(false);
  });

  it('records the document info', async () => {
    const pdf = await renderReportPdf(hardwareReport());
    const task = getDocument({ data: new Uint8Array(pdf), isEvalSupported: false, verbosity: 0 });
    const document = await task.promise;
    try {
      const { info } = await document.getMetadata();
      expect(info).toMatchObject({
        Title: 'LotaBots attestation report 0b4f6c1e-9a7d-4c3e-8f21-5d6e7a8b9c0d',
        Author: 'LotaBots',
        CreationDate: 'D:20261201093000Z',
      });
    } finally {
      await task.destroy();
    }
  });
});

describe('pdfSafe', () => {
  it('keeps Latin-1 and folds or replaces the rest', () => {
    expect(pdfSafe('café · 100 °C ± 2')).toBe('café · 100 °C ± 2');
    expect(pdfSafe('a … b → c — d – e ‘f’ “g”')).toBe('a ... b -> c - d - e \'f\' "g"');
    expect(pdfSafe('ﬁle ＧＰＵ')).toBe('file GPU');
    expect(pdfSafe('東京 🙂')).toBe('?? ?');
    expect(pdfSafe('bell\u0007 tab\tline\r\nnext')).toBe('bell? tab line\nnext');
  });
});

describe('reportJson', () => {
  it('has the documented shape, with explicit nulls and verification steps', () => {
    const input = hardwareReport({
      claims: [{ name: 'nonce', passed: false, reason: 'the nonce was already used' }],
    });
    const json = reportJson(input);
    expect(json).toEqual({
      schema: 'lotabots/attestation-report@1',
      generatedAt: '2026-12-01T09:30:00.000Z',
      attestation: {
        type: 'HARDWARE',
        id: input.attestationId,
        organizationId: input.organizationId,
        subject: input.subject,
        status: 'VERIFIED',
        verdict: 'AFFIRMING',
        policy: 'default-h100@3',
        submittedAt: '2026-11-30T14:03:12.123Z',
        completedAt: '2026-11-30T14:03:14.456Z',
        error: null,
      },
      claims: [
        {
          name: 'nonce',
          passed: false,
          status: null,
          expected: null,
          actual: null,
          reason: 'the nonce was already used',
        },
      ],
      findings: [],
      signedResult: {
        token,
        format: 'JWT (ES384, EAR)',
        verification: {
          jwksUrl: input.jwksUrl,
          graphqlQuery: 'query { verifyAttestationResult(token: "…") { valid status reason } }',
          steps: expect.any(Array) as unknown,
        },
      },
    });
    const { steps } = (json.signedResult as { verification: { steps: string[] } }).verification;
    expect(steps.length).toBeGreaterThanOrEqual(3);
    expect(steps[0]).toContain(input.jwksUrl);
    expect(steps.join(' ')).toMatch(/kid/);
    expect(steps.join(' ')).toMatch(/eat_nonce/);
    expect(steps.join(' ')).toMatch(/ear\.status/);
    expect(steps.some((s) => s.includes('verifyAttestationResult'))).toBe(true);
    expect(steps.some((s) => s.includes(input.graphqlUrl))).toBe(true);
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
  });

  it('names the DSSE envelope for model attestations', () => {
    const json = reportJson(hardwareReport({ attestationType: 'MODEL', token: null }));
    const signed = json.signedResult as {
      token: string | null;
      format: string;
      verification: { steps: string[] };
    };
    expect(signed.token).toBeNull();
    expect(signed.format).toBe('DSSE envelope');
    expect(signed.verification.steps[0]).toContain(
      'https://lotabots.example/.well-known/jwks.json',
    );
    expect(signed.verification.steps.join(' ')).toMatch(/DSSE/);
  });
});
