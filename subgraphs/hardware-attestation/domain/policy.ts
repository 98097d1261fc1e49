import { Environment, type ParseResult } from '@marcbachmann/cel-js';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { GpuEvidence, NonceCheck } from './evidence.ts';
import type { NrasGpuResult, NrasVerification } from './nras.ts';
import {
  compareVersions,
  gpuModelMatches,
  type ReferenceValueContent,
} from './reference-values.ts';

/**
 * Declarative, versioned appraisal policies (RFC 9334 "appraisal policy for evidence"): each rule
 * is a CEL expression over the evidence, the reference values and the NRAS result, and yields one
 * claim whose outcome feeds an AR4SI trustworthiness vector (draft-ietf-rats-ar4si).
 */

export const TRUST_CLAIMS = [
  'instance-identity',
  'configuration',
  'executables',
  'file-system',
  'hardware',
  'runtime-opaque',
  'storage-opaque',
  'sourced-data',
] as const;
export type TrustClaim = (typeof TRUST_CLAIMS)[number];

export type EarStatus = 'affirming' | 'warning' | 'contraindicated' | 'none';

export interface PolicyRule {
  /** Unique claim name, [a-z0-9-]. */
  claim: string;
  description: string;
  trustClaim: TrustClaim;
  /** A `ref.<path>` that must exist in the reference values; absent → WARNING "no reference value for <path>". */
  requires?: string;
  /** CEL bool; false → the rule is skipped (not reported). */
  when?: string;
  /** CEL bool; true = passed. */
  check: string;
  /** The claim's status when `check` is false. */
  onFail: 'contraindicated' | 'warning';
  /** CEL value shown as what was expected. */
  expected?: string;
  /** CEL value shown as what the evidence says. */
  actual?: string;
}

export interface PolicyDocument {
  id: string;
  version: number;
  description?: string;
  rules: PolicyRule[];
}

/** A policy document that cannot be used: bad YAML/JSON, bad shape or a bad CEL expression. */
export class PolicyError extends Error {
  override name = 'PolicyError';
}

export interface AppraisalInput {
  evidence: GpuEvidence | null;
  /** Why the submitted evidence is unusable (schema violation, …); null when it is fine. */
  evidenceProblem: string | null;
  nonce: NonceCheck;
  nras: NrasVerification | null;
  /** The reference value set chosen for this GPU model; null when there is none at all. */
  reference: {
    id: string | null;
    version: number | null;
    name: string;
    content: ReferenceValueContent;
  } | null;
}

export interface ClaimResult {
  name: string;
  description: string;
  trustClaim: TrustClaim;
  passed: boolean;
  status: EarStatus;
  expected: string | null;
  actual: string | null;
  /** Why the claim is not affirming; null when it is. */
  reason: string | null;
}

export interface Appraisal {
  policyId: string;
  policyVersion: number;
  status: EarStatus;
  claims: ClaimResult[];
  trustVector: Record<TrustClaim, number>;
  referenceValueId: string | null;
  referenceValueVersion: number | null;
}

export interface CompiledPolicy {
  id: string;
  version: number;
  document: PolicyDocument;
  /** Never throws: a rule that cannot be evaluated becomes a claim with status `none`. */
  appraise(input: AppraisalInput): Appraisal;
}

/** Claim names the verifier reports itself, before any policy rule; policies cannot reuse them. */
export const BUILT_IN_CLAIMS = ['evidence-format', 'nonce', 'nras-signature'] as const;

// ---------------------------------------------------------------------------------------------
// Status ordering and the AR4SI trustworthiness vector
// ---------------------------------------------------------------------------------------------

/**
 * How bad a claim status is. A claim is `none` only when its rule could not be evaluated (a
 * verifier malfunction), which must never let an otherwise affirming result through, so it ranks
 * above `affirming`; warnings and contraindications still outrank it.
 */
const STATUS_RANK: Record<EarStatus, number> = {
  affirming: 1,
  none: 2,
  warning: 3,
  contraindicated: 4,
};

/** AR4SI values: affirming 2, warning 32, contraindicated 96; -1 is Veraison's "verifier malfunction". */
const TRUST_VALUE: Record<EarStatus, number> = {
  affirming: 2,
  none: -1,
  warning: 32,
  contraindicated: 96,
};

/** The worst of some statuses (contraindicated > warning > none > affirming); null when there are none. */
export function worstStatus(statuses: Iterable<EarStatus>): EarStatus | null {
  let worst: EarStatus | null = null;
  for (const status of statuses) {
    if (worst === null || STATUS_RANK[status] > STATUS_RANK[worst]) worst = status;
  }
  return worst;
}

function trustVectorOf(claims: ClaimResult[]): Record<TrustClaim, number> {
  const vector = Object.fromEntries(TRUST_CLAIMS.map((c) => [c, 0])) as Record<TrustClaim, number>;
  for (const claim of TRUST_CLAIMS) {
    const worst = worstStatus(claims.filter((c) => c.trustClaim === claim).map((c) => c.status));
    if (worst !== null) vector[claim] = TRUST_VALUE[worst];
  }
  return vector;
}

// ---------------------------------------------------------------------------------------------
// Policy document shape
// ---------------------------------------------------------------------------------------------

const MAX_POLICY_BYTES = 256 * 1024;
const MAX_EXPRESSION = 4000;

const expression = (what: string) =>
  z.preprocess(
    // `check: true` in YAML is a boolean, not the CEL text "true"; accept it as that text.
    (value) => (typeof value === 'boolean' ? String(value) : value),
    z
      .string({ invalid_type_error: `${what} must be a CEL expression (a string)` })
      .trim()
      .min(1, `${what} must not be empty`)
      .max(MAX_EXPRESSION, `${what} must be at most ${MAX_EXPRESSION} characters`),
  );

const REQUIRES_PATH = /^ref(\.[A-Za-z_][A-Za-z0-9_]*){1,8}$/;

const ruleSchema = z
  .object({
    claim: z
      .string()
      .min(1)
      .max(64)
      .regex(
        /^[a-z0-9]+(-[a-z0-9]+)*$/,
        'must be lower-case words joined by "-" (e.g. driver-version)',
      ),
    description: z.string().trim().min(1).max(500),
    trustClaim: z.enum(TRUST_CLAIMS, {
      errorMap: () => ({ message: `must be one of ${TRUST_CLAIMS.join(', ')}` }),
    }),
    requires: z
      .string()
      .trim()
      .regex(REQUIRES_PATH, 'must be a path into the reference values, like ref.driverVersions')
      .optional(),
    when: expression('when').optional(),
    check: expression('check'),
    onFail: z.enum(['contraindicated', 'warning'], {
      errorMap: () => ({ message: 'must be contraindicated or warning' }),
    }),
    expected: expression('expected').optional(),
    actual: expression('actual').optional(),
  })
  .strict();

const documentSchema = z
  .object({
    id: z
      .string()
      .min(1)
      .max(100)
      .regex(/^[a-z0-9._/-]+$/, 'must use only a-z, 0-9, ".", "_", "/" and "-"'),
    // Optional: stored documents get the next version of their id (createAppraisalPolicy).
    version: z.number().int().positive().max(1_000_000_000).default(1),
    description: z.string().max(2000).optional(),
    rules: z
      .array(ruleSchema)
      .min(1, 'a policy needs at least one rule')
      .max(200, 'a policy has at most 200 rules'),
  })
  .strict()
  .superRefine((doc, ctx) => {
    const seen = new Set<string>();
    doc.rules.forEach((rule, i) => {
      if ((BUILT_IN_CLAIMS as readonly string[]).includes(rule.claim)) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['rules', i, 'claim'],
          message: `"${rule.claim}" is a built-in claim the verifier always reports`,
        });
      } else if (seen.has(rule.claim)) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['rules', i, 'claim'],
          message: `duplicate claim "${rule.claim}"`,
        });
      }
      seen.add(rule.claim);
    });
  });

function describeIssues(error: z.ZodError, doc: unknown): string {
  return error.issues
    .map((issue) => {
      const path = issue.path
        .map((part, i) => {
          if (typeof part === 'number') {
            // Name rules by their claim where possible: "rules[3] (driver-version).check".
            const claim = i === 1 && issue.path[0] === 'rules' ? ruleName(doc, part) : null;
            return `[${part}]${claim ? ` (${claim})` : ''}`;
          }
          return i === 0 ? part : `.${part}`;
        })
        .join('');
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}

function ruleName(doc: unknown, index: number): string | null {
  if (typeof doc !== 'object' || doc === null) return null;
  const rules = (doc as { rules?: unknown }).rules;
  if (!Array.isArray(rules)) return null;
  const rule: unknown = rules[index];
  if (typeof rule !== 'object' || rule === null) return null;
  const claim = (rule as { claim?: unknown }).claim;
  return typeof claim === 'string' ? claim.slice(0, 64) : null;
}

function validateDocument(value: unknown): PolicyDocument {
  const result = documentSchema.safeParse(value);
  if (!result.success) {
    throw new PolicyError(`invalid policy: ${describeIssues(result.error, value)}`);
  }
  return result.data;
}

// ---------------------------------------------------------------------------------------------
// CEL environment
// ---------------------------------------------------------------------------------------------

function field(map: unknown, key: string): unknown {
  if (map instanceof Map) return map.get(key) as unknown;
  if (typeof map === 'object' && map !== null && Object.hasOwn(map, key)) {
    return (map as Record<string, unknown>)[key];
  }
  return undefined;
}

function stringList(value: unknown, what: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new Error(`${what} must be a list of strings`);
  }
  return value;
}

function optionalString(value: unknown, what: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw new Error(`${what} must be a string`);
  return value;
}

interface Constraint {
  min: string | null;
  max: string | null;
  allowed: string[] | null;
  denied: string[];
}

function constraintOf(map: unknown): Constraint {
  const allowed = field(map, 'allowed');
  return {
    min: optionalString(field(map, 'min'), 'min'),
    max: optionalString(field(map, 'max'), 'max'),
    allowed: allowed === undefined || allowed === null ? null : stringList(allowed, 'allowed'),
    denied: stringList(field(map, 'denied'), 'denied'),
  };
}

function versionAllowed(version: string, map: unknown): boolean {
  const c = constraintOf(map);
  if (c.min !== null && compareVersions(version, c.min) < 0) return false;
  if (c.max !== null && compareVersions(version, c.max) > 0) return false;
  if (c.allowed !== null && !c.allowed.some((v) => compareVersions(version, v) === 0)) return false;
  return !c.denied.some((v) => compareVersions(version, v) === 0);
}

function describeRange(map: unknown): string {
  const c = constraintOf(map);
  const parts: string[] = [];
  if (c.allowed !== null) parts.push(`one of ${c.allowed.join(' | ')}`);
  if (c.min !== null) parts.push(`>= ${c.min}`);
  if (c.max !== null) parts.push(`<= ${c.max}`);
  for (const denied of c.denied) parts.push(`not ${denied}`);
  return parts.length ? parts.join(', ') : 'any version';
}

/** Renders a CEL value for display: null → "unknown", lists joined by ", ". */
function show(value: unknown): string {
  return display(value) ?? 'unknown';
}

const ENVIRONMENT = new Environment({
  unlistedVariablesAreDyn: false,
  // Structural bounds keep every expression cheap to parse and evaluate (the data it runs over is
  // itself bounded by the evidence, reference value and NRAS schemas).
  limits: {
    maxAstNodes: 2000,
    maxDepth: 32,
    maxListElements: 200,
    maxMapEntries: 100,
    maxCallArguments: 8,
  },
})
  .registerVariable('evidence', 'dyn', { description: 'The GPU evidence, or null when unusable' })
  .registerVariable('ref', 'map', { description: 'Reference values; {} when none' })
  .registerVariable('nras', 'map', {
    description: '{present, verified, failures, overall, gpu}: the NRAS result for this GPU',
  })
  .registerVariable('nonce', 'map', { description: '{ok, reason}: the challenge nonce check' })
  .registerVariable('referenceMissing', 'bool', {
    description: 'No reference value set at all for this GPU model',
  })
  .registerFunction(
    'versionCompare(string, string): int',
    (a: string, b: string) => BigInt(Math.sign(compareVersions(a, b))),
    { description: 'Dotted version comparison: -1, 0 or 1' },
  )
  .registerFunction('versionAllowed(string, map): bool', versionAllowed, {
    description: 'Whether a version satisfies {min, max, allowed, denied}',
  })
  .registerFunction('versionAllowed(null, map): bool', () => false, {
    description: 'An unknown version is never allowed',
  })
  .registerFunction('describeRange(map): string', describeRange, {
    description: 'Describes {min, max, allowed, denied}, e.g. ">= 550.54.14, not 560.28.03"',
  })
  .registerFunction(
    'modelAllowed(string, list): bool',
    (name: string, models: unknown) =>
      stringList(models, 'gpuModels').some((m) => gpuModelMatches(name, m)),
    {
      description: 'Whether a product name matches one of the models (case-insensitive substring)',
    },
  )
  .registerFunction('modelAllowed(null, list): bool', () => false, {
    description: 'An unknown model is never allowed',
  })
  .registerFunction('show(dyn): string', show, {
    description: 'Renders any value for display; null → "unknown"',
  });

function celMessage(error: unknown): string {
  if (error instanceof Error) {
    const summary = (error as { summary?: unknown }).summary;
    const message = typeof summary === 'string' ? summary : error.message.split('\n')[0];
    return message ?? String(error);
  }
  return String(error);
}

type Expression = ParseResult;

const KIND_TYPES: Record<'bool' | 'value' | 'string', readonly string[] | null> = {
  bool: ['bool', 'dyn'],
  string: null,
  value: null,
};

function compile(
  source: string,
  rule: string,
  key: string,
  kind: keyof typeof KIND_TYPES,
): Expression {
  let parsed: Expression;
  try {
    parsed = ENVIRONMENT.parse(source);
  } catch (error) {
    throw new PolicyError(`rule "${rule}": ${key} is not valid CEL: ${celMessage(error)}`);
  }
  let checked;
  try {
    checked = parsed.check();
  } catch (error) {
    throw new PolicyError(`rule "${rule}": ${key} does not type-check: ${celMessage(error)}`);
  }
  if (!checked.valid) {
    throw new PolicyError(
      `rule "${rule}": ${key} does not type-check: ${celMessage(checked.error)}`,
    );
  }
  const allowed = KIND_TYPES[kind];
  if (allowed && checked.type && !allowed.includes(checked.type)) {
    throw new PolicyError(`rule "${rule}": ${key} must be a bool, but is ${checked.type}`);
  }
  const nesting = macroNesting(parsed.ast);
  if (nesting.comprehensions > MAX_COMPREHENSION_NESTING || nesting.scopes > MAX_SCOPE_NESTING) {
    throw new PolicyError(
      `rule "${rule}": ${key} nests macros too deeply (at most ${MAX_COMPREHENSION_NESTING} ` +
        `comprehensions such as all/exists/map/filter, ${MAX_SCOPE_NESTING} including cel.bind)`,
    );
  }
  return parsed;
}

/**
 * The parser limits bound an expression's size, not its running time: nested comprehensions
 * multiply (n^depth iterations) and nested cel.bind can double a value per level. Capping their
 * nesting keeps every rule's cost proportional to the (bounded) evidence.
 */
const MAX_COMPREHENSION_NESTING = 2;
const MAX_SCOPE_NESTING = 3;
const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);

function macroNesting(root: unknown): { comprehensions: number; scopes: number } {
  let comprehensions = 0;
  let scopes = 0;
  const visit = (node: unknown, c: number, b: number): void => {
    if (Array.isArray(node)) {
      for (const child of node) visit(child, c, b);
      return;
    }
    if (typeof node !== 'object' || node === null || !('op' in node) || !('args' in node)) return;
    const { op, args } = node;
    if (op === 'rcall' && Array.isArray(args) && typeof args[0] === 'string') {
      if (COMPREHENSIONS.has(args[0])) {
        c += 1;
        b += 1;
      } else if (args[0] === 'bind') {
        b += 1;
      }
      comprehensions = Math.max(comprehensions, c);
      scopes = Math.max(scopes, b);
    }
    visit(args, c, b);
  };
  visit(root, 0, 0);
  return { comprehensions, scopes };
}

interface CompiledRule {
  rule: PolicyRule;
  when: Expression | null;
  requires: { path: string; test: Expression } | null;
  check: Expression;
  expected: Expression | null;
  actual: Expression | null;
}

function compileRule(rule: PolicyRule): CompiledRule {
  let requires: CompiledRule['requires'] = null;
  if (rule.requires !== undefined) {
    // has() on a nested path needs every parent present: ref.a.b → has(ref.a) && has(ref.a.b).
    const parts = rule.requires.split('.');
    const tests = parts.slice(1).map((_, i) => `has(${parts.slice(0, i + 2).join('.')})`);
    requires = {
      path: parts.slice(1).join('.'),
      test: compile(tests.join(' && '), rule.claim, 'requires', 'bool'),
    };
  }
  return {
    rule,
    when: rule.when === undefined ? null : compile(rule.when, rule.claim, 'when', 'bool'),
    requires,
    check: compile(rule.check, rule.claim, 'check', 'bool'),
    expected:
      rule.expected === undefined ? null : compile(rule.expected, rule.claim, 'expected', 'string'),
    actual: rule.actual === undefined ? null : compile(rule.actual, rule.claim, 'actual', 'value'),
  };
}

// ---------------------------------------------------------------------------------------------
// Parsing and compiling documents
// ---------------------------------------------------------------------------------------------

/** Parses a policy document (JSON or YAML) and checks its shape and every CEL expression. */
export function parsePolicyDocument(text: string): PolicyDocument {
  if (typeof text !== 'string' || text.trim() === '') {
    throw new PolicyError('invalid policy: the document is empty');
  }
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_POLICY_BYTES) {
    throw new PolicyError(
      `invalid policy: the document is ${bytes} bytes, over the ${MAX_POLICY_BYTES}-byte limit`,
    );
  }
  let value: unknown;
  try {
    // YAML 1.2 is a superset of JSON, so one parser reads both. Aliases are capped so that a
    // small document cannot expand into a huge one.
    value = parseYaml(text, { maxAliasCount: 100, uniqueKeys: true, prettyErrors: true });
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new PolicyError(`invalid policy: not valid YAML or JSON: ${message}`);
  }
  const doc = validateDocument(value);
  doc.rules.forEach(compileRule);
  return doc;
}

/** Compiles every expression once; the result appraises any number of inputs. */
export function compilePolicy(doc: PolicyDocument): CompiledPolicy {
  const document = validateDocument(doc);
  const rules = document.rules.map(compileRule);
  return {
    id: document.id,
    version: document.version,
    document,
    appraise: (input) => appraise(document, rules, input),
  };
}

// ---------------------------------------------------------------------------------------------
// Appraisal
// ---------------------------------------------------------------------------------------------

/**
 * Converts a value for CEL: integers become CEL ints (bigint) so that arithmetic and comparisons
 * with integer literals work; undefined fields are dropped.
 */
function toCel(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') return Number.isSafeInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(toCel);
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      if (v !== undefined) out[key] = toCel(v);
    }
    return out;
  }
  return value;
}

/** Renders a CEL result for display; null stays null. */
function display(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'bigint' || typeof value === 'number' || typeof value === 'boolean') {
    return String(value);
  }
  if (Array.isArray(value)) return value.map((v) => display(v) ?? 'null').join(', ');
  try {
    return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function run(expression: Expression, context: Record<string, unknown>): unknown {
  return expression(context) as unknown;
}

function asBool(value: unknown, rule: string, key: string): boolean {
  if (typeof value !== 'boolean') {
    throw new Error(`${key} of rule "${rule}" gave ${display(value) ?? 'null'}, not a bool`);
  }
  return value;
}

function nrasContext(nras: NrasVerification | null, evidence: GpuEvidence | null) {
  if (!nras) return { present: false, verified: false, failures: [], overall: null, gpu: null };
  const index = evidence?.gpu.index;
  const gpu: NrasGpuResult | null =
    index === undefined ? null : (nras.gpus.find((g) => g.index === index) ?? null);
  return {
    present: true,
    verified: nras.verified,
    failures: nras.failures,
    overall: nras.overall,
    gpu,
  };
}

function builtInClaims(input: AppraisalInput): ClaimResult[] {
  const claims: ClaimResult[] = [];
  const problem =
    input.evidenceProblem ?? (input.evidence === null ? 'no evidence was provided' : null);
  claims.push({
    name: 'evidence-format',
    description: 'Evidence is well-formed GPU evidence',
    trustClaim: 'instance-identity',
    passed: problem === null,
    status: problem === null ? 'affirming' : 'contraindicated',
    expected: 'GPU evidence matching the evidence schema',
    actual: problem === null ? 'well-formed' : 'malformed',
    reason: problem,
  });
  claims.push({
    name: 'nonce',
    description: 'Evidence answers a fresh challenge nonce issued for this GPU',
    trustClaim: 'instance-identity',
    passed: input.nonce.ok,
    status: input.nonce.ok ? 'affirming' : 'contraindicated',
    expected: 'an unexpired, unused challenge nonce issued for this GPU',
    actual: input.evidence?.nonce ?? null,
    reason: input.nonce.ok ? null : (input.nonce.reason ?? 'the nonce check failed'),
  });
  if (input.nras) {
    const { verified, failures } = input.nras;
    claims.push({
      name: 'nras-signature',
      description: 'The NRAS result is signed by NVIDIA, fresh and bound to the challenge',
      trustClaim: 'sourced-data',
      passed: verified,
      status: verified ? 'affirming' : 'contraindicated',
      expected: 'NRAS tokens that verify',
      actual: verified
        ? 'verified'
        : `${failures.length} failure${failures.length === 1 ? '' : 's'}`,
      reason: verified
        ? null
        : failures.length
          ? failures.map((f) => f.reason).join('; ')
          : 'the NRAS result did not verify',
    });
  }
  return claims;
}

function appraiseRule(
  compiled: CompiledRule,
  context: Record<string, unknown>,
  input: AppraisalInput,
  gpuModel: string,
): ClaimResult | null {
  const { rule } = compiled;
  const claim = (
    status: EarStatus,
    reason: string | null,
    expected: string | null = null,
    actual: string | null = null,
  ): ClaimResult => ({
    name: rule.claim,
    description: rule.description,
    trustClaim: rule.trustClaim,
    passed: status === 'affirming',
    status,
    expected,
    actual,
    reason,
  });
  // Display expressions never decide a claim: if one fails, it shows as null.
  const shown = (expression: Expression | null): string | null => {
    if (!expression) return null;
    try {
      return display(run(expression, context));
    } catch {
      return null;
    }
  };

  let stage = 'when';
  try {
    if (compiled.when && !asBool(run(compiled.when, context), rule.claim, 'when')) return null;
    if (compiled.requires) {
      stage = 'requires';
      if (input.reference === null) {
        return claim(
          'warning',
          `no reference value for GPU model ${gpuModel}: ${rule.claim} cannot be appraised`,
          null,
          shown(compiled.actual),
        );
      }
      if (!asBool(run(compiled.requires.test, context), rule.claim, 'requires')) {
        return claim(
          'warning',
          `no reference value for ${compiled.requires.path} in reference values "${input.reference.name}"`,
          null,
          shown(compiled.actual),
        );
      }
    }
    stage = 'check';
    const passed = asBool(run(compiled.check, context), rule.claim, 'check');
    const expected = shown(compiled.expected);
    const actual = shown(compiled.actual);
    if (passed) return claim('affirming', null, expected, actual);
    return claim(
      rule.onFail,
      `${rule.description}: expected ${expected ?? 'a pass'}, got ${actual ?? 'unknown'}`,
      expected,
      actual,
    );
  } catch (error) {
    return claim(
      'none',
      `rule ${rule.claim} failed to evaluate: ${stage}: ${celMessage(error)}`,
      shown(compiled.expected),
      shown(compiled.actual),
    );
  }
}

function appraise(
  document: PolicyDocument,
  rules: CompiledRule[],
  input: AppraisalInput,
): Appraisal {
  let claims: ClaimResult[];
  try {
    claims = builtInClaims(input);
    // Evidence with a problem is not appraised: the rules see null, as for missing evidence.
    const evidence = input.evidenceProblem === null ? input.evidence : null;
    const gpuModel = evidence?.gpu.name ?? input.evidence?.gpu.name ?? 'unknown';
    const context: Record<string, unknown> = {
      evidence: toCel(evidence),
      ref: toCel(input.reference?.content ?? {}),
      nras: toCel(nrasContext(input.nras, evidence)),
      nonce: { ok: input.nonce.ok, reason: input.nonce.reason },
      referenceMissing: input.reference === null,
    };
    for (const rule of rules) {
      const result = appraiseRule(rule, context, input, gpuModel);
      if (result) claims.push(result);
    }
  } catch (error) {
    // Only a verifier bug gets here (appraiseRule catches rule failures); report it as a claim.
    claims = [
      {
        name: 'appraisal',
        description: 'The verifier appraised the evidence',
        trustClaim: 'instance-identity',
        passed: false,
        status: 'none',
        expected: null,
        actual: null,
        reason: `the appraisal failed: ${celMessage(error)}`,
      },
    ];
  }
  return {
    policyId: document.id,
    policyVersion: document.version,
    status: worstStatus(claims.map((c) => c.status)) ?? 'none',
    claims,
    trustVector: trustVectorOf(claims),
    referenceValueId: input.reference?.id ?? null,
    referenceValueVersion: input.reference?.version ?? null,
  };
}

// ---------------------------------------------------------------------------------------------
// The platform's default policy
// ---------------------------------------------------------------------------------------------

/** The platform's default policy as YAML: a starting point for organizations' own policies. */
export const defaultPolicyText = `# LotaBots default appraisal policy for NVIDIA data-center GPUs.
# Variables: evidence (GPU evidence or null), ref (reference values, {} when none),
# nras {present, verified, failures, overall, gpu}, nonce {ok, reason}, referenceMissing.
# Functions: versionCompare, versionAllowed, describeRange, modelAllowed, show.
id: lotabots/nvidia-gpu-default
version: 1
description: >-
  Compares nvidia-smi evidence with the organization's (or the platform's) reference values and,
  when present, judges the GPU claims of a verified NRAS result.
rules:
  - claim: gpu-model
    description: GPU model is one the reference values accept
    trustClaim: hardware
    when: evidence != null
    requires: ref.gpuModels
    check: modelAllowed(evidence.gpu.name, ref.gpuModels)
    onFail: contraindicated
    expected: '"one of " + ref.gpuModels.join(", ")'
    actual: evidence.gpu.name

  - claim: driver-version
    description: Driver version is allowed by the reference values
    trustClaim: configuration
    when: evidence != null
    requires: ref.driverVersions
    check: versionAllowed(evidence.node.driverVersion, ref.driverVersions)
    onFail: contraindicated
    expected: describeRange(ref.driverVersions)
    actual: evidence.node.driverVersion

  - claim: vbios-version
    description: VBIOS version is allowed by the reference values
    trustClaim: executables
    when: evidence != null
    requires: ref.vbiosVersions
    check: versionAllowed(evidence.gpu.vbiosVersion, ref.vbiosVersions)
    onFail: contraindicated
    expected: describeRange(ref.vbiosVersions)
    actual: evidence.gpu.vbiosVersion

  # Skipped for GPUs without confidential computing (no CC mode reported) unless a mode is required.
  - claim: confidential-compute-mode
    description: Confidential-computing mode is the one the reference values require
    trustClaim: runtime-opaque
    when: >-
      evidence != null
      && (has(ref.confidentialComputeMode) || evidence.gpu.confidentialComputeMode != null)
    requires: ref.confidentialComputeMode
    check: >-
      evidence.gpu.confidentialComputeMode != null
      && evidence.gpu.confidentialComputeMode.upperAscii() == ref.confidentialComputeMode
    onFail: contraindicated
    expected: ref.confidentialComputeMode
    actual: evidence.gpu.confidentialComputeMode

  - claim: confidential-compute-ready
    description: GPU accepts confidential workloads when the reference values require it
    trustClaim: runtime-opaque
    when: >-
      evidence != null
      && (has(ref.confidentialComputeReadyRequired) || evidence.gpu.confidentialComputeReady != null)
    requires: ref.confidentialComputeReadyRequired
    check: '!ref.confidentialComputeReadyRequired || evidence.gpu.confidentialComputeReady == true'
    onFail: warning
    expected: 'ref.confidentialComputeReadyRequired ? "ready" : "not required"'
    actual: >-
      evidence.gpu.confidentialComputeReady == null ? "unknown"
      : (evidence.gpu.confidentialComputeReady ? "ready" : "not ready")

  - claim: ecc-enabled
    description: ECC memory protection is enabled when the reference values require it
    trustClaim: hardware
    when: evidence != null
    requires: ref.eccRequired
    check: '!ref.eccRequired || evidence.gpu.eccEnabled == true'
    onFail: warning
    expected: 'ref.eccRequired ? "enabled" : "not required"'
    actual: >-
      evidence.gpu.eccEnabled == null ? "unknown"
      : (evidence.gpu.eccEnabled ? "enabled" : "disabled")

  # Without ECC there are no counters; ecc-enabled reports that.
  - claim: ecc-uncorrected-errors
    description: Uncorrected ECC errors are within the reference limits
    trustClaim: hardware
    when: evidence != null && evidence.gpu.eccEnabled != false
    requires: ref.maxVolatileUncorrectedEccErrors
    check: >-
      evidence.gpu.eccErrors != null
      && evidence.gpu.eccErrors.volatileUncorrected != null
      && evidence.gpu.eccErrors.volatileUncorrected <= ref.maxVolatileUncorrectedEccErrors
      && (!has(ref.maxAggregateUncorrectedEccErrors)
          || (evidence.gpu.eccErrors.aggregateUncorrected != null
              && evidence.gpu.eccErrors.aggregateUncorrected <= ref.maxAggregateUncorrectedEccErrors))
    onFail: contraindicated
    expected: >-
      "volatile <= " + string(ref.maxVolatileUncorrectedEccErrors)
      + (has(ref.maxAggregateUncorrectedEccErrors)
         ? ", aggregate <= " + string(ref.maxAggregateUncorrectedEccErrors) : "")
    actual: >-
      evidence.gpu.eccErrors == null ? "not reported"
      : "volatile " + show(evidence.gpu.eccErrors.volatileUncorrected)
        + ", aggregate " + show(evidence.gpu.eccErrors.aggregateUncorrected)

  # Hopper and Ampere remap rows instead of retiring pages and report no retired pages at all.
  - claim: retired-pages
    description: Retired memory pages are within the reference limit and none are pending
    trustClaim: hardware
    when: evidence != null && evidence.gpu.retiredPages != null
    requires: ref.maxRetiredPages
    check: >-
      cel.bind(rp, evidence.gpu.retiredPages,
        (rp.singleBit == null ? 0 : rp.singleBit) + (rp.doubleBit == null ? 0 : rp.doubleBit)
          <= ref.maxRetiredPages
        && rp.pending != true)
    onFail: warning
    expected: '"at most " + string(ref.maxRetiredPages) + " retired, none pending"'
    actual: >-
      cel.bind(rp, evidence.gpu.retiredPages,
        "single-bit " + show(rp.singleBit) + ", double-bit " + show(rp.doubleBit)
        + ", pending " + show(rp.pending))

  - claim: remapped-rows
    description: Row remapping has not failed, and none is pending unless the reference values allow it
    trustClaim: hardware
    when: evidence != null && evidence.gpu.remappedRows != null
    requires: ref.allowPendingRemappedRows
    check: >-
      evidence.gpu.remappedRows.failure != true
      && (ref.allowPendingRemappedRows || evidence.gpu.remappedRows.pending != true)
    onFail: warning
    expected: >-
      ref.allowPendingRemappedRows ? "no remapping failure" : "no remapping failure, none pending"
    actual: >-
      cel.bind(rr, evidence.gpu.remappedRows,
        "failure " + show(rr.failure) + ", pending " + show(rr.pending))

  - claim: mig-mode
    description: MIG mode is the one the reference values require
    trustClaim: configuration
    when: evidence != null
    requires: ref.migMode
    check: ref.migMode == "ANY" || evidence.gpu.migMode.current == (ref.migMode == "ENABLED")
    onFail: warning
    expected: ref.migMode
    actual: 'evidence.gpu.migMode.current ? "ENABLED" : "DISABLED"'

  - claim: nras-present
    description: A verified NRAS result covers this GPU, as the reference values require
    trustClaim: sourced-data
    when: has(ref.nrasRequired) && ref.nrasRequired
    check: nras.present && nras.verified && nras.gpu != null
    onFail: contraindicated
    expected: '"a verified NRAS result for this GPU"'
    actual: >-
      !nras.present ? "no NRAS result"
      : (!nras.verified ? "an NRAS result that did not verify"
      : (nras.gpu == null ? "an NRAS result without this GPU" : "a verified NRAS result"))

  # NRAS claims count only from tokens that verified (nras-signature reports those that did not).
  - claim: nras-overall-result
    description: NRAS's overall attestation result is true
    trustClaim: hardware
    when: nras.verified && nras.gpu != null
    check: nras.overall != null && nras.overall.result == true
    onFail: contraindicated
    expected: '"true"'
    actual: 'nras.overall == null ? "unknown" : show(nras.overall.result)'

  - claim: nras-measurements
    description: NRAS found the GPU's measurements match NVIDIA's reference integrity manifests
    trustClaim: executables
    when: nras.verified && nras.gpu != null
    check: nras.gpu.measres == "success"
    onFail: contraindicated
    expected: '"success"'
    actual: nras.gpu.measres

  - claim: nras-secure-boot
    description: NRAS reports secure boot
    trustClaim: executables
    when: nras.verified && nras.gpu != null
    check: nras.gpu.secboot == true
    onFail: contraindicated
    expected: '"true"'
    actual: nras.gpu.secboot

  - claim: nras-debug-disabled
    description: NRAS reports debugging disabled
    trustClaim: runtime-opaque
    when: nras.verified && nras.gpu != null
    check: nras.gpu.dbgstat == "disabled"
    onFail: contraindicated
    expected: '"disabled"'
    actual: nras.gpu.dbgstat

  - claim: nras-driver-matches-node
    description: The driver NRAS attested is the driver the node reports
    trustClaim: configuration
    when: nras.verified && nras.gpu != null && evidence != null
    check: >-
      nras.gpu.driverVersion != null && evidence.node.driverVersion != null
      && versionCompare(nras.gpu.driverVersion, evidence.node.driverVersion) == 0
    onFail: contraindicated
    expected: evidence.node.driverVersion
    actual: nras.gpu.driverVersion

  - claim: nras-rim-and-cert-checks
    description: Every NRAS RIM and certificate-chain check passed
    trustClaim: executables
    when: nras.verified && nras.gpu != null
    check: >-
      nras.gpu.checks.exists(k, k.matches("(^|-)(rim|cert)(-|$)"))
      && nras.gpu.checks.all(k, !k.matches("(^|-)(rim|cert)(-|$)") || nras.gpu.checks[k] == true)
    onFail: contraindicated
    expected: '"all passed"'
    actual: >-
      cel.bind(failed,
        nras.gpu.checks.filter(k, k.matches("(^|-)(rim|cert)(-|$)") && nras.gpu.checks[k] != true),
        !nras.gpu.checks.exists(k, k.matches("(^|-)(rim|cert)(-|$)")) ? "none reported"
        : (size(failed) == 0 ? "all passed" : "not passed: " + failed.join(", ")))

  - claim: nras-attestation-report
    description: NRAS parsed the GPU's attestation report and verified its signature, nonce and architecture
    trustClaim: instance-identity
    when: nras.verified && nras.gpu != null
    check: >-
      nras.gpu.checks.exists(k, !k.matches("(^|-)(rim|cert)(-|$)"))
      && nras.gpu.checks.all(k, k.matches("(^|-)(rim|cert)(-|$)") || nras.gpu.checks[k] == true)
    onFail: contraindicated
    expected: '"all passed"'
    actual: >-
      cel.bind(failed,
        nras.gpu.checks.filter(k, !k.matches("(^|-)(rim|cert)(-|$)") && nras.gpu.checks[k] != true),
        !nras.gpu.checks.exists(k, !k.matches("(^|-)(rim|cert)(-|$)")) ? "none reported"
        : (size(failed) == 0 ? "all passed" : "not passed: " + failed.join(", ")))
`;

export const defaultPolicy: CompiledPolicy = compilePolicy(parsePolicyDocument(defaultPolicyText));
