// Conjunction ids: 32-bit, unique on the node, stable for a rule across runs (they live on in
// ct_label of established connections and in the flow exporter's records). A rule keeps its
// previous id; a new rule gets a hash of its id, probing upward on collision, in rule id order
// so the result does not depend on input order.
const MAX = 0xffffffff;

function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export function allocateConjIds(ruleIds: readonly string[], previous?: ReadonlyMap<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  const used = new Set<number>();
  const fresh: string[] = [];
  for (const id of [...new Set(ruleIds)].sort()) {
    const p = previous?.get(id);
    if (p !== undefined && !used.has(p)) {
      out.set(id, p);
      used.add(p);
    } else fresh.push(id);
  }
  for (const id of fresh) {
    let c = fnv1a32(id) || 1;
    while (used.has(c)) c = c >= MAX ? 1 : c + 1;
    out.set(id, c);
    used.add(c);
  }
  return out;
}
