const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a syntactically valid UUID; ids that are not cannot exist, so callers answer NOT_FOUND. */
export function isUuid(value: string): boolean {
  return uuidPattern.test(value);
}
