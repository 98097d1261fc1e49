import { GraphQLError, Kind, type DocumentNode } from 'graphql';
import { allow, rule, type IRule, type IRules } from 'graphql-shield';
import type { Principal } from './principal.ts';
import {
  accessRulesFromSdl,
  decide,
  describeRequirement,
  namedTypeOf,
  requirementFor,
  type AccessRequirement,
} from './schema-rules.ts';

const rootTypes = new Set(['Query', 'Mutation', 'Subscription']);

const ruleCache = new Map<string, IRule>();

function ruleFor(requirement: AccessRequirement): IRule {
  const key = describeRequirement(requirement);
  let cached = ruleCache.get(key);
  if (!cached) {
    cached = rule(`access ${key}`, { cache: 'contextual' })(
      (_parent, _args, ctx: { principal: Principal | null }, info) => {
        const decision = decide(requirement, ctx.principal);
        if (decision.allowed) return true;
        return new GraphQLError(`${info.parentType.name}.${info.fieldName} ${decision.reason}`, {
          extensions: { code: decision.code },
        });
      },
    );
    ruleCache.set(key, cached);
  }
  return cached;
}

/**
 * graphql-shield rules generated from a subgraph's own SDL: the auth directives the gateway also
 * enforces become rules here (defence in depth from one source). Root fields without a directive
 * must be named in `publicRootFields`, or the deny fallback refuses them — so forgetting a
 * directive fails closed in the subgraph, and a test flags the disagreement with the gateway.
 */
export function shieldRulesFromSdl(
  typeDefs: DocumentNode,
  options: { publicRootFields: string[] },
): IRules {
  const rules = accessRulesFromSdl(typeDefs);
  const publicFields = new Set(options.publicRootFields);
  const tree: Record<string, Record<string, IRule | typeof allow>> = {};
  for (const definition of typeDefs.definitions) {
    if (
      definition.kind !== Kind.OBJECT_TYPE_DEFINITION &&
      definition.kind !== Kind.OBJECT_TYPE_EXTENSION
    )
      continue;
    const typeName = definition.name.value;
    const fields = (tree[typeName] ??= {});
    for (const field of definition.fields ?? []) {
      const requirement = requirementFor(
        rules,
        typeName,
        field.name.value,
        namedTypeOf(field.type),
      );
      if (requirement) fields[field.name.value] = ruleFor(requirement);
      else if (!rootTypes.has(typeName) || publicFields.has(`${typeName}.${field.name.value}`)) {
        fields[field.name.value] = allow;
      }
    }
  }
  return tree;
}
