/**
 * The canonical form a manifest is hashed and signed in, after RFC 8785 (JCS): object keys sorted
 * by UTF-16 code units, no whitespace, strings and numbers as ECMAScript JSON.stringify writes
 * them, UTF-8. Two manifests that parse to the same JSON value have the same canonical bytes, so
 * re-indenting manifest.json does not break its signature, while any change of value does.
 *
 * Only JSON values are accepted: non-finite numbers, functions, symbols, bigints and non-plain
 * objects throw. Object members whose value is undefined are left out (as JSON.stringify does);
 * undefined inside an array throws.
 */
export function canonicalize(value: unknown): string {
  return write(value, '$');
}

export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalize(value), 'utf8');
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function write(value: unknown, path: string): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      if (LONE_SURROGATE.test(value)) throw new TypeError(`${path}: string holds a lone surrogate`);
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`${path}: ${value} is not a JSON number`);
      return JSON.stringify(value); // ES number serialisation, which JCS adopts (-0 becomes 0)
    case 'object': {
      if (Array.isArray(value)) {
        return `[${value.map((v, i) => {
          if (v === undefined) throw new TypeError(`${path}[${i}]: undefined is not a JSON value`);
          return write(v, `${path}[${i}]`);
        }).join(',')}]`;
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) throw new TypeError(`${path}: only plain objects are JSON objects`);
      const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
      entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)); // UTF-16 code unit order
      return `{${entries.map(([k, v]) => `${write(k, path)}:${write(v, `${path}.${k}`)}`).join(',')}}`;
    }
    default:
      throw new TypeError(`${path}: ${typeof value} is not a JSON value`);
  }
}
