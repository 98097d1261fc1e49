import type { Attestation } from '../../../generated/prisma/hardware-attestation/client.ts';
import type { Principal } from '../../../platform/auth/principal.ts';

export type AttestationRecord = Attestation;

const dateFields = ['submittedAt', 'startedAt', 'completedAt', 'driftDetectedAt'] as const;

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

/** Who submitted: `user:<id>` or `apikey:<id>`. */
export function submitter(principal: Principal): string {
  return principal.apiKeyId
    ? `apikey:${principal.apiKeyId}`
    : `user:${principal.userId ?? principal.subject}`;
}
