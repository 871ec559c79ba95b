/**
 * The canonical JSON encoding the hash chain is computed over: object keys sorted by code unit,
 * no whitespace, strings as JSON.stringify writes them, safe integers only (no floats, whose text
 * differs between encoders), null; undefined values are refused rather than silently dropped.
 * Two values have the same encoding exactly when they are deeply equal.
 */
export type Canonical = null | boolean | number | string | Canonical[] | { [key: string]: Canonical };

export function canonicalJson(value: Canonical): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new TypeError('canonical JSON holds safe integers only');
    return String(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys
      .map((key) => {
        const item = value[key];
        if (item === undefined) throw new TypeError(`canonical JSON has no undefined (key ${JSON.stringify(key)})`);
        return `${JSON.stringify(key)}:${canonicalJson(item)}`;
      })
      .join(',')}}`;
  }
  throw new TypeError(`canonical JSON cannot hold a ${typeof value}`);
}
