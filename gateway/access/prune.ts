import {
  Kind,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionNode,
  type SelectionSetNode,
} from 'graphql';

/** Response key of a placeholder kept where pruning would leave an empty selection set. */
export const placeholderKey = '__lotabots_pruned';

/**
 * Returns the operation with every field at one of `paths` removed, fragments inlined first so a
 * fragment shared by an allowed and a denied position is pruned only where it is denied. A
 * selection set left empty keeps `__typename` under a placeholder key that the response strips.
 */
export function pruneOperation(
  operation: OperationDefinitionNode,
  fragments: Record<string, FragmentDefinitionNode>,
  paths: string[][],
): DocumentNode {
  const denied = new Set(paths.map((p) => p.join('\u0000')));
  const prune = (
    selectionSet: SelectionSetNode,
    path: string[],
    seen: Set<string>,
  ): SelectionSetNode => {
    const selections: SelectionNode[] = [];
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        const key = selection.alias?.value ?? selection.name.value;
        const fieldPath = [...path, key];
        if (denied.has(fieldPath.join('\u0000'))) continue;
        selections.push(
          selection.selectionSet
            ? { ...selection, selectionSet: prune(selection.selectionSet, fieldPath, seen) }
            : selection,
        );
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        selections.push({ ...selection, selectionSet: prune(selection.selectionSet, path, seen) });
      } else {
        const fragment = fragments[selection.name.value];
        if (!fragment || seen.has(fragment.name.value)) continue;
        selections.push({
          kind: Kind.INLINE_FRAGMENT,
          typeCondition: fragment.typeCondition,
          ...(selection.directives ? { directives: selection.directives } : {}),
          selectionSet: prune(fragment.selectionSet, path, new Set([...seen, fragment.name.value])),
        });
      }
    }
    if (selections.length === 0) {
      const placeholder: FieldNode = {
        kind: Kind.FIELD,
        alias: { kind: Kind.NAME, value: placeholderKey },
        name: { kind: Kind.NAME, value: '__typename' },
      };
      selections.push(placeholder);
    }
    return { ...selectionSet, selections };
  };
  return {
    kind: Kind.DOCUMENT,
    definitions: [{ ...operation, selectionSet: prune(operation.selectionSet, [], new Set()) }],
  };
}

/** Writes null at each path of `data` (through lists) and drops placeholder keys. */
export function nullAtPaths(data: Record<string, unknown>, paths: string[][]): void {
  const apply = (value: unknown, path: string[]): void => {
    if (Array.isArray(value)) {
      for (const item of value) apply(item, path);
      return;
    }
    if (!value || typeof value !== 'object') return;
    const record = value as Record<string, unknown>;
    const [head, ...rest] = path;
    if (head === undefined) return;
    if (rest.length === 0) record[head] = null;
    else apply(record[head], rest);
  };
  const strip = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(strip);
    else if (value && typeof value === 'object') {
      const record = value as Record<string, unknown>;
      delete record[placeholderKey];
      Object.values(record).forEach(strip);
    }
  };
  for (const path of paths) apply(data, path);
  strip(data);
}
