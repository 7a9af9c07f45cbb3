// JSON with sorted keys, so "did the spec change?" is a string comparison and the stored text
// of an unchanged object does not churn.
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/**
 * canonicalJson(value), the same text, with the text of every nested object or array remembered
 * in `memo` by identity: a fleet-wide publication hashes thousands of documents that share the
 * same spec objects, each written out once. Only for values not mutated while `memo` lives
 * (one publication makes its own).
 */
export function canonicalJsonMemo(value: unknown, memo: WeakMap<object, string>): string | undefined {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) as string | undefined;
  const seen = memo.get(value);
  if (seen !== undefined) return seen;
  let text: string;
  if (Array.isArray(value)) {
    // As JSON.stringify writes arrays: undefined, functions and symbols become null.
    text = `[${value.map((v: unknown) => canonicalJsonMemo(v, memo) ?? 'null').join(',')}]`;
  } else {
    const parts: string[] = [];
    for (const key of Object.keys(value).sort()) {
      const v = canonicalJsonMemo((value as Record<string, unknown>)[key], memo);
      if (v !== undefined) parts.push(`${JSON.stringify(key)}:${v}`);
    }
    text = `{${parts.join(',')}}`;
  }
  memo.set(value, text);
  return text;
}
