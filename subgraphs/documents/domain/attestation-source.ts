import { z } from 'zod';
import { queryPeer } from '../../../platform/graphql/peer-query.ts';

/** A finished hardware attestation, as a report is made from it. */
export const finishedAttestation = z.object({
  id: z.string().uuid(),
  organizationId: z.string().uuid(),
  gpuUuid: z.string().nullable(),
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
