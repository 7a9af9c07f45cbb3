// learn(…) as OVS encodes it (lib/ofp-actions.c encode_LEARN, lib/learn.c learn_parse_spec):
// NXAST_LEARN, then one flow_mod_spec per match or load: a 16-bit header (bit count, source
// type, destination type), the source (a field reference or an immediate padded to 16-bit
// units) and the destination field reference. Field references are NXM headers.
import { allOnes, fieldByName, nxmHeader, OfWriter, parseFieldValue, parseSubfield, parseUint, type Subfield } from './match-fields.js';
import { splitTop } from './match.js';
import { ActionError } from './actions-error.js';

const NXAST_LEARN = 16;
const NX_VENDOR = 0x00002320;
const SRC_IMMEDIATE = 1 << 13;
const DST_LOAD = 1 << 11;
const DST_OUTPUT = 2 << 11;

function fail(token: string, reason: string): never {
  throw new ActionError(token, `learn: ${reason}`);
}

function sub(text: string, token: string): Subfield {
  try {
    return parseSubfield(text);
  } catch (err) {
    fail(token, (err as Error).message);
  }
}

/** Writes `bits` of `value` as OVS's learn immediate: 2 × ceil(bits/16) bytes, right-aligned. */
function immediate(w: OfWriter, value: bigint, bits: number): void {
  w.uint(value, 2 * Math.ceil(bits / 16));
}

export function encodeLearn(w: OfWriter, arg: string, token: string): void {
  let idle = 0;
  let hard = 0;
  let priority = 0x8000;
  let cookie = 0n;
  let flags = 0;
  let table = 1;
  let finIdle = 0;
  let finHard = 0;
  const specs = new OfWriter(128);
  const num = (v: string | undefined, max: number) => {
    const n = parseUint(v ?? '', token);
    if (n > BigInt(max)) fail(token, `"${v}" out of range`);
    return Number(n);
  };
  for (const t of splitTop(arg)) {
    const eq = t.indexOf('=');
    const colon = t.indexOf(':');
    const k = eq >= 0 && (colon < 0 || eq < colon) ? t.slice(0, eq) : colon >= 0 ? t.slice(0, colon) : t;
    const v = eq >= 0 && (colon < 0 || eq < colon) ? t.slice(eq + 1) : colon >= 0 ? t.slice(colon + 1) : undefined;
    switch (k) {
      case 'table': table = num(v, 254); continue;
      case 'idle_timeout': idle = num(v, 0xffff); continue;
      case 'hard_timeout': hard = num(v, 0xffff); continue;
      case 'fin_idle_timeout': finIdle = num(v, 0xffff); continue;
      case 'fin_hard_timeout': finHard = num(v, 0xffff); continue;
      case 'priority': priority = num(v, 0xffff); continue;
      case 'cookie': cookie = parseUint(v ?? '', token); continue;
      case 'send_flow_rem': flags |= 1; continue;
      case 'delete_learned': flags |= 2; continue;
      case 'limit':
      case 'result_dst':
        fail(token, `"${k}" is not supported`);
    }
    if (k === 'load' && v !== undefined) {
      const arrow = v.indexOf('->');
      if (arrow <= 0) fail(token, `load needs src->dst in "${t}"`);
      const dst = sub(v.slice(arrow + 2), token);
      const src = v.slice(0, arrow);
      if (/^(0x[0-9a-f]+|\d+)$/i.test(src)) {
        const value = parseUint(src, token);
        if (value >> BigInt(dst.nBits)) fail(token, `value ${src} does not fit into ${dst.nBits} bits`);
        specs.u16(dst.nBits | SRC_IMMEDIATE | DST_LOAD);
        immediate(specs, value, dst.nBits);
      } else {
        const s = sub(src, token);
        if (s.nBits !== dst.nBits) fail(token, `bit widths of ${src} and ${v.slice(arrow + 2)} differ`);
        specs.u16(dst.nBits | DST_LOAD);
        specs.u32(nxmHeader(s.field));
        specs.u16(s.ofs);
      }
      specs.u32(nxmHeader(dst.field));
      specs.u16(dst.ofs);
      continue;
    }
    if (k === 'output' && v !== undefined) {
      const s = sub(v, token);
      specs.u16(s.nBits | DST_OUTPUT);
      specs.u32(nxmHeader(s.field));
      specs.u16(s.ofs);
      continue;
    }
    // A match: FIELD[bits] (same bits of this packet), FIELD[bits]=SRC[bits], or field=value.
    const dstText = eq >= 0 ? t.slice(0, eq) : t;
    const dst = sub(dstText, token);
    if (eq < 0) {
      // The source is the destination field itself.
      specs.u16(dst.nBits);
      specs.u32(nxmHeader(dst.field));
      specs.u16(dst.ofs);
      specs.u32(nxmHeader(dst.field));
      specs.u16(dst.ofs);
    } else {
      const valueText = t.slice(eq + 1);
      let src: Subfield | undefined;
      const named = /^[A-Za-z_][A-Za-z0-9_]*(\[[0-9.]*\])?$/.test(valueText) && fieldByName(valueText.replace(/\[.*$/, ''));
      if (named) src = sub(valueText, token);
      if (src) {
        if (src.nBits !== dst.nBits) fail(token, `bit widths of ${dstText} and ${valueText} differ`);
        specs.u16(dst.nBits);
        specs.u32(nxmHeader(src.field));
        specs.u16(src.ofs);
      } else {
        let value: bigint;
        try {
          if (dst.ofs === 0 && dst.nBits === dst.field.bits) value = parseFieldValue(dst.field, valueText).value;
          else value = parseUint(valueText, token);
        } catch (err) {
          fail(token, (err as Error).message);
        }
        if (value > allOnes(dst.field.bytes) || value >> BigInt(dst.nBits)) fail(token, `value ${valueText} does not fit into ${dst.nBits} bits`);
        specs.u16(dst.nBits | SRC_IMMEDIATE);
        immediate(specs, value, dst.nBits);
      }
      specs.u32(nxmHeader(dst.field));
      specs.u16(dst.ofs);
    }
  }
  const start = w.len;
  w.u16(0xffff);
  w.u16(0);
  w.u32(NX_VENDOR);
  w.u16(NXAST_LEARN);
  w.u16(idle);
  w.u16(hard);
  w.u16(priority);
  w.u64(cookie);
  w.u16(flags);
  w.u8(table);
  w.u8(0);
  w.u16(finIdle);
  w.u16(finHard);
  w.bytes(specs.take());
  w.pad8(start);
  w.setU16(start + 2, w.len - start);
}
