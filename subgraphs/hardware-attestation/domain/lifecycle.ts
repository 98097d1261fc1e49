import { isUuid } from '../../../platform/ids.ts';

/** Re-exported for the resolvers and streams that check ids before querying. */
export { isUuid };
import {
  Prisma,
  type PrismaClient,
} from '../../../generated/prisma/hardware-attestation/client.ts';
import type { Principal } from '../../../platform/auth/principal.ts';
import { badInput, conflict, notFound } from '../../../platform/errors.ts';
import {
  compilePolicy,
  defaultPolicy,
  parsePolicyDocument,
  PolicyError,
  type CompiledPolicy,
  type PolicyDocument,
} from './policy.ts';
import {
  platformReferenceValues,
  referenceValueContentSchema,
  type ReferenceValueContent,
} from './reference-values.ts';
import { submitter } from './records.ts';

export type LifecycleStatus = 'ACTIVE' | 'SUPERSEDED' | 'DEPRECATED';

/** A reference value version as the API shows it (an organization's, or a platform default). */
export interface ReferenceValueView {
  id: string | null;
  name: string;
  version: number;
  gpuModel: string;
  content: ReferenceValueContent;
  status: LifecycleStatus;
  description: string | null;
  platform: boolean;
  createdBy: string | null;
  createdAt: Date | null;
}

/** A policy version as the API shows it. */
export interface PolicyView {
  id: string | null;
  policyId: string;
  version: number;
  status: LifecycleStatus;
  document: PolicyDocument;
  platform: boolean;
  createdBy: string | null;
  createdAt: Date | null;
}

/** The attestation subgraph's view of a GPU entity: only its key. */
export interface GpuReference {
  uuid: string;
}

const namePattern = /^[a-z0-9][a-z0-9._-]{0,63}$/i;
const maxDocumentBytes = 64 * 1024;

type ReferenceRow = Awaited<ReturnType<PrismaClient['referenceValue']['findFirstOrThrow']>>;
type PolicyRow = Awaited<ReturnType<PrismaClient['appraisalPolicy']['findFirstOrThrow']>>;

function referenceView(row: ReferenceRow): ReferenceValueView {
  return {
    id: row.id,
    name: row.name,
    version: row.version,
    gpuModel: row.gpuModel,
    content: row.content as ReferenceValueContent,
    status: row.status,
    description: row.description,
    platform: false,
    createdBy: row.createdBy,
    createdAt: row.createdAt,
  };
}

function policyView(row: PolicyRow): PolicyView {
  return {
    id: row.id,
    policyId: row.policyId,
    version: row.version,
    status: row.status,
    document: row.document as unknown as PolicyDocument,
    platform: false,
    createdBy: row.createdBy,
    createdAt: row.createdAt,
  };
}

export const platformReferenceViews: ReferenceValueView[] = platformReferenceValues.map((p) => ({
  id: null,
  name: p.name,
  version: 1,
  gpuModel: p.gpuModel,
  content: p.content,
  status: 'ACTIVE',
  description: 'Platform default',
  platform: true,
  createdBy: null,
  createdAt: null,
}));

export const defaultPolicyView: PolicyView = {
  id: null,
  policyId: defaultPolicy.id,
  version: defaultPolicy.version,
  status: 'ACTIVE',
  document: defaultPolicy.document,
  platform: true,
  createdBy: null,
  createdAt: null,
};

function isUniqueViolation(error: unknown): boolean {
  return error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002';
}

/** Creates the next version of a named reference value and supersedes the active one. */
export async function createReferenceValue(
  prisma: PrismaClient,
  principal: Principal,
  input: { name: string; gpuModel: string; content: unknown; description?: string | null },
): Promise<ReferenceValueView> {
  if (!namePattern.test(input.name))
    throw badInput('name must be 1–64 letters, digits, dots, dashes or underscores', {
      field: 'name',
    });
  const gpuModel = input.gpuModel.trim();
  if (gpuModel.length === 0 || gpuModel.length > 64)
    throw badInput('gpuModel must be 1–64 characters, e.g. "H100"', { field: 'gpuModel' });
  if ((input.description?.length ?? 0) > 1000)
    throw badInput('description must be at most 1000 characters', { field: 'description' });
  const parsed = referenceValueContentSchema.safeParse(input.content);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || 'content'}: ${i.message}`);
    throw badInput(`content is not valid reference values: ${problems.join('; ')}`, {
      field: 'content',
    });
  }
  const organizationId = principal.organizationId;
  try {
    const row = await prisma.$transaction(async (tx) => {
      const latest = await tx.referenceValue.findFirst({
        where: { organizationId, name: input.name },
        orderBy: { version: 'desc' },
      });
      const now = new Date();
      await tx.referenceValue.updateMany({
        where: { organizationId, name: input.name, status: 'ACTIVE' },
        data: { status: 'SUPERSEDED', supersededAt: now },
      });
      const created = await tx.referenceValue.create({
        data: {
          organizationId,
          name: input.name,
          version: (latest?.version ?? 0) + 1,
          gpuModel,
          content: parsed.data as Prisma.InputJsonValue,
          description: input.description ?? null,
          createdBy: submitter(principal),
        },
      });
      await tx.auditEntry.create({
        data: {
          organizationId,
          action: 'reference-value.created',
          actor: submitter(principal),
          detail: { id: created.id, name: created.name, version: created.version },
        },
      });
      return created;
    });
    return referenceView(row);
  } catch (error) {
    if (isUniqueViolation(error))
      throw conflict(`another version of ${input.name} was created at the same moment; retry`);
    throw error;
  }
}

export async function listReferenceValues(
  prisma: PrismaClient,
  organizationId: string,
  options: { name?: string | null; includeInactive?: boolean | null },
): Promise<ReferenceValueView[]> {
  const rows = await prisma.referenceValue.findMany({
    where: {
      organizationId,
      ...(options.name ? { name: options.name } : {}),
      ...(options.includeInactive ? {} : { status: 'ACTIVE' }),
    },
    orderBy: [{ name: 'asc' }, { version: 'desc' }],
    take: 500,
  });
  return rows.map(referenceView);
}

export async function getReferenceValue(
  prisma: PrismaClient,
  organizationId: string,
  id: string,
): Promise<ReferenceValueView | null> {
  if (!isUuid(id)) return null;
  const row = await prisma.referenceValue.findFirst({ where: { id, organizationId } });
  return row ? referenceView(row) : null;
}

export async function deprecateReferenceValue(
  prisma: PrismaClient,
  principal: Principal,
  id: string,
): Promise<ReferenceValueView> {
  const organizationId = principal.organizationId;
  if (!isUuid(id)) throw notFound('Reference value');
  const row = await prisma.$transaction(async (tx) => {
    const updated = await tx.referenceValue.updateMany({
      where: { id, organizationId },
      data: { status: 'DEPRECATED', deprecatedAt: new Date() },
    });
    if (updated.count === 0) throw notFound('Reference value');
    await tx.auditEntry.create({
      data: {
        organizationId,
        action: 'reference-value.deprecated',
        actor: submitter(principal),
        detail: { id },
      },
    });
    return tx.referenceValue.findFirstOrThrow({ where: { id } });
  });
  return referenceView(row);
}

export async function deleteReferenceValue(
  prisma: PrismaClient,
  principal: Principal,
  id: string,
): Promise<boolean> {
  const organizationId = principal.organizationId;
  if (!isUuid(id)) throw notFound('Reference value');
  await prisma.$transaction(async (tx) => {
    const deleted = await tx.referenceValue.deleteMany({ where: { id, organizationId } });
    if (deleted.count === 0) throw notFound('Reference value');
    await tx.auditEntry.create({
      data: {
        organizationId,
        action: 'reference-value.deleted',
        actor: submitter(principal),
        detail: { id },
      },
    });
  });
  return true;
}

/**
 * The reference values that apply to a GPU: the organization's active version whose `gpuModel`
 * is part of the GPU's name (the longest such match wins), else the platform default for it.
 */
export async function resolveReferenceValue(
  prisma: PrismaClient,
  organizationId: string,
  gpuName: string,
): Promise<ReferenceValueView | null> {
  const name = gpuName.toLowerCase();
  const rows = await prisma.referenceValue.findMany({
    where: { organizationId, status: 'ACTIVE' },
    orderBy: { createdAt: 'desc' },
    take: 500,
  });
  const best = (candidates: ReferenceValueView[]) =>
    candidates
      .filter((c) => name.includes(c.gpuModel.toLowerCase()))
      .sort((a, b) => b.gpuModel.length - a.gpuModel.length)[0] ?? null;
  return best(rows.map(referenceView)) ?? best(platformReferenceViews);
}

/** Creates the next version of a policy from its document text. */
export async function createPolicy(
  prisma: PrismaClient,
  principal: Principal,
  text: string,
): Promise<PolicyView> {
  if (Buffer.byteLength(text, 'utf8') > maxDocumentBytes)
    throw badInput(`the policy document is over ${maxDocumentBytes} bytes`, { field: 'document' });
  let document: PolicyDocument;
  try {
    document = parsePolicyDocument(text);
    compilePolicy(document);
  } catch (error) {
    if (error instanceof PolicyError) throw badInput(error.message, { field: 'document' });
    throw error;
  }
  if (document.id.startsWith('lotabots/'))
    throw badInput('policy ids starting with "lotabots/" are reserved for platform policies', {
      field: 'document',
    });
  const organizationId = principal.organizationId;
  try {
    const row = await prisma.$transaction(async (tx) => {
      const latest = await tx.appraisalPolicy.findFirst({
        where: { organizationId, policyId: document.id },
        orderBy: { version: 'desc' },
      });
      const version = (latest?.version ?? 0) + 1;
      const now = new Date();
      await tx.appraisalPolicy.updateMany({
        where: { organizationId, policyId: document.id, status: 'ACTIVE' },
        data: { status: 'SUPERSEDED', supersededAt: now },
      });
      const created = await tx.appraisalPolicy.create({
        data: {
          organizationId,
          policyId: document.id,
          version,
          document: { ...document, version } as unknown as Prisma.InputJsonValue,
          createdBy: submitter(principal),
        },
      });
      await tx.auditEntry.create({
        data: {
          organizationId,
          action: 'policy.created',
          actor: submitter(principal),
          detail: { id: created.id, policyId: document.id, version },
        },
      });
      return created;
    });
    return policyView(row);
  } catch (error) {
    if (isUniqueViolation(error))
      throw conflict(`another version of ${document.id} was created at the same moment; retry`);
    throw error;
  }
}

export async function listPolicies(
  prisma: PrismaClient,
  organizationId: string,
  includeInactive: boolean,
): Promise<PolicyView[]> {
  const rows = await prisma.appraisalPolicy.findMany({
    where: { organizationId, ...(includeInactive ? {} : { status: 'ACTIVE' }) },
    orderBy: [{ policyId: 'asc' }, { version: 'desc' }],
    take: 500,
  });
  return [defaultPolicyView, ...rows.map(policyView)];
}

export async function getPolicy(
  prisma: PrismaClient,
  organizationId: string,
  id: string,
): Promise<PolicyView | null> {
  if (!isUuid(id)) return null;
  const row = await prisma.appraisalPolicy.findFirst({ where: { id, organizationId } });
  return row ? policyView(row) : null;
}

export async function setPolicyDeprecated(
  prisma: PrismaClient,
  principal: Principal,
  id: string,
): Promise<PolicyView> {
  const organizationId = principal.organizationId;
  if (!isUuid(id)) throw notFound('Appraisal policy');
  const row = await prisma.$transaction(async (tx) => {
    const updated = await tx.appraisalPolicy.updateMany({
      where: { id, organizationId },
      data: { status: 'DEPRECATED', deprecatedAt: new Date() },
    });
    if (updated.count === 0) throw notFound('Appraisal policy');
    await tx.auditEntry.create({
      data: {
        organizationId,
        action: 'policy.deprecated',
        actor: submitter(principal),
        detail: { id },
      },
    });
    return tx.appraisalPolicy.findFirstOrThrow({ where: { id } });
  });
  return policyView(row);
}

export async function deletePolicy(
  prisma: PrismaClient,
  principal: Principal,
  id: string,
): Promise<boolean> {
  const organizationId = principal.organizationId;
  if (!isUuid(id)) throw notFound('Appraisal policy');
  await prisma.$transaction(async (tx) => {
    const deleted = await tx.appraisalPolicy.deleteMany({ where: { id, organizationId } });
    if (deleted.count === 0) throw notFound('Appraisal policy');
    await tx.auditEntry.create({
      data: {
        organizationId,
        action: 'policy.deleted',
        actor: submitter(principal),
        detail: { id },
      },
    });
  });
  return true;
}

/** Which policy version an attestation uses, fixed at submit time. */
export interface PolicyChoice {
  /** The policy record id; null for the platform default. */
  recordId: string | null;
  policyId: string;
  version: number;
}

/**
 * Turns the caller's `policyId` (`id` or `id@version`, default the platform policy) into a
 * concrete version of a policy the organization can use. Unknown or deprecated → BAD_USER_INPUT.
 */
export async function choosePolicy(
  prisma: Pick<PrismaClient, 'appraisalPolicy'> | Prisma.TransactionClient,
  organizationId: string,
  requested: string | null | undefined,
): Promise<PolicyChoice> {
  if (!requested)
    return { recordId: null, policyId: defaultPolicy.id, version: defaultPolicy.version };
  const match = /^([a-z0-9._/-]{1,100})(?:@(\d{1,9}))?$/i.exec(requested.trim());
  if (!match?.[1])
    throw badInput(
      `policyId ${JSON.stringify(requested.slice(0, 120))} is not "id" or "id@version"`,
      { field: 'policyId' },
    );
  const policyId = match[1];
  const version = match[2] ? Number(match[2]) : null;
  if (policyId === defaultPolicy.id) {
    if (version !== null && version !== defaultPolicy.version)
      throw badInput(`${policyId} has only version ${defaultPolicy.version}`, {
        field: 'policyId',
      });
    return { recordId: null, policyId, version: defaultPolicy.version };
  }
  const row = await prisma.appraisalPolicy.findFirst({
    where: {
      organizationId,
      policyId,
      ...(version !== null ? { version } : { status: 'ACTIVE' }),
    },
    orderBy: { version: 'desc' },
  });
  if (!row)
    throw badInput(`no active appraisal policy ${requested} in this organization`, {
      field: 'policyId',
    });
  if (row.status === 'DEPRECATED')
    throw badInput(`appraisal policy ${policyId}@${row.version} is deprecated`, {
      field: 'policyId',
    });
  return { recordId: row.id, policyId, version: row.version };
}

/** Compiled policies by record id; a version never changes once stored, so entries never go stale. */
const compiledPolicies = new Map<string, CompiledPolicy>();

/** The compiled policy of a choice made at submit time (deleted since → the error names it). */
export async function loadPolicy(
  prisma: PrismaClient,
  choice: PolicyChoice,
): Promise<CompiledPolicy> {
  if (choice.recordId === null) return defaultPolicy;
  const cached = compiledPolicies.get(choice.recordId);
  if (cached) return cached;
  const row = await prisma.appraisalPolicy.findFirst({ where: { id: choice.recordId } });
  if (!row) throw new PolicyDeletedError(`${choice.policyId}@${choice.version}`);
  const compiled = compilePolicy(row.document as unknown as PolicyDocument);
  if (compiledPolicies.size > 1000) compiledPolicies.clear();
  compiledPolicies.set(choice.recordId, compiled);
  return compiled;
}

/** The policy an attestation was submitted with was deleted before a worker got to it. */
export class PolicyDeletedError extends Error {
  constructor(readonly policy: string) {
    super(`appraisal policy ${policy} was deleted before the attestation was appraised`);
    this.name = 'PolicyDeletedError';
  }
}
