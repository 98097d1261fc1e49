import { GraphQLError, GraphQLScalarType, Kind, type ValueNode } from 'graphql';

/** `DateTime`: ISO 8601 on the wire, `Date` in resolvers. */
export const DateTimeScalar = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  description: 'An ISO 8601 date-time string with a time zone.',
  serialize(value) {
    const date = value instanceof Date ? value : new Date(String(value));
    if (Number.isNaN(date.getTime()))
      throw new GraphQLError('DateTime cannot represent an invalid date');
    return date.toISOString();
  },
  parseValue(value) {
    return parseDate(value);
  },
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw badDate();
    return parseDate(ast.value);
  },
});

function badDate(): GraphQLError {
  return new GraphQLError(
    'DateTime must be an ISO 8601 string with a time zone, e.g. 2026-01-31T12:00:00Z',
    {
      extensions: { code: 'BAD_USER_INPUT' },
    },
  );
}

function parseDate(value: unknown): Date {
  if (
    typeof value !== 'string' ||
    !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(value)
  ) {
    throw badDate();
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw badDate();
  return date;
}

/** `JSON`: any JSON value. */
export const JSONScalar = new GraphQLScalarType<unknown, unknown>({
  name: 'JSON',
  description: 'Any JSON value.',
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: function parse(
    ast: ValueNode,
    variables?: Record<string, unknown> | null,
  ): unknown {
    switch (ast.kind) {
      case Kind.STRING:
      case Kind.BOOLEAN:
        return ast.value;
      case Kind.INT:
      case Kind.FLOAT:
        return Number(ast.value);
      case Kind.NULL:
        return null;
      case Kind.LIST:
        return ast.values.map((v) => parse(v, variables));
      case Kind.OBJECT:
        return Object.fromEntries(ast.fields.map((f) => [f.name.value, parse(f.value, variables)]));
      case Kind.VARIABLE:
        return variables?.[ast.name.value];
      default:
        throw new GraphQLError('Unsupported JSON literal', {
          extensions: { code: 'BAD_USER_INPUT' },
        });
    }
  },
});
