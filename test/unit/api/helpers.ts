import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { ManifestError, parseManifests } from '../../../src/api/manifest.js';

export type Obj = Record<string, any>;

/** A deep copy of `base` changed by `edit`, for table-driven invalid cases. */
export function variant(base: Obj, edit: (o: Obj) => void): Obj {
  const copy = structuredClone(base);
  edit(copy);
  return copy;
}

/** Parses text that must fail; returns the ManifestError's lines. */
export function problemLines(text: string, source = 'policy.yaml'): string[] {
  try {
    parseManifests(text, source);
  } catch (err) {
    assert.ok(err instanceof ManifestError, `expected a ManifestError, got ${String(err)}`);
    return err.message.split('\n');
  }
  assert.fail('expected the manifest to be rejected');
}

/**
 * Asserts the object is rejected with a line naming exactly `path` (as `<prefix>: <path>: …`)
 * whose message contains `fragment`.
 */
export function expectProblem(obj: Obj, path: string, fragment: string): void {
  const kind = typeof obj.kind === 'string' ? obj.kind : '?';
  const name = typeof obj.metadata?.name === 'string' ? obj.metadata.name : '?';
  const prefix = `policy.yaml doc 1 (${kind} ${name}): ${path === '' ? '' : `${path}: `}`;
  const lines = problemLines(stringify(obj));
  const hit = lines.find((l) => l.startsWith(prefix) && l.includes(fragment));
  assert.ok(hit, `no problem line starting with ${JSON.stringify(prefix)} containing ${JSON.stringify(fragment)}; got:\n${lines.join('\n')}`);
}
