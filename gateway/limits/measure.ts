import {
  Kind,
  type DocumentNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

/** What the operation limits look at, measured on one operation with its fragments expanded. */
export interface OperationMeasure {
  /** Deepest field nesting: `{ me { id } }` is 2. Fragments and inline fragments add no level. */
  depth: number;
  /** Aliased fields, counted once per place a fragment is spread (what execution would do). */
  aliases: number;
  /** Distinct response keys at the root, i.e. the root fields that would be resolved. */
  rootFields: number;
}

interface SetMeasure {
  depth: number;
  aliases: number;
}

/**
 * Measures `operation` of `document`. Every fragment is measured once and memoised, so an
 * exponential fan-out of spreads costs linear time; a fragment cycle (which graphql's validation
 * rejects anyway) contributes nothing on its second visit instead of recursing forever.
 */
export function measureOperation(
  document: DocumentNode,
  operation: OperationDefinitionNode,
): OperationMeasure {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION)
      fragments.set(definition.name.value, definition);
  }
  const measured = new Map<string, SetMeasure>();
  const inProgress = new Set<string>();
  const empty: SetMeasure = { depth: 0, aliases: 0 };

  const fragment = (name: string): SetMeasure => {
    const known = measured.get(name);
    if (known) return known;
    const definition = fragments.get(name);
    if (!definition || inProgress.has(name)) return empty;
    inProgress.add(name);
    const result = selectionSet(definition.selectionSet);
    inProgress.delete(name);
    measured.set(name, result);
    return result;
  };

  // Recursion depth is bounded by the document's nesting, which the parser (itself recursive and
  // capped by MAX_QUERY_TOKENS) has already walked, so this cannot overflow where parsing did not.
  const selectionSet = (set: SelectionSetNode): SetMeasure => {
    let depth = 0;
    let aliases = 0;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        const child = selection.selectionSet ? selectionSet(selection.selectionSet) : empty;
        depth = Math.max(depth, 1 + child.depth);
        aliases += (selection.alias ? 1 : 0) + child.aliases;
      } else {
        const child =
          selection.kind === Kind.INLINE_FRAGMENT
            ? selectionSet(selection.selectionSet)
            : fragment(selection.name.value);
        depth = Math.max(depth, child.depth);
        aliases += child.aliases;
      }
    }
    return { depth, aliases };
  };

  const { depth, aliases } = selectionSet(operation.selectionSet);
  return { depth, aliases, rootFields: rootResponseKeys(operation.selectionSet, fragments).size };
}

/** Response keys (alias or field name) selected at the root, through fragments of any kind. */
function rootResponseKeys(
  root: SelectionSetNode,
  fragments: Map<string, FragmentDefinitionNode>,
): Set<string> {
  const keys = new Set<string>();
  const visited = new Set<string>();
  const pending: SelectionSetNode[] = [root];
  // Iterative with a visited set: a fragment spread twice at the root adds no new keys.
  for (let set = pending.pop(); set; set = pending.pop()) {
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        keys.add((selection.alias ?? selection.name).value);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        pending.push(selection.selectionSet);
      } else if (!visited.has(selection.name.value)) {
        visited.add(selection.name.value);
        const definition = fragments.get(selection.name.value);
        if (definition) pending.push(definition.selectionSet);
      }
    }
  }
  return keys;
}
