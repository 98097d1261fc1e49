import {
  Kind,
  parse,
  type ConstDirectiveNode,
  type DocumentNode,
  type ObjectTypeDefinitionNode,
  type ObjectTypeExtensionNode,
  type TypeNode,
} from 'graphql';
import type { Principal } from './principal.ts';
import { isRole } from './roles.ts';
import { policies, scopesOf } from './scopes.ts';

/**
 * Access requirements declared in SDL with the federation authorization directives, as Apollo
 * Router reads them: `@authenticated`, `@requiresScopes(scopes: [[…]])` and
 * `@policy(policies: [[…]])`, where the outer list is OR and each inner list is AND. A directive
 * on a field guards that field; on a type, every field that returns the type. The gateway reads
 * them from the supergraph and each subgraph from its own SDL, so both enforce one source.
 */
export interface AccessRequirement {
  authenticated: boolean;
  /** Alternatives of scope sets; null when the directive is absent. */
  scopes: string[][] | null;
  policies: string[][] | null;
}

/** Requirements by `Type.field` (field directives) and by `Type` (type directives). */
export interface AccessRules {
  fields: Map<string, AccessRequirement>;
  types: Map<string, AccessRequirement>;
}

export function accessRulesFromSdl(sdl: string | DocumentNode): AccessRules {
  const document = typeof sdl === 'string' ? parse(sdl) : sdl;
  const rules: AccessRules = { fields: new Map(), types: new Map() };
  for (const definition of document.definitions) {
    if (
      definition.kind !== Kind.OBJECT_TYPE_DEFINITION &&
      definition.kind !== Kind.OBJECT_TYPE_EXTENSION &&
      definition.kind !== Kind.INTERFACE_TYPE_DEFINITION
    ) {
      continue;
    }
    const typeName = definition.name.value;
    const typeRequirement = requirementOf(definition.directives ?? []);
    if (typeRequirement)
      rules.types.set(typeName, merge(rules.types.get(typeName), typeRequirement));
    for (const field of (definition as ObjectTypeDefinitionNode | ObjectTypeExtensionNode).fields ??
      []) {
      const requirement = requirementOf(field.directives ?? []);
      if (requirement) rules.fields.set(`${typeName}.${field.name.value}`, requirement);
    }
  }
  return rules;
}

function requirementOf(directives: readonly ConstDirectiveNode[]): AccessRequirement | null {
  let found = false;
  const requirement: AccessRequirement = { authenticated: false, scopes: null, policies: null };
  for (const directive of directives) {
    switch (directive.name.value) {
      case 'authenticated':
        requirement.authenticated = true;
        found = true;
        break;
      case 'requiresScopes':
        requirement.scopes = listOfLists(directive, 'scopes');
        found = true;
        break;
      case 'policy':
        requirement.policies = listOfLists(directive, 'policies');
        found = true;
        break;
    }
  }
  return found ? requirement : null;
}

function listOfLists(directive: ConstDirectiveNode, argument: string): string[][] {
  const value = directive.arguments?.find((a) => a.name.value === argument)?.value;
  if (value?.kind !== Kind.LIST) return [];
  return value.values.map((inner) =>
    inner.kind === Kind.LIST
      ? inner.values.flatMap((v) => (v.kind === Kind.STRING ? [v.value] : []))
      : [],
  );
}

function merge(a: AccessRequirement | undefined, b: AccessRequirement): AccessRequirement {
  if (!a) return b;
  return {
    authenticated: a.authenticated || b.authenticated,
    scopes: b.scopes ?? a.scopes,
    policies: b.policies ?? a.policies,
  };
}

/** The combined requirement of a field: its own directives plus those on the type it returns. */
export function requirementFor(
  rules: AccessRules,
  parentType: string,
  field: string,
  returnType: string,
): AccessRequirement | null {
  const own = rules.fields.get(`${parentType}.${field}`);
  const returned = rules.types.get(returnType);
  if (!own && !returned) return null;
  return merge(returned, own ?? { authenticated: false, scopes: null, policies: null });
}

export type AccessDecision =
  { allowed: true } | { allowed: false; code: 'UNAUTHENTICATED' | 'FORBIDDEN'; reason: string };

/** Decides a requirement for a principal (null = anonymous). */
export function decide(
  requirement: AccessRequirement,
  principal: Principal | null,
): AccessDecision {
  const needsIdentity =
    requirement.authenticated || requirement.scopes !== null || requirement.policies !== null;
  if (needsIdentity && !principal) {
    return { allowed: false, code: 'UNAUTHENTICATED', reason: 'requires authentication' };
  }
  if (requirement.scopes && principal) {
    const held = scopesOf(principal);
    if (!requirement.scopes.some((all) => all.every((scope) => held.has(scope)))) {
      const wanted = requirement.scopes
        .map((all) => all.map(describeScope).join(' and '))
        .join(' or ');
      return {
        allowed: false,
        code: 'FORBIDDEN',
        reason: `requires ${wanted}; you are ${principal.role}`,
      };
    }
  }
  if (requirement.policies && principal) {
    const passes = requirement.policies.some((all) =>
      all.every((name) => policies[name]?.(principal) ?? false),
    );
    if (!passes) {
      return {
        allowed: false,
        code: 'FORBIDDEN',
        reason: `requires policy ${requirement.policies.map((all) => all.join(' and ')).join(' or ')}`,
      };
    }
  }
  return { allowed: true };
}

/** Scopes named after roles read as roles in messages: "the ADMIN role or stronger". */
function describeScope(scope: string): string {
  const role = scope.toUpperCase();
  return isRole(role) ? `the ${role} role or stronger` : `scope ${scope}`;
}

/** A stable, comparable description of a requirement (for drift checks and messages). */
export function describeRequirement(requirement: AccessRequirement | null): string {
  if (!requirement) return 'public';
  const parts: string[] = [];
  if (requirement.authenticated) parts.push('authenticated');
  if (requirement.scopes)
    parts.push(
      `scopes:${requirement.scopes
        .map((s) => [...s].sort().join('+'))
        .sort()
        .join('|')}`,
    );
  if (requirement.policies)
    parts.push(
      `policies:${requirement.policies
        .map((p) => [...p].sort().join('+'))
        .sort()
        .join('|')}`,
    );
  return parts.join(' ');
}

/** The named type at the bottom of a field's type (`[Foo!]!` → `Foo`). */
export function namedTypeOf(type: TypeNode): string {
  return type.kind === Kind.NAMED_TYPE ? type.name.value : namedTypeOf(type.type);
}
