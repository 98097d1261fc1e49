/**
 * What an attestation report says, independent of how it is rendered: the JSON report is built
 * here and the PDF (report-pdf.ts) prints the same facts and the same verification steps, so the
 * two cannot drift apart.
 */

/** One check of an attestation, as the attesting subgraph recorded it. */
export interface ReportClaim {
  name: string;
  passed: boolean;
  status?: string | null;
  expected?: string | null;
  actual?: string | null;
  reason?: string | null;
}

/** A finding of a model attestation scan. */
export interface ReportFinding {
  severity: string;
  code: string;
  message: string;
  path?: string | null;
}

export interface AttestationReportInput {
  attestationType: 'HARDWARE' | 'MODEL';
  attestationId: string;
  organizationId: string;
  /** What was attested, in words, e.g. "GPU GPU-5f2c… (NVIDIA H100 80GB HBM3)" or "model llama-3@1.0". */
  subject: string;
  /** VERIFIED | FAILED | ERROR */
  status: string;
  /** AFFIRMING | WARNING | CONTRAINDICATED | NONE */
  verdict: string | null;
  /** "policy-id@version" */
  policy: string | null;
  /** ISO 8601 */
  submittedAt: string | null;
  /** ISO 8601 */
  completedAt: string | null;
  error: string | null;
  claims: ReportClaim[];
  findings: ReportFinding[];
  /** The signed attestation result (compact JWS/JWT), or for model attestations a DSSE envelope; null when none. */
  token: string | null;
  /** Where the verification keys are published, e.g. "https://lotabots.example/.well-known/jwks.json". */
  jwksUrl: string;
  /** The public GraphQL endpoint, e.g. "https://lotabots.example/graphql". */
  graphqlUrl: string;
  generatedAt: Date;
}

/** Identifies the JSON report's shape; a change that breaks readers gets a new number. */
export const REPORT_SCHEMA = 'lotabots/attestation-report@1';

/** The query a reader can send to have the platform check a signed result for them. */
export const VERIFY_QUERY = 'query { verifyAttestationResult(token: "…") { valid status reason } }';

/** How the signed result of an attestation of this type is encoded. */
export function signedResultFormat(type: AttestationReportInput['attestationType']): string {
  return type === 'HARDWARE' ? 'JWT (ES384, EAR)' : 'DSSE envelope';
}

/**
 * The steps a reader follows to check the signed result without trusting this report: both
 * formats are verified offline against the published key set, or online by the platform.
 */
export function verificationSteps(input: AttestationReportInput): string[] {
  const online = `Or have the platform check it: send ${VERIFY_QUERY}, with the token in place of "…", to ${input.graphqlUrl}; the result is genuine when valid is true.`;
  const served = `Or compare it with the envelope the platform serves: send ${verifyQuery(input)} to ${input.graphqlUrl}; it must be the same envelope.`;
  if (input.attestationType === 'HARDWARE') {
    return [
      `Fetch the public keys (JWKS) from ${input.jwksUrl}.`,
      'Verify the JWT signature (ES384) with the key whose kid matches the kid in the token header.',
      'Check that eat_nonce is the challenge nonce issued for this attestation and that ear.status of every entry in submods is "affirming".',
      online,
    ];
  }
  return [
    `Fetch the public keys (JWKS) from ${input.jwksUrl}.`,
    'Decode the envelope payload (base64) and verify each signature over the DSSE pre-authentication encoding PAE(payloadType, payload) with the key whose kid matches the signature keyid.',
    'Check that the subject digest in the in-toto statement matches the model you hold.',
    served,
  ];
}

/** The GraphQL query that checks (hardware) or fetches (model) the signed result online. */
export function verifyQuery(input: AttestationReportInput): string {
  return input.attestationType === 'HARDWARE'
    ? VERIFY_QUERY
    : `query { modelAttestation(id: "${input.attestationId}") { envelope statement } }`;
}

/** The JSON report: a stable, documented shape (schema id "lotabots/attestation-report@1"). */
export function reportJson(input: AttestationReportInput): Record<string, unknown> {
  return {
    schema: REPORT_SCHEMA,
    generatedAt: input.generatedAt.toISOString(),
    attestation: {
      type: input.attestationType,
      id: input.attestationId,
      organizationId: input.organizationId,
      subject: input.subject,
      status: input.status,
      verdict: input.verdict,
      policy: input.policy,
      submittedAt: input.submittedAt,
      completedAt: input.completedAt,
      error: input.error,
    },
    // Optional fields become explicit nulls so every claim and finding has the same keys.
    claims: input.claims.map((c) => ({
      name: c.name,
      passed: c.passed,
      status: c.status ?? null,
      expected: c.expected ?? null,
      actual: c.actual ?? null,
      reason: c.reason ?? null,
    })),
    findings: input.findings.map((f) => ({
      severity: f.severity,
      code: f.code,
      message: f.message,
      path: f.path ?? null,
    })),
    signedResult: {
      token: input.token,
      format: signedResultFormat(input.attestationType),
      verification: {
        jwksUrl: input.jwksUrl,
        graphqlQuery: verifyQuery(input),
        steps: verificationSteps(input),
      },
    },
  };
}
