import { z } from 'zod';
import { queryPeer } from '../../../platform/graphql/peer-query.ts';

/** A finished hardware or model attestation, as a report is made from it. */
export const finishedAttestation = z.object({
  /** Jobs stored before model reports existed carry no type: they are hardware ones. */
  type: z.enum(['HARDWARE', 'MODEL']).default('HARDWARE'),
  id: z.string().uuid(),
  organizationId: z.string().uuid(),
  gpuUuid: z.string().nullable().default(null),
  /** For model attestations: `name@version`. */
  model: z.string().nullable().default(null),
  status: z.enum(['VERIFIED', 'FAILED', 'ERROR']),
  verdict: z.string().nullable(),
  policy: z.string().nullable(),
  claims: z
    .array(
      z.object({
        name: z.string(),
        passed: z.boolean(),
        status: z.string().nullish(),
        expected: z.string().nullish(),
        actual: z.string().nullish(),
        reason: z.string().nullish(),
      }),
    )
    .default([]),
  findings: z
    .array(
      z.object({
        severity: z.string(),
        code: z.string(),
        message: z.string(),
        path: z.string().nullish(),
      }),
    )
    .default([]),
  /** The signed result: an EAR JWT (hardware) or a DSSE envelope (model). */
  token: z.string().nullable(),
  error: z.string().nullable(),
  submittedAt: z.string().nullable(),
  completedAt: z.string().nullable(),
});
export type FinishedAttestation = z.infer<typeof finishedAttestation>;

/** The report subject of a hardware attestation: one report document per subject. */
export function hardwareSubject(attestationId: string): string {
  return `hardware-attestation:${attestationId}`;
}

/** The report subject of a model attestation. */
export function modelSubject(attestationId: string): string {
  return `model-attestation:${attestationId}`;
}

/** The subject of any finished attestation. */
export function subjectOf(attestation: Pick<FinishedAttestation, 'type' | 'id'>): string {
  return attestation.type === 'MODEL'
    ? modelSubject(attestation.id)
    : hardwareSubject(attestation.id);
}

const modelStatusEvent = z.object({
  id: z.string().uuid(),
  organizationId: z.string().uuid(),
  status: z.string(),
  verdict: z.string().nullish(),
  policy: z.string().nullish(),
  model: z.string().nullish(),
  findings: z.unknown(),
  envelope: z.string().nullish(),
  error: z.string().nullish(),
  submittedAt: z.string().nullish(),
  completedAt: z.string().nullish(),
});

/**
 * The finished model attestation a `model-attestation.status` event carries (final statuses carry
 * the result), or null for progress and other non-final events.
 */
export function finishedModelFromEvent(payload: unknown): FinishedAttestation | null {
  const event = modelStatusEvent.safeParse(payload);
  if (!event.success) return null;
  const e = event.data;
  const parsed = finishedAttestation.safeParse({
    type: 'MODEL',
    id: e.id,
    organizationId: e.organizationId,
    model: e.model ?? null,
    status: e.status,
    verdict: e.verdict ?? null,
    policy: e.policy ?? null,
    claims: [],
    findings: Array.isArray(e.findings) ? e.findings : [],
    token: e.envelope ?? null,
    error: e.error ?? null,
    submittedAt: e.submittedAt ?? null,
    completedAt: e.completedAt ?? null,
  });
  return parsed.success ? parsed.data : null;
}

const modelAttestationQuery = /* GraphQL */ `
  query ModelReportSource($id: ID!) {
    modelAttestation(id: $id) {
      id
      status
      verdict
      policy
      findings {
        severity
        code
        message
        path
      }
      envelope
      error
      submittedAt
      completedAt
      modelVersion {
        version
        model {
          name
        }
      }
    }
  }
`;

/** Reads a model attestation with the caller's credentials; null when it is not the caller's. */
export async function readModelAttestation(
  url: string,
  authorization: string,
  organizationId: string,
  id: string,
): Promise<{ status: string; attestation: FinishedAttestation | null } | null> {
  const data = await queryPeer<{
    modelAttestation:
      | (Record<string, unknown> & {
          status: string;
          envelope: string | null;
          modelVersion: { version: string; model: { name: string } };
        })
      | null;
  }>(url, authorization, modelAttestationQuery, { id }, { peer: 'model-attestation subgraph' });
  const found = data.modelAttestation;
  if (!found) return null;
  const { modelVersion, envelope, ...rest } = found;
  const parsed = finishedAttestation.safeParse({
    ...rest,
    type: 'MODEL',
    organizationId,
    model: `${modelVersion.model.name}@${modelVersion.version}`,
    token: envelope,
  });
  return { status: found.status, attestation: parsed.success ? parsed.data : null };
}

const statusEvent = z.object({
  id: z.string().uuid(),
  organizationId: z.string().uuid(),
  gpuUuid: z.string().nullish(),
  status: z.string(),
  verdict: z.string().nullish(),
  policyId: z.string().nullish(),
  policyVersion: z.number().nullish(),
  claims: z.unknown(),
  token: z.string().nullish(),
  error: z.string().nullish(),
  submittedAt: z.string().nullish(),
  completedAt: z.string().nullish(),
});

/**
 * The finished attestation a `hardware-attestation.status` event carries, or null for an event
 * that is not a final status (or not one this version understands).
 */
export function finishedFromEvent(payload: unknown): FinishedAttestation | null {
  const event = statusEvent.safeParse(payload);
  if (!event.success) return null;
  const e = event.data;
  const parsed = finishedAttestation.safeParse({
    type: 'HARDWARE',
    id: e.id,
    organizationId: e.organizationId,
    gpuUuid: e.gpuUuid ?? null,
    status: e.status,
    verdict: e.verdict ?? null,
    policy: e.policyId ? `${e.policyId}@${e.policyVersion ?? 1}` : null,
    claims: Array.isArray(e.claims) ? e.claims : [],
    token: e.token ?? null,
    error: e.error ?? null,
    submittedAt: e.submittedAt ?? null,
    completedAt: e.completedAt ?? null,
  });
  return parsed.success ? parsed.data : null;
}

const attestationQuery = /* GraphQL */ `
  query ReportSource($id: ID!) {
    hardwareAttestation(id: $id) {
      id
      gpuUuid
      status
      verdict
      policy
      claims {
        name
        passed
        status
        expected
        actual
        reason
      }
      token
      error
      submittedAt
      completedAt
    }
  }
`;

/**
 * Reads an attestation from the hardware-attestation subgraph with the caller's own credentials,
 * so that subgraph decides whether the caller's organization owns it. Null when it does not.
 */
export async function readHardwareAttestation(
  url: string,
  authorization: string,
  organizationId: string,
  id: string,
): Promise<{ status: string; attestation: FinishedAttestation | null } | null> {
  const data = await queryPeer<{
    hardwareAttestation: (Omit<FinishedAttestation, 'organizationId'> & { status: string }) | null;
  }>(url, authorization, attestationQuery, { id }, { peer: 'hardware-attestation subgraph' });
  const found = data.hardwareAttestation;
  if (!found) return null;
  const parsed = finishedAttestation.safeParse({ ...found, organizationId });
  return { status: found.status, attestation: parsed.success ? parsed.data : null };
}
