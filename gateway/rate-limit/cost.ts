/**
 * Static cost estimation of an operation, before it is planned or executed.
 *
 * The formula (Apollo's demand-control model with LotaBots' defaults):
 *
 *   cost(operation)   = cost(root selection set)
 *   cost(selections)  = Σ cost(field) over fields and fragments on the parent type itself
 *                       + max over the other type conditions (Σ of each condition's selections),
 *                       because one object only ever matches one concrete type
 *   cost(field)       = argumentCost + size × (weight + cost(sub-selections))
 *   weight            = @cost(weight) on the field, else @cost(weight) on its named return type,
 *                       else 10 for a mutation root field, 1 for an object/interface/union field,
 *                       0 for a scalar or enum field
 *   argumentCost      = Σ @cost(weight) of the arguments the operation passes
 *   size              = 1 unless the field returns a list; for a list, in order of precedence:
 *                       the value of its @listSize slicingArguments (the largest one passed),
 *                       @listSize(assumedSize), its `first`/`last`/`limit` argument (passed or
 *                       defaulted), a `sizedFields` size handed down by the parent, else 10
 *   sizedFields       = a non-list field (a Relay connection) sliced by @listSize slicingArguments
 *                       or `first`/`last`/`limit` passes that size to its children named in
 *                       @listSize(sizedFields), by default `edges` and `nodes`
 *
 * Fields skipped by @skip/@include cost nothing. `__typename` costs 0 and other introspection
 * fields (`__schema`, `__type`) a flat 1: the gateway answers them from memory, and costing the
 * nested lists of an introspection query like data would price Sandbox out of MAX_QUERY_COST.
 */
import {
  Kind,
  OperationTypeNode,
  getNamedType,
  getNullableType,
  isCompositeType,
  isInterfaceType,
  isListType,
  isObjectType,
  parse,
  valueFromASTUntyped,
  type DirectiveNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLField,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';
import { badInput } from '../../platform/errors.ts';

/** Size assumed for a list when nothing says how long it is. */
export const DEFAULT_LIST_SIZE = 10;
/** Weight of a mutation root field: writes cost far more than reads. */
export const MUTATION_ROOT_WEIGHT = 10;
/** Arguments that slice a list when no @listSize names them. */
const DEFAULT_SLICING_ARGUMENTS = ['first', 'last', 'limit'];
/** Children of a sliced connection that are as long as the slice when no @listSize names them. */
const DEFAULT_SIZED_FIELDS = ['edges', 'nodes'];
/** Upper bound for a list size taken from a caller's argument, so huge numbers stay finite. */
const MAX_LIST_SIZE = 1_000_000;

interface ListSize {
  assumedSize?: number;
  slicingArguments?: string[];
  sizedFields?: string[];
  requireOneSlicingArgument: boolean;
}

/** The demand-control directives found in a schema, keyed by coordinate. */
export interface CostDirectives {
  /** `Type.field` → @cost weight. */
  fieldWeights: Map<string, number>;
  /** `Type` → @cost weight on an object, scalar or enum type. */
  typeWeights: Map<string, number>;
  /** `Type.field(argument)` → @cost weight. */
  argumentWeights: Map<string, number>;
  /** `Type.field` → @listSize. */
  listSizes: Map<string, ListSize>;
}

const COST_SPEC = /^https:\/\/specs\.apollo\.dev\/cost\/v\d+\.\d+$/;

/**
 * Reads @cost and @listSize from a (super)graph SDL. The supergraph names them through
 * `@link(url: "https://specs.apollo.dev/cost/v0.1", import: [...])`: imported names are used as
 * they are (or as renamed), the others are namespaced (`cost__listSize`). Without such a link the
 * plain names `@cost`/`@listSize` are read, so a hand-written schema works too.
 */
export function readCostDirectives(sdl: string): CostDirectives {
  const document = parse(sdl, { noLocation: true });
  const names = directiveNames(document);
  const result: CostDirectives = {
    fieldWeights: new Map(),
    typeWeights: new Map(),
    argumentWeights: new Map(),
    listSizes: new Map(),
  };
  const weightOf = (directives: readonly DirectiveNode[] | undefined): number | undefined => {
    const node = directives?.find((d) => d.name.value === names.cost);
    const weight = node ? directiveArguments(node).weight : undefined;
    return typeof weight === 'number' ? weight : undefined;
  };
  for (const definition of document.definitions) {
    if (!('name' in definition) || !definition.name || !('directives' in definition)) continue;
    const typeName = definition.name.value;
    const typeWeight = weightOf(definition.directives);
    if (typeWeight !== undefined) result.typeWeights.set(typeName, typeWeight);
    if (!('fields' in definition) || !definition.fields) continue;
    for (const field of definition.fields) {
      const coordinate = `${typeName}.${field.name.value}`;
      const fieldWeight = weightOf(field.directives);
      if (fieldWeight !== undefined) result.fieldWeights.set(coordinate, fieldWeight);
      const listSize = field.directives?.find((d) => d.name.value === names.listSize);
      if (listSize) result.listSizes.set(coordinate, toListSize(directiveArguments(listSize)));
      for (const argument of 'arguments' in field ? (field.arguments ?? []) : []) {
        const argumentWeight = weightOf(argument.directives);
        if (argumentWeight !== undefined) {
          result.argumentWeights.set(`${coordinate}(${argument.name.value})`, argumentWeight);
        }
      }
    }
  }
  return result;
}

function directiveNames(document: DocumentNode): { cost: string; listSize: string } {
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.SCHEMA_DEFINITION && definition.kind !== Kind.SCHEMA_EXTENSION) {
      continue;
    }
    for (const link of definition.directives ?? []) {
      if (link.name.value !== 'link') continue;
      const args = directiveArguments(link);
      if (typeof args.url !== 'string' || !COST_SPEC.test(args.url)) continue;
      const namespace = typeof args.as === 'string' ? args.as : 'cost';
      const imported = new Map<string, string>();
      for (const entry of Array.isArray(args.import) ? args.import : []) {
        if (typeof entry === 'string') imported.set(entry, entry);
        else if (entry && typeof entry === 'object') {
          const { name, as } = entry as { name?: unknown; as?: unknown };
          if (typeof name === 'string') imported.set(name, typeof as === 'string' ? as : name);
        }
      }
      // Link spec: the directive named like the spec itself (`@cost` of cost/v0.1) is reachable
      // as `@<namespace>` without importing it; every other one is `@<namespace>__<name>`.
      const local = (name: string) =>
        imported.get(`@${name}`)?.replace(/^@/, '') ??
        (name === 'cost' ? namespace : `${namespace}__${name}`);
      return { cost: local('cost'), listSize: local('listSize') };
    }
  }
  return { cost: 'cost', listSize: 'listSize' };
}

function directiveArguments(node: DirectiveNode): Record<string, unknown> {
  return Object.fromEntries(
    (node.arguments ?? []).map((arg) => [arg.name.value, valueFromASTUntyped(arg.value)]),
  );
}

function toListSize(args: Record<string, unknown>): ListSize {
  const strings = (value: unknown) =>
    Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : undefined;
  return {
    ...(typeof args.assumedSize === 'number' ? { assumedSize: args.assumedSize } : {}),
    ...(strings(args.slicingArguments) ? { slicingArguments: strings(args.slicingArguments) } : {}),
    ...(strings(args.sizedFields) ? { sizedFields: strings(args.sizedFields) } : {}),
    // The spec's default: a sliced list must be given exactly one slicing argument.
    requireOneSlicingArgument: args.requireOneSlicingArgument !== false,
  };
}

/**
 * The estimated cost of `operation` against `schema` (the API schema the gateway serves), with
 * the weights of `directives`. Throws BAD_USER_INPUT when a @listSize field that requires exactly
 * one slicing argument gets none or several.
 */
export function estimateCost(
  schema: GraphQLSchema,
  directives: CostDirectives,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown> = {},
): number {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) {
      fragments.set(definition.name.value, definition);
    }
  }
  const root = schema.getRootType(operation.operation);
  if (!root) return 0;
  const walker = new CostWalker(schema, directives, fragments, variables);
  return walker.selections(
    root,
    operation.selectionSet,
    operation.operation === OperationTypeNode.MUTATION,
  );
}

class CostWalker {
  constructor(
    private readonly schema: GraphQLSchema,
    private readonly directives: CostDirectives,
    private readonly fragments: Map<string, FragmentDefinitionNode>,
    private readonly variables: Record<string, unknown>,
  ) {}

  selections(
    parent: GraphQLCompositeType,
    set: SelectionSetNode,
    mutationRoot = false,
    sized: Map<string, number> = new Map(),
  ): number {
    let own = 0;
    const byCondition = new Map<string, number>();
    const addFragment = (condition: string | undefined, selectionSet: SelectionSetNode) => {
      const type = condition ? this.schema.getType(condition) : parent;
      if (!type || !isCompositeType(type)) return;
      const cost = this.selections(type, selectionSet, mutationRoot, sized);
      if (type === parent) own += cost;
      else byCondition.set(type.name, (byCondition.get(type.name) ?? 0) + cost);
    };
    for (const selection of set.selections) {
      if (this.skipped(selection.directives)) continue;
      if (selection.kind === Kind.FIELD) {
        own += this.field(parent, selection, mutationRoot, sized.get(selection.name.value));
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        addFragment(selection.typeCondition?.name.value, selection.selectionSet);
      } else {
        const fragment = this.fragments.get(selection.name.value);
        if (fragment) addFragment(fragment.typeCondition.name.value, fragment.selectionSet);
      }
    }
    return own + Math.max(0, ...byCondition.values());
  }

  private field(
    parent: GraphQLCompositeType,
    node: FieldNode,
    mutationRoot: boolean,
    sizeFromParent: number | undefined,
  ): number {
    const name = node.name.value;
    if (name.startsWith('__')) return name === '__typename' ? 0 : 1;
    const definition =
      isObjectType(parent) || isInterfaceType(parent) ? parent.getFields()[name] : undefined;
    if (!definition) return 0;
    const coordinate = `${parent.name}.${name}`;
    const named = getNamedType(definition.type);
    const composite = isCompositeType(named);
    const weight =
      this.directives.fieldWeights.get(coordinate) ??
      this.directives.typeWeights.get(named.name) ??
      (mutationRoot ? MUTATION_ROOT_WEIGHT : composite ? 1 : 0);

    let argumentCost = 0;
    for (const argument of node.arguments ?? []) {
      argumentCost +=
        this.directives.argumentWeights.get(`${coordinate}(${argument.name.value})`) ?? 0;
    }

    const listSize = this.directives.listSizes.get(coordinate);
    const slice = this.sliceSize(definition, node, listSize, coordinate);
    const isList = isListType(getNullableType(definition.type));
    const size = isList
      ? (slice ?? listSize?.assumedSize ?? sizeFromParent ?? DEFAULT_LIST_SIZE)
      : 1;
    // A sliced connection (non-list) hands its slice to the lists inside it (edges, nodes).
    const sized = new Map<string, number>();
    if (!isList && slice !== undefined) {
      for (const field of listSize?.sizedFields ?? DEFAULT_SIZED_FIELDS) sized.set(field, slice);
    }
    const children =
      composite && node.selectionSet ? this.selections(named, node.selectionSet, false, sized) : 0;
    return argumentCost + size * (weight + children);
  }

  /** The slice a field is asked for, from @listSize slicingArguments or first/last/limit. */
  private sliceSize(
    definition: GraphQLField<unknown, unknown>,
    node: FieldNode,
    listSize: ListSize | undefined,
    coordinate: string,
  ): number | undefined {
    const names = listSize?.slicingArguments ?? DEFAULT_SLICING_ARGUMENTS;
    const values: number[] = [];
    for (const name of names) {
      const value = this.argumentValue(definition, node, name);
      if (value !== undefined) values.push(value);
    }
    if (listSize?.slicingArguments && listSize.requireOneSlicingArgument && values.length !== 1) {
      throw badInput(`Field ${coordinate} needs exactly one of: ${names.join(', ')}`);
    }
    if (values.length === 0) return undefined;
    return Math.min(MAX_LIST_SIZE, Math.max(0, ...values.map((v) => Math.floor(v))));
  }

  /** A numeric argument as the operation passes it (literal or variable) or as it defaults. */
  private argumentValue(
    definition: GraphQLField<unknown, unknown>,
    node: FieldNode,
    name: string,
  ): number | undefined {
    const argument = node.arguments?.find((a) => a.name.value === name);
    const value = argument
      ? this.literal(argument.value)
      : definition.args.find((a) => a.name === name)?.defaultValue;
    return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
  }

  private literal(value: ValueNode): unknown {
    return valueFromASTUntyped(value, this.variables);
  }

  private skipped(directives: readonly DirectiveNode[] | undefined): boolean {
    for (const directive of directives ?? []) {
      const condition = directive.arguments?.find((a) => a.name.value === 'if');
      if (!condition) continue;
      const value = this.literal(condition.value);
      if (directive.name.value === 'skip' && value === true) return true;
      if (directive.name.value === 'include' && value === false) return true;
    }
    return false;
  }
}
