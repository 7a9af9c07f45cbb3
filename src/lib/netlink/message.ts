// Netlink framing shared by every family (rtnetlink, nfnetlink): the 16-byte nlmsghdr, the
// type-length-value attributes and the error message. Family modules build the body (ifinfomsg,
// nfgenmsg …) and their attribute tables on top of these.
import { isIPv4, isIPv6 } from 'node:net';
import { constants } from 'node:os';

export const NLMSG_HDRLEN = 16;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;

export const NLM_F = {
  REQUEST: 0x1,
  MULTI: 0x2,
  ACK: 0x4,
  DUMP_INTR: 0x10,
  // GET modifiers
  ROOT: 0x100,
  MATCH: 0x200,
  DUMP: 0x300,
  // NEW modifiers
  REPLACE: 0x100,
  EXCL: 0x200,
  CREATE: 0x400,
  APPEND: 0x800,
} as const;

/** Attribute type flags carried in the high bits of nla_type. */
export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

export const align4 = (n: number) => (n + 3) & ~3;

export interface NetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  /** Everything after the 16-byte header (family header + attributes). */
  body: Buffer;
}

/** A whole message: header (seq and pid zero: the socket fills them in) + body. */
export function encodeMessage(type: number, flags: number, body: Buffer): Buffer {
  const hdr = Buffer.alloc(NLMSG_HDRLEN);
  hdr.writeUInt32LE(NLMSG_HDRLEN + body.length, 0);
  hdr.writeUInt16LE(type, 4);
  hdr.writeUInt16LE(flags, 6);
  return Buffer.concat([hdr, body]);
}

export function decodeHeader(msg: Buffer): NetlinkMessage {
  if (msg.length < NLMSG_HDRLEN) throw new Error(`netlink: message of ${msg.length} bytes is shorter than its header`);
  const len = msg.readUInt32LE(0);
  if (len < NLMSG_HDRLEN || len > msg.length) throw new Error(`netlink: nlmsg_len ${len} outside the ${msg.length}-byte message`);
  return { type: msg.readUInt16LE(4), flags: msg.readUInt16LE(6), seq: msg.readUInt32LE(8), pid: msg.readUInt32LE(12), body: msg.subarray(NLMSG_HDRLEN, len) };
}

/** Split a buffer of back-to-back (aligned) messages into one Buffer per message. */
export function splitMessages(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) throw new Error(`netlink: nlmsg_len ${len} at offset ${off} overruns the ${buf.length}-byte reply`);
    out.push(buf.subarray(off, off + len));
    off += align4(len);
  }
  return out;
}

// ---- attributes -----------------------------------------------------------------------------

export function attr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const out = Buffer.alloc(align4(len));
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, 4);
  return out;
}

export const attrU8 = (type: number, v: number) => attr(type, Buffer.from([v]));
export function attrU16(type: number, v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return attr(type, b);
}
export function attrU32(type: number, v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return attr(type, b);
}
export function attrU32BE(type: number, v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return attr(type | NLA_F_NET_BYTEORDER, b);
}
export function attrU64BE(type: number, v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(v);
  return attr(type | NLA_F_NET_BYTEORDER, b);
}
/** A NUL-terminated string (what the kernel expects for names). */
export const attrString = (type: number, s: string) => attr(type, Buffer.from(`${s}\0`, 'utf8'));
export const attrNested = (type: number, children: Buffer[]) => attr(type | NLA_F_NESTED, Buffer.concat(children));

/** Attributes by type (flags stripped); a repeated type keeps the last (use attrList for lists). */
export function parseAttrs(buf: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (const [type, payload] of attrList(buf)) out.set(type, payload);
  return out;
}

/** Attributes in order, as [type (flags stripped), payload]. */
export function attrList(buf: Buffer): [number, Buffer][] {
  const out: [number, Buffer][] = [];
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > buf.length) throw new Error(`netlink: attribute length ${len} at offset ${off} overruns ${buf.length} bytes`);
    out.push([buf.readUInt16LE(off + 2) & NLA_TYPE_MASK, buf.subarray(off + 4, off + len)]);
    off += align4(len);
  }
  return out;
}

export const readString = (b: Buffer) => {
  const nul = b.indexOf(0);
  return b.toString('utf8', 0, nul < 0 ? b.length : nul);
};

// ---- errors ---------------------------------------------------------------------------------

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

/** A request the kernel refused: `code` is the errno's name (EEXIST, ENODEV …), as Node's own errors. */
export class NetlinkError extends Error {
  constructor(readonly what: string, readonly errno: number, readonly kernelMessage?: string) {
    super(`${what}: ${errnoName(errno)}${kernelMessage ? ` (${kernelMessage})` : ''}`);
    this.name = 'NetlinkError';
  }

  get code(): string {
    return errnoName(this.errno);
  }
}

const NLMSGERR_ATTR_MSG = 1;
const NLM_F_CAPPED = 0x100;
const NLM_F_ACK_TLVS = 0x200;

/**
 * Decode an NLMSG_ERROR body: error 0 is an ACK. With extended acks the kernel appends its own
 * explanation after the echoed request (only the request's header when NLM_F_CAPPED is set).
 */
export function decodeError(msg: NetlinkMessage): { errno: number; kernelMessage?: string } {
  const errno = -msg.body.readInt32LE(0) || 0; // not -0
  if (errno === 0 || !(msg.flags & NLM_F_ACK_TLVS)) return { errno };
  const echoedLen = msg.flags & NLM_F_CAPPED ? NLMSG_HDRLEN : msg.body.readUInt32LE(4);
  const tlvs = msg.body.subarray(4 + align4(echoedLen));
  const text = parseAttrs(tlvs).get(NLMSGERR_ATTR_MSG);
  return { errno, kernelMessage: text && readString(text) };
}

// ---- attribute tables -----------------------------------------------------------------------

/** How one attribute's payload is written and read. */
export interface AttrCodec<T> {
  enc(v: T): Buffer;
  dec(b: Buffer): T;
}

const u32le = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};

export const codec = {
  u8: { enc: (v: number) => Buffer.from([v]), dec: (b: Buffer) => b.readUInt8(0) } satisfies AttrCodec<number>,
  u32: { enc: u32le, dec: (b: Buffer) => b.readUInt32LE(0) } satisfies AttrCodec<number>,
  string: { enc: (s: string) => Buffer.from(`${s}\0`, 'utf8'), dec: readString } satisfies AttrCodec<string>,
  /** "aa:bb:cc:dd:ee:ff" */
  mac: {
    enc: (s: string) => {
      const b = Buffer.from(s.split(':').map((x) => parseInt(x, 16)));
      if (b.length !== 6 || !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(s)) throw new Error(`netlink: ${JSON.stringify(s)} is not a MAC address`);
      return b;
    },
    dec: (b: Buffer) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':'),
  } satisfies AttrCodec<string>,
  /** An IPv4 or IPv6 address in its usual text form. */
  ip: {
    enc: encodeIp,
    dec: decodeIp,
  } satisfies AttrCodec<string>,
};

export function encodeIp(s: string): Buffer {
  if (isIPv4(s)) return Buffer.from(s.split('.').map(Number));
  const halves = s.split('::');
  if (isIPv6(s) && !s.includes('.') && halves.length <= 2) {
    const words = (x: string | undefined) => (x ? x.split(':').map((w) => parseInt(w, 16)) : []);
    const h = words(halves[0]);
    const t = words(halves[1]);
    const all = halves.length === 1 ? h : [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t];
    const b = Buffer.alloc(16);
    all.forEach((w, i) => b.writeUInt16BE(w, i * 2));
    return b;
  }
  throw new Error(`netlink: ${JSON.stringify(s)} is not an IP address`);
}

export function decodeIp(b: Buffer): string {
  if (b.length === 4) return [...b].join('.');
  if (b.length !== 16) throw new Error(`netlink: a ${b.length}-byte address is neither IPv4 nor IPv6`);
  const words = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2));
  // RFC 5952: the longest run of two or more zero words becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(':');
  return best < 0 ? hex(words) : `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLen))}`;
}

/** An attribute table: field name → [attribute type, codec]. */
export type AttrTable = Record<string, readonly [number, { enc(v: never): Buffer; dec(b: Buffer): unknown }]>;
type FieldOf<C> = C extends { dec(b: Buffer): infer T } ? T : never;
export type AttrValues<T extends AttrTable> = { [K in keyof T]?: FieldOf<T[K][1]> };

/** Encode the fields that are set, in the table's order. */
export function encodeAttrs<T extends AttrTable>(table: T, values: AttrValues<T>): Buffer[] {
  const out: Buffer[] = [];
  for (const [field, [type, c]] of Object.entries(table)) {
    const v = values[field];
    if (v !== undefined) out.push(attr(type, (c as AttrCodec<unknown>).enc(v)));
  }
  return out;
}

/** Decode the attributes the table knows; others are ignored. */
export function decodeAttrs<T extends AttrTable>(table: T, buf: Buffer): AttrValues<T> {
  const byType = parseAttrs(buf);
  const out: Record<string, unknown> = {};
  for (const [field, [type, c]] of Object.entries(table)) {
    const payload = byType.get(type);
    if (payload) out[field] = (c as AttrCodec<unknown>).dec(payload);
  }
  return out as AttrValues<T>;
}
