// ct(…) and its nested nat(…) and exec(…) as OVS encodes them: NXAST_CT with the nested
// actions (nat, then exec's actions, in the text's order) inside its length; NXAST_NAT with
// only the range parts that are present.
import { nxmHeader, nxmOfsNbits, OfWriter, parseSubfield, parseUint } from './match-fields.js';
import { splitTop } from './match.js';
import { ActionError } from './actions-error.js';

const NXAST_CT = 35;
const NXAST_NAT = 36;
const NX_VENDOR = 0x00002320;
const ALGS: Record<string, number> = { ftp: 21, tftp: 69 };

type PutActions = (w: OfWriter, tokens: readonly string[]) => number;

function fail(token: string, reason: string): never {
  throw new ActionError(token, reason);
}

function nxStart(w: OfWriter, subtype: number): number {
  const start = w.len;
  w.u16(0xffff);
  w.u16(0);
  w.u32(NX_VENDOR);
  w.u16(subtype);
  return start;
}

function kv(arg: string): [string, string | undefined][] {
  return splitTop(arg).map((t) => {
    const paren = t.indexOf('(');
    const eq = t.indexOf('=');
    if (paren > 0 && (eq < 0 || paren < eq) && t.endsWith(')')) return [t.slice(0, paren), t.slice(paren + 1, -1)];
    return eq < 0 ? [t, undefined] : [t.slice(0, eq), t.slice(eq + 1)];
  });
}

export function encodeCt(w: OfWriter, arg: string, token: string, putActions: PutActions): void {
  const start = nxStart(w, NXAST_CT);
  let flags = 0;
  let zoneSrc = 0;
  let zone = 0;
  let table = 0xff;
  let alg = 0;
  const nested: [string, string | undefined][] = [];
  for (const [k, v] of kv(arg)) {
    switch (k) {
      case 'commit': flags |= 1; break;
      case 'force': flags |= 2; break;
      case 'table':
        table = Number(parseUint(v ?? '', token));
        if (table >= 0xff) fail(token, 'table out of range');
        break;
      case 'zone':
        if (v !== undefined && /^(0x[0-9a-f]+|\d+)$/i.test(v)) {
          zone = Number(v);
          if (zone > 0xffff) fail(token, 'zone is 16-bit');
        } else {
          let sf;
          try {
            sf = parseSubfield(v ?? '');
          } catch (err) {
            fail(token, (err as Error).message);
          }
          zoneSrc = nxmHeader(sf.field);
          zone = nxmOfsNbits(sf);
        }
        break;
      case 'alg':
        if (ALGS[v ?? ''] === undefined) fail(token, `unknown alg "${v}"`);
        alg = ALGS[v!]!;
        break;
      case 'nat':
      case 'exec':
        nested.push([k, v]);
        break;
      default:
        fail(token, `unknown ct argument "${k}"`);
    }
  }
  if (flags & 2 && !(flags & 1)) fail(token, '"force" needs "commit"');
  w.u16(flags);
  w.u32(zoneSrc);
  w.u16(zone);
  w.u8(table);
  w.zeros(3);
  w.u16(alg);
  for (const [k, v] of nested) {
    if (k === 'nat') encodeNat(w, v ?? '', token);
    else putActions(w, splitTop(v ?? ''));
  }
  w.setU16(start + 2, w.len - start);
}

function ipv4(s: string, token: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m || m.slice(1).some((o) => Number(o) > 255)) fail(token, `"${s}" is not an IPv4 address`);
  return ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
}

/** nat, nat(src=IP[-IP][:PORT[-PORT]]), nat(dst=…), plus persistent, hash, random. */
function encodeNat(w: OfWriter, arg: string, token: string): void {
  const start = nxStart(w, NXAST_NAT);
  let flags = 0;
  let range: string | undefined;
  for (const [k, v] of kv(arg)) {
    if (k === 'src' || k === 'dst') {
      if (flags & 3) fail(token, 'nat takes one of src and dst');
      flags |= k === 'src' ? 1 : 2;
      range = v;
    } else if (k === 'persistent') flags |= 4;
    else if (k === 'hash') flags |= 8;
    else if (k === 'random') flags |= 16;
    else fail(token, `unknown nat argument "${k}"`);
  }
  w.zeros(2);
  w.u16(flags);
  const present = w.len;
  w.u16(0);
  let bits = 0;
  if (range) {
    const m = /^(\d+\.\d+\.\d+\.\d+)(?:-(\d+\.\d+\.\d+\.\d+))?(?::(\d+)(?:-(\d+))?)?$/.exec(range);
    if (!m) fail(token, `nat range "${range}" is not IPv4[-IPv4][:port[-port]] (IPv6 ranges are not supported)`);
    const min = ipv4(m[1]!, token);
    const max = m[2] ? ipv4(m[2], token) : 0;
    if (m[2] && max < min) fail(token, `invalid nat range "${range}"`);
    if (min) (w.u32(min), (bits |= 1));
    if (max) (w.u32(max), (bits |= 2));
    const pmin = m[3] ? Number(m[3]) : 0;
    const pmax = m[4] ? Number(m[4]) : 0;
    if (pmin > 0xffff || pmax > 0xffff || (m[4] && pmax < pmin)) fail(token, `invalid nat port range "${range}"`);
    if (pmin) (w.u16(pmin), (bits |= 16));
    if (pmax) (w.u16(pmax), (bits |= 32));
  }
  w.setU16(present, bits);
  w.pad8(start);
  w.setU16(start + 2, w.len - start);
}
