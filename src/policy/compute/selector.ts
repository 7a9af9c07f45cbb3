// metav1.LabelSelector evaluation, as k8s.io/apimachinery does it: every matchLabels pair and
// every matchExpressions requirement must hold; an empty selector selects everything.
import type { LabelSelector } from '../../api/meta.js';

export function selectorMatches(sel: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const req of sel.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, req.key);
    const value = labels[req.key];
    switch (req.operator) {
      case 'In': if (!has || !req.values!.includes(value!)) return false; break;
      case 'NotIn': if (has && req.values!.includes(value!)) return false; break;
      case 'Exists': if (!has) return false; break;
      case 'DoesNotExist': if (has) return false; break;
    }
  }
  return true;
}

export function isEmptySelector(sel: LabelSelector): boolean {
  return !Object.keys(sel.matchLabels ?? {}).length && !(sel.matchExpressions?.length);
}

/** A canonical text of a selector, for cache keys (key order and value order do not matter). */
export function selectorKey(sel: LabelSelector | undefined): string {
  if (!sel) return '-';
  const labels = Object.entries(sel.matchLabels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`);
  const exprs = (sel.matchExpressions ?? []).map((r) => `${r.key} ${r.operator} ${[...(r.values ?? [])].sort().join('|')}`).sort();
  return `{${labels.join(',')};${exprs.join(',')}}`;
}
