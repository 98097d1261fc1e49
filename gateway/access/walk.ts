import {
  getNamedType,
  isCompositeType,
  isInterfaceType,
  isNonNullType,
  isObjectType,
  Kind,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

/** One field of an operation as it will appear in the response. */
export interface VisitedField {
  /** Response keys from the root (aliases where used). */
  path: string[];
  parentType: string;
  fieldName: string;
  returnType: string;
  /** Nullability of this field and of each ancestor on `path`, root first. */
  nonNullChain: boolean[];
}

/**
 * Visits every field an operation selects, following fragments (each at most once per branch, so
 * a cycle cannot recurse) and tracking response paths. `visit` returns false to skip a field's
 * sub-selection (a field that will not run needs no further checks).
 */
export function walkOperation(
  schema: GraphQLSchema,
  operation: OperationDefinitionNode,
  fragments: Record<string, FragmentDefinitionNode>,
  visit: (field: VisitedField) => boolean,
): void {
  const root = schema.getRootType(operation.operation);
  if (!root) return;
  walkSelections(schema, operation.selectionSet, root, [], [], fragments, new Set(), visit);
}

function walkSelections(
  schema: GraphQLSchema,
  selectionSet: SelectionSetNode,
  parentType: GraphQLCompositeType,
  path: string[],
  nonNullChain: boolean[],
  fragments: Record<string, FragmentDefinitionNode>,
  seenFragments: Set<string>,
  visit: (field: VisitedField) => boolean,
): void {
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      const name = selection.name.value;
      if (name.startsWith('__')) continue;
      if (!isObjectType(parentType) && !isInterfaceType(parentType)) continue;
      const definition = parentType.getFields()[name];
      if (!definition) continue;
      const returnType = getNamedType(definition.type);
      const field: VisitedField = {
        path: [...path, selection.alias?.value ?? name],
        parentType: parentType.name,
        fieldName: name,
        returnType: returnType.name,
        nonNullChain: [...nonNullChain, isNonNullType(definition.type)],
      };
      if (visit(field) && selection.selectionSet && isCompositeType(returnType)) {
        walkSelections(
          schema,
          selection.selectionSet,
          returnType,
          field.path,
          field.nonNullChain,
          fragments,
          seenFragments,
          visit,
        );
      }
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      const typeCondition = selection.typeCondition
        ? schema.getType(selection.typeCondition.name.value)
        : parentType;
      if (typeCondition && isCompositeType(typeCondition)) {
        walkSelections(
          schema,
          selection.selectionSet,
          typeCondition,
          path,
          nonNullChain,
          fragments,
          seenFragments,
          visit,
        );
      }
    } else {
      const name = selection.name.value;
      const fragment = fragments[name];
      if (!fragment || seenFragments.has(name)) continue;
      const typeCondition = schema.getType(fragment.typeCondition.name.value);
      if (typeCondition && isCompositeType(typeCondition)) {
        walkSelections(
          schema,
          fragment.selectionSet,
          typeCondition,
          path,
          nonNullChain,
          fragments,
          new Set([...seenFragments, name]),
          visit,
        );
      }
    }
  }
}
