// ipBlock `except` as OpenFlow can match it: the block minus its holes, as a minimal list of
// CIDRs (OpenFlow has no "not in" match; Antrea's controller does the same subtraction).
import { parseCIDR, type ParsedCIDR } from '../../api/net.js';

const width = (c: ParsedCIDR) => (c.family === 4 ? 32 : 128);

function contains(outer: ParsedCIDR, inner: ParsedCIDR): boolean {
  if (outer.family !== inner.family || inner.prefixLength < outer.prefixLength) return false;
  const shift = BigInt(width(outer) - outer.prefixLength);
  return inner.network >> shift === outer.network >> shift;
}

function format(c: ParsedCIDR): string {
  if (c.family === 4) {
    const n = Number(c.network);
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}/${c.prefixLength}`;
  }
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((c.network >> BigInt(i * 16)) & 0xffffn).toString(16));
  // Longest run of zero groups becomes "::".
  let best = [-1, 0];
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > best[1]! && j - i > 1) best = [i, j - i];
    i = j;
  }
  const text = best[0]! < 0 ? groups.join(':') : `${groups.slice(0, best[0]).join(':')}::${groups.slice(best[0]! + best[1]!).join(':')}`;
  return `${text}/${c.prefixLength}`;
}

/** `cidr` minus every `except` (each a strict subnet, as the schema checks), normalized. */
export function subtractCIDRs(cidr: string, except: readonly string[] = []): string[] {
  const base = parseCIDR(cidr);
  if (!base) throw new Error(`not a CIDR: ${cidr}`);
  let pieces: ParsedCIDR[] = [base];
  for (const text of except) {
    const hole = parseCIDR(text);
    if (!hole) throw new Error(`not a CIDR: ${text}`);
    pieces = pieces.flatMap((p) => cut(p, hole));
  }
  return pieces.map(format);
}

// Splits `p` in halves until the hole is isolated: at most one piece per prefix bit.
function cut(p: ParsedCIDR, hole: ParsedCIDR): ParsedCIDR[] {
  if (contains(hole, p)) return [];
  if (!contains(p, hole)) return [p];
  const w = width(p);
  const len = p.prefixLength + 1;
  const bit = 1n << BigInt(w - len);
  const halves: ParsedCIDR[] = [
    { family: p.family, network: p.network, prefixLength: len },
    { family: p.family, network: p.network | bit, prefixLength: len },
  ];
  return halves.flatMap((h) => cut(h, hole));
}
