import { Kind, parse } from 'graphql';
import {
  accessRulesFromSdl,
  describeRequirement,
  requirementFor,
  namedTypeOf,
} from './schema-rules.ts';

export interface SubgraphAccessSource {
  name: string;
  sdl: string;
  /** Root fields the subgraph serves without any auth directive (see its permissions.ts). */
  publicRootFields: string[];
}

const rootTypes = new Set(['Query', 'Mutation', 'Subscription']);

/**
 * Compares what the gateway enforces (directives in the composed supergraph) with what each
 * subgraph enforces (directives in its SDL, plus its list of public root fields). Returns one line
 * per disagreement; empty means both layers apply the same rules.
 */
export function findAccessDrift(
  supergraphSdl: string,
  subgraphs: SubgraphAccessSource[],
): string[] {
  const gateway = accessRulesFromSdl(supergraphSdl);
  const problems: string[] = [];
  for (const subgraph of subgraphs) {
    const document = parse(subgraph.sdl);
    const own = accessRulesFromSdl(document);
    const publicFields = new Set(subgraph.publicRootFields);
    for (const definition of document.definitions) {
      if (
        definition.kind !== Kind.OBJECT_TYPE_DEFINITION &&
        definition.kind !== Kind.OBJECT_TYPE_EXTENSION
      )
        continue;
      const typeName = definition.name.value;
      for (const field of definition.fields ?? []) {
        const coordinate = `${typeName}.${field.name.value}`;
        const returnType = namedTypeOf(field.type);
        const atGateway = describeRequirement(
          requirementFor(gateway, typeName, field.name.value, returnType),
        );
        const atSubgraph = describeRequirement(
          requirementFor(own, typeName, field.name.value, returnType),
        );
        if (atGateway !== atSubgraph) {
          problems.push(
            `${subgraph.name}: ${coordinate} is "${atGateway}" at the gateway but "${atSubgraph}" in the subgraph`,
          );
        }
        if (rootTypes.has(typeName)) {
          const isPublic = publicFields.has(coordinate);
          if (atSubgraph === 'public' && !isPublic) {
            problems.push(
              `${subgraph.name}: ${coordinate} has no auth directive and is not listed as public: the gateway lets everyone through but the subgraph denies everyone`,
            );
          }
          if (atSubgraph !== 'public' && isPublic) {
            problems.push(
              `${subgraph.name}: ${coordinate} is listed as public but carries "${atSubgraph}"`,
            );
          }
        }
      }
    }
    for (const coordinate of publicFields) {
      const [typeName, fieldName] = coordinate.split('.');
      const declared = document.definitions.some(
        (d) =>
          (d.kind === Kind.OBJECT_TYPE_DEFINITION || d.kind === Kind.OBJECT_TYPE_EXTENSION) &&
          d.name.value === typeName &&
          (d.fields ?? []).some((f) => f.name.value === fieldName),
      );
      if (!declared) problems.push(`${subgraph.name}: public field ${coordinate} does not exist`);
    }
  }
  return problems;
}
