const MAX_SHOWN_STRING = 80;

/**
 * Renders a value the user wrote for the "got ..." part of an error: strings
 * quoted (and shortened), scalars as written, collections by kind only, so an
 * error never dumps a whole section back at the user.
 */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'an empty value';
  if (typeof value === 'string') {
    const shown =
      value.length > MAX_SHOWN_STRING
        ? `${value.slice(0, MAX_SHOWN_STRING)}…`
        : value;
    return JSON.stringify(shown);
  }
  if (
    typeof value === 'number' ||
    typeof value === 'boolean' ||
    typeof value === 'bigint'
  )
    return String(value);
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Map || typeof value === 'object') return 'a mapping';
  return typeof value;
}
