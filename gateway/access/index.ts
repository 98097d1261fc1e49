import type { ApolloServerPlugin, GraphQLRequestContextDidResolveOperation } from '@apollo/server';
import { createHash } from 'node:crypto';
import { GraphQLError, Kind, print, type FragmentDefinitionNode } from 'graphql';
import {
  accessRulesFromSdl,
  decide,
  requirementFor,
  type AccessDecision,
  type AccessRules,
} from '../../platform/auth/schema-rules.ts';
import type { GatewayContext } from '../context.ts';
import type { GatewayLayer, GatewayLayerDeps } from '../extensions.ts';
import { nullAtPaths, pruneOperation } from './prune.ts';
import { walkOperation, type VisitedField } from './walk.ts';

interface Denial {
  field: VisitedField;
  decision: Extract<AccessDecision, { allowed: false }>;
}

/**
 * Enforces the supergraph's auth directives (`@authenticated`, `@requiresScopes`, `@policy`) at the
 * gateway before the query planner runs, as Apollo Router does. AUTH_DENIED_FIELDS=reject refuses
 * an operation that selects any field the caller may not see (FORBIDDEN, or UNAUTHENTICATED for
 * anonymous callers, naming each field path); `null` removes those fields, runs the rest and
 * answers them null with an error each. Subgraphs enforce the same directives again.
 */
export function createAccessLayer(deps: GatewayLayerDeps): GatewayLayer {
  const mode = deps.runtime.config.AUTH_DENIED_FIELDS;
  let rulesSdl = '';
  let rules: AccessRules = { fields: new Map(), types: new Map() };
  const currentRules = (): AccessRules => {
    const sdl = deps.supergraphSdl();
    if (sdl !== rulesSdl && sdl !== '') {
      rules = accessRulesFromSdl(sdl);
      rulesSdl = sdl;
    }
    return rules;
  };
  currentRules();

  const denialsOf = (rc: GraphQLRequestContextDidResolveOperation<GatewayContext>): Denial[] => {
    const operation = rc.operation;
    if (!operation) return [];
    const fragments: Record<string, FragmentDefinitionNode> = {};
    for (const definition of rc.document.definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION)
        fragments[definition.name.value] = definition;
    }
    const active = currentRules();
    const denials: Denial[] = [];
    walkOperation(rc.schema, operation, fragments, (field) => {
      const requirement = requirementFor(
        active,
        field.parentType,
        field.fieldName,
        field.returnType,
      );
      if (!requirement) return true;
      const decision = decide(requirement, rc.contextValue.principal);
      if (decision.allowed) return true;
      denials.push({ field, decision });
      return false;
    });
    return denials;
  };

  const pruned = new WeakMap<object, { paths: string[][]; errors: GraphQLError[] }>();

  const plugin: ApolloServerPlugin<GatewayContext> = {
    requestDidStart() {
      return Promise.resolve({
        didResolveOperation(rc) {
          const denials = denialsOf(rc);
          if (denials.length === 0) return Promise.resolve();
          const nullPaths = denials.map(({ field }) => nullablePath(field));
          if (mode === 'reject' || nullPaths.some((path) => path.length === 0)) {
            throw rejection(denials);
          }
          const fragments = Object.fromEntries(
            rc.document.definitions.flatMap((d) =>
              d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d]] : [],
            ),
          ) as Record<string, FragmentDefinitionNode>;
          if (!rc.operation) return Promise.resolve();
          const document = pruneOperation(rc.operation, fragments, nullPaths);
          // The gateway plans from `document` and caches plans by `queryHash`: both must describe
          // the pruned operation, or another caller could be served this caller's plan.
          Object.assign(rc, {
            document,
            queryHash: createHash('sha256').update(print(document)).digest('hex'),
          });
          pruned.set(rc.contextValue, {
            paths: nullPaths,
            errors: denials.map(
              ({ field, decision }) =>
                new GraphQLError(`${field.parentType}.${field.fieldName} ${decision.reason}`, {
                  path: field.path,
                  extensions: { code: decision.code },
                }),
            ),
          });
          return Promise.resolve();
        },
        willSendResponse({ response, contextValue }) {
          const state = pruned.get(contextValue);
          if (!state || response.body.kind !== 'single') return Promise.resolve();
          const result = response.body.singleResult;
          if (result.data) nullAtPaths(result.data, state.paths);
          result.errors = [...(result.errors ?? []), ...state.errors.map((e) => e.toJSON())];
          return Promise.resolve();
        },
      });
    },
  };
  return { name: 'access', plugins: [plugin] };
}

/** Where null lands for a denied field: the field itself, or its nearest nullable ancestor. */
function nullablePath(field: VisitedField): string[] {
  for (let depth = field.nonNullChain.length - 1; depth >= 0; depth--) {
    if (!field.nonNullChain[depth]) return field.path.slice(0, depth + 1);
  }
  return [];
}

function rejection(denials: Denial[]): GraphQLError {
  const anonymous = denials.every(({ decision }) => decision.code === 'UNAUTHENTICATED');
  const code = anonymous ? 'UNAUTHENTICATED' : 'FORBIDDEN';
  const listed = denials
    .slice(0, 5)
    .map(
      ({ field, decision }) =>
        `${field.path.join('.')} (${field.parentType}.${field.fieldName} ${decision.reason})`,
    );
  const more = denials.length > 5 ? ` and ${denials.length - 5} more` : '';
  return new GraphQLError(`Not allowed: ${listed.join('; ')}${more}`, {
    extensions: {
      code,
      deniedFields: denials.map(({ field }) => field.path.join('.')),
      http: { status: anonymous ? 401 : 403 },
    },
  });
}
