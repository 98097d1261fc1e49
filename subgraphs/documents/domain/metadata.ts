import { z } from 'zod';
import { badInput } from '../../../platform/errors.ts';

export type DocumentKind =
  'ATTESTATION_REPORT' | 'COMPLIANCE_CERTIFICATE' | 'MODEL_CARD' | 'POLICY' | 'CUSTOM';

/** Metadata is searched and shown in lists: keep it small. */
export const MAX_METADATA_BYTES = 16 * 1024;
const maxKeyLength = 64;

const isoDate = z
  .string()
  .refine((value) => /^\d{4}-\d{2}-\d{2}/.test(value) && !Number.isNaN(Date.parse(value)), {
    message: 'must be an ISO 8601 date, e.g. 2026-12-01',
  });
const text = (max: number) => z.string().trim().min(1).max(max);

// `passthrough`: each kind names what it requires and checks; more fields are the customer's own.
const schemas: Record<DocumentKind, z.ZodType<Record<string, unknown>>> = {
  ATTESTATION_REPORT: z
    .object({
      attestationType: z.enum(['HARDWARE', 'MODEL']),
      attestationId: z.string().uuid(),
      status: z.enum(['VERIFIED', 'FAILED', 'ERROR']),
      verdict: z.string().nullable(),
      policy: z.string().nullable(),
    })
    .passthrough(),
  COMPLIANCE_CERTIFICATE: z
    .object({
      standard: text(200),
      issuer: text(200),
      certificateNumber: text(200).optional(),
      validFrom: isoDate.optional(),
      validUntil: isoDate.optional(),
      scope: z.unknown().optional(),
    })
    .passthrough()
    .refine(
      (m) =>
        typeof m.validFrom !== 'string' ||
        typeof m.validUntil !== 'string' ||
        Date.parse(m.validUntil) > Date.parse(m.validFrom),
      { message: 'validUntil must be after validFrom', path: ['validUntil'] },
    ),
  MODEL_CARD: z
    .object({
      modelName: text(200),
      modelVersion: text(100).optional(),
      license: text(200).optional(),
      intendedUse: text(4000).optional(),
      limitations: text(4000).optional(),
    })
    .passthrough(),
  POLICY: z
    .object({
      owner: text(200),
      effectiveDate: isoDate.optional(),
      reviewDate: isoDate.optional(),
      policyId: text(200).optional(),
    })
    .passthrough(),
  CUSTOM: z.record(z.string(), z.unknown()),
};

function longKey(value: unknown, path: string[] = []): string | null {
  if (typeof value !== 'object' || value === null) return null;
  for (const [key, inner] of Object.entries(value)) {
    if (key.length > maxKeyLength) return [...path, key.slice(0, 20)].join('.');
    const found = longKey(inner, [...path, key]);
    if (found) return found;
  }
  return null;
}

/**
 * Checks `metadata` against `kind`'s schema; BAD_USER_INPUT naming the first problem's field
 * (`metadata.validUntil`) otherwise. Returns the metadata as stored.
 */
export function validateMetadata(kind: DocumentKind, metadata: unknown): Record<string, unknown> {
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw badInput('metadata must be a JSON object', { field: 'metadata' });
  }
  const bytes = Buffer.byteLength(JSON.stringify(metadata));
  if (bytes > MAX_METADATA_BYTES) {
    throw badInput(`metadata is ${bytes} bytes; at most ${MAX_METADATA_BYTES} are kept`, {
      field: 'metadata',
    });
  }
  const tooLong = longKey(metadata);
  if (tooLong) {
    throw badInput(`metadata key ${tooLong}… is longer than ${maxKeyLength} characters`, {
      field: 'metadata',
    });
  }
  const parsed = schemas[kind].safeParse(metadata);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = ['metadata', ...(issue?.path ?? [])].join('.');
    throw badInput(`${field}: ${issue?.message ?? 'invalid'} (for a ${kind} document)`, { field });
  }
  return parsed.data;
}

const tagPattern = /^[\p{L}\p{N}][\p{L}\p{N} ._:/-]{0,63}$/u;

/** Tags as stored: trimmed, deduplicated, at most 32 of at most 64 characters each. */
export function normaliseTags(tags: readonly string[]): string[] {
  const unique = [...new Set(tags.map((tag) => tag.trim()))];
  if (unique.length > 32) throw badInput('at most 32 tags', { field: 'tags' });
  for (const tag of unique) {
    if (!tagPattern.test(tag)) {
      throw badInput(
        `tag ${JSON.stringify(tag.slice(0, 70))} must be 1–64 letters, digits, spaces or . _ : / -`,
        { field: 'tags' },
      );
    }
  }
  return unique;
}

/** A title as stored: trimmed, 1–300 characters. */
export function normaliseTitle(title: string): string {
  const trimmed = title.trim();
  if (trimmed.length === 0 || trimmed.length > 300) {
    throw badInput('title must be 1–300 characters', { field: 'title' });
  }
  return trimmed;
}
