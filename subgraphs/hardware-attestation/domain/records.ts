import type { Attestation, Prisma } from '../../../generated/prisma/hardware-attestation/client.ts';
import { hardwareAttestationStatusTopic } from '../../../platform/events/topics.ts';
import type { Principal } from '../../../platform/auth/principal.ts';

export type AttestationRecord = Attestation;

const dateFields = ['submittedAt', 'startedAt', 'completedAt', 'driftDetectedAt'] as const;

/** The outbox entry announcing a record's new status; the record travels whole. */
export function statusEvent(record: AttestationRecord): {
  topic: string;
  payload: Prisma.InputJsonValue;
} {
  return {
    topic: hardwareAttestationStatusTopic,
    payload: JSON.parse(JSON.stringify(record)) as Prisma.InputJsonValue,
  };
}

/** A record back from an event's JSON (dates were serialised as ISO strings). */
export function recordFromEvent(payload: unknown): AttestationRecord | null {
  if (typeof payload !== 'object' || payload === null) return null;
  const record = { ...(payload as Record<string, unknown>) };
  if (typeof record.id !== 'string' || typeof record.organizationId !== 'string') return null;
  for (const field of dateFields) {
    const value = record[field];
    record[field] = typeof value === 'string' ? new Date(value) : null;
  }
  return record as unknown as AttestationRecord;
}

/** The audit entry for a status change. */
export function statusAudit(
  record: AttestationRecord,
  actor: string,
  detail: Record<string, unknown> = {},
): Prisma.AuditEntryCreateManyInput {
  return {
    organizationId: record.organizationId,
    attestationId: record.id,
    action: 'attestation.status',
    actor,
    detail: { status: record.status, ...detail },
  };
}

/** Who submitted: `user:<id>` or `apikey:<id>`. */
export function submitter(principal: Principal): string {
  return principal.apiKeyId
    ? `apikey:${principal.apiKeyId}`
    : `user:${principal.userId ?? principal.subject}`;
}
