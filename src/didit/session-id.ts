/**
 * Didit's session ids are UUIDs. Checking one before it goes into a URL path is what keeps
 * `../x`, `%2e%2e`, `a/b`, `?` and `#` from ever reaching Didit: the pattern admits only hex
 * digits and dashes, in the one shape and length of a UUID.
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isSessionId(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}
