import { z } from 'zod';
import { badInput } from '../../../platform/errors.ts';
import type { Finding } from './scan/findings.ts';

/** Formats a model file can be judged as (what the scanners detect). */
export const modelFormats = [
  'safetensors',
  'pytorch-zip',
  'pickle',
  'gguf',
  'onnx',
  'other',
] as const;

const keyId = z.string().regex(/^[0-9a-f]{64}$/, 'a key id is the SHA-256 of the public key, hex');

/**
 * A compliance policy document. Every rule is optional; a rule left out is not checked. Findings
 * name the rule that produced them (`rule`), so a failed attestation says which one to change.
 */
export const compliancePolicyDocument = z
  .object({
    description: z.string().max(2000).optional(),
    /** SPDX ids (or free names) the model's license must be one of; compared case-insensitively. */
    licenses: z.object({ allow: z.array(z.string().min(1).max(100)).min(1).max(200) }).optional(),
    /** Fields the model card must carry (non-empty). */
    modelCard: z.object({ required: z.array(z.string().min(1).max(100)).max(100) }).optional(),
    /** Formats every file must be in, e.g. ["safetensors", "gguf"] for "no pickle in production". */
    formats: z.object({ allow: z.array(z.enum(modelFormats)).min(1) }).optional(),
    /** Largest total size of the model's files. */
    maxTotalBytes: z.number().int().positive().optional(),
    signature: z
      .object({
        required: z.boolean(),
        /** Key ids (of the organization's registered keys) allowed to sign; any registered key when omitted. */
        signers: z.array(keyId).max(100).optional(),
      })
      .optional(),
  })
  .strict();
export type CompliancePolicyDocument = z.infer<typeof compliancePolicyDocument>;

/** The policy every organization has without writing one. */
export const defaultPolicy = {
  policyId: 'lotabots/model-default',
  version: 1,
  document: {
    description:
      'Signature checked when given; unsafe formats judged by their findings; no further rules.',
    signature: { required: false },
  } satisfies CompliancePolicyDocument,
};

/** Parses a policy document; BAD_USER_INPUT naming the first problem otherwise. */
export function parsePolicyDocument(document: unknown): CompliancePolicyDocument {
  const parsed = compliancePolicyDocument.safeParse(document);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = ['document', ...(issue?.path ?? [])].join('.');
    throw badInput(`${field}: ${issue?.message ?? 'invalid'}`, { field });
  }
  return parsed.data;
}

/** What the policy is checked against. */
export interface ComplianceFacts {
  license: string;
  modelCard: unknown;
  files: { path: string; format: string; sizeBytes: number }[];
  signature: { status: 'VERIFIED' | 'INVALID' | 'MISMATCH' | 'ABSENT'; keyid: string | null };
}

/** A policy finding: which rule, in words. */
function violation(rule: string, message: string, path = ''): Finding {
  return { severity: 'HIGH', code: `POLICY_${rule}`, message, path, offset: null };
}

/** Applies each rule of `policy` and returns one finding per violation (empty when compliant). */
export function evaluateCompliance(
  policy: CompliancePolicyDocument,
  facts: ComplianceFacts,
): Finding[] {
  const findings: Finding[] = [];
  if (policy.licenses) {
    const allowed = policy.licenses.allow.map((l) => l.toLowerCase());
    if (!allowed.includes(facts.license.toLowerCase())) {
      findings.push(
        violation(
          'LICENSE',
          `rule licenses.allow: license ${JSON.stringify(facts.license)} is not one of ${policy.licenses.allow.join(', ')}`,
        ),
      );
    }
  }
  if (policy.modelCard) {
    const card = (typeof facts.modelCard === 'object' && facts.modelCard) || {};
    for (const field of policy.modelCard.required) {
      const value = (card as Record<string, unknown>)[field];
      if (value === undefined || value === null || value === '') {
        findings.push(
          violation('MODEL_CARD', `rule modelCard.required: the model card has no ${field}`),
        );
      }
    }
  }
  if (policy.formats) {
    for (const file of facts.files) {
      if (!(policy.formats.allow as readonly string[]).includes(file.format)) {
        findings.push(
          violation(
            'FORMAT',
            `rule formats.allow: ${file.path} is ${file.format}, allowed are ${policy.formats.allow.join(', ')}`,
            file.path,
          ),
        );
      }
    }
  }
  if (policy.maxTotalBytes !== undefined) {
    const total = facts.files.reduce((sum, f) => sum + f.sizeBytes, 0);
    if (total > policy.maxTotalBytes) {
      findings.push(
        violation(
          'MAX_SIZE',
          `rule maxTotalBytes: the model is ${total} bytes, more than ${policy.maxTotalBytes}`,
        ),
      );
    }
  }
  if (policy.signature?.required && facts.signature.status !== 'VERIFIED') {
    findings.push(
      violation(
        'SIGNATURE_REQUIRED',
        `rule signature.required: the model has no verified signature (${facts.signature.status.toLowerCase()})`,
      ),
    );
  }
  if (
    policy.signature?.signers &&
    facts.signature.status === 'VERIFIED' &&
    !policy.signature.signers.includes(facts.signature.keyid ?? '')
  ) {
    findings.push(
      violation(
        'SIGNER',
        `rule signature.signers: signed by key ${facts.signature.keyid ?? '(none)'}, which the policy does not pin`,
      ),
    );
  }
  return findings;
}

/** The verdict findings lead to: CRITICAL contraindicates, HIGH fails, MEDIUM warns. */
export function verdictOf(findings: Finding[]): {
  status: 'VERIFIED' | 'FAILED';
  verdict: 'AFFIRMING' | 'WARNING' | 'CONTRAINDICATED';
} {
  if (findings.some((f) => f.severity === 'CRITICAL')) {
    return { status: 'FAILED', verdict: 'CONTRAINDICATED' };
  }
  if (findings.some((f) => f.severity === 'HIGH')) return { status: 'FAILED', verdict: 'WARNING' };
  if (findings.some((f) => f.severity === 'MEDIUM')) {
    return { status: 'VERIFIED', verdict: 'WARNING' };
  }
  return { status: 'VERIFIED', verdict: 'AFFIRMING' };
}
