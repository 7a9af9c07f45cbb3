// IPFIX (RFC 7011) message encoding: templates and data records, nothing project-specific.
//
//   message  = header (16 bytes: version 10, length, export time, sequence number,
//              observation domain id) + sets
//   set      = set id (2 = template set, >= 256 = data set of that template) + length + records
//   template = template id, field count, field specifiers (element id | 0x8000 when an
//              enterprise number follows, length or 65535 for variable length, [enterprise])
//   data     = the fields in template order; variable-length fields as a 1-byte length
//              (or 255 + 2-byte length for 255 bytes and more), then the bytes (RFC 7011 §7)
// The sequence number counts the data records sent before the message, per domain (§3.1).
// Records are written straight into one buffer per message, so encoding costs no allocation
// per field.

export type IEType = 'unsigned8' | 'unsigned16' | 'unsigned32' | 'unsigned64' | 'dateTimeSeconds' | 'ipv4Address' | 'ipv6Address' | 'string';

export interface InformationElement {
  name: string;
  enterpriseId: number;
  elementId: number;
  type: IEType;
}

export const VARIABLE_LENGTH = 65535;
export const IPFIX_VERSION = 10;
export const TEMPLATE_SET_ID = 2;
const MESSAGE_HEADER = 16;
const SET_HEADER = 4;

const FIXED: Record<Exclude<IEType, 'string'>, number> = {
  unsigned8: 1, unsigned16: 2, unsigned32: 4, unsigned64: 8, dateTimeSeconds: 4, ipv4Address: 4, ipv6Address: 16,
};
export const lengthOf = (t: IEType) => (t === 'string' ? VARIABLE_LENGTH : FIXED[t]);

export interface Template {
  id: number;
  elements: readonly InformationElement[];
}

export interface MessageHeader {
  exportTimeSeconds: number;
  sequence: number;
  domainId: number;
}

export function writeHeader(buf: Buffer, length: number, h: MessageHeader): void {
  buf.writeUInt16BE(IPFIX_VERSION, 0);
  buf.writeUInt16BE(length, 2);
  buf.writeUInt32BE(h.exportTimeSeconds >>> 0, 4);
  buf.writeUInt32BE(h.sequence >>> 0, 8);
  buf.writeUInt32BE(h.domainId >>> 0, 12);
}

/** A template set holding the given templates (a whole message with encodeTemplateMessage). */
export function templateSet(templates: readonly Template[]): Buffer {
  let len = SET_HEADER;
  for (const t of templates) len += 4 + t.elements.reduce((n, e) => n + (e.enterpriseId ? 8 : 4), 0);
  const b = Buffer.alloc(len);
  b.writeUInt16BE(TEMPLATE_SET_ID, 0);
  b.writeUInt16BE(len, 2);
  let o = SET_HEADER;
  for (const t of templates) {
    if (t.id < 256 || t.id > 65535) throw new RangeError(`IPFIX template id must be 256..65535, got ${t.id}`);
    o = b.writeUInt16BE(t.id, o);
    o = b.writeUInt16BE(t.elements.length, o);
    for (const e of t.elements) {
      o = b.writeUInt16BE((e.enterpriseId ? 0x8000 : 0) | e.elementId, o);
      o = b.writeUInt16BE(lengthOf(e.type), o);
      if (e.enterpriseId) o = b.writeUInt32BE(e.enterpriseId, o);
    }
  }
  return b;
}

export function templateMessage(templates: readonly Template[], h: MessageHeader): Buffer {
  const set = templateSet(templates);
  const msg = Buffer.alloc(MESSAGE_HEADER + set.length);
  writeHeader(msg, msg.length, h);
  set.copy(msg, MESSAGE_HEADER);
  return msg;
}

function ipv4(buf: Buffer, o: number, v: unknown): number {
  // Dotted quad by char codes: no split/array per address.
  let part = 0;
  let n = 0;
  if (typeof v === 'string') {
    for (let i = 0; i < v.length && part < 4; i++) {
      const c = v.charCodeAt(i);
      if (c === 46 /* . */) {
        buf[o + part++] = n & 0xff;
        n = 0;
      } else n = n * 10 + (c - 48);
    }
  }
  if (part < 4) buf[o + part++] = n & 0xff;
  while (part < 4) buf[o + part++] = 0;
  return o + 4;
}

function ipv6(buf: Buffer, o: number, v: unknown): number {
  buf.fill(0, o, o + 16);
  if (typeof v !== 'string' || !v) return o + 16;
  const [head, tail] = v.includes('::') ? v.split('::') : [v, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  for (let i = 0; i < 8; i++) buf.writeUInt16BE(parseInt(groups[i] ?? '0', 16) & 0xffff, o + i * 2);
  return o + 16;
}

/** Writes one field; returns the offset after it, or -1 when it does not fit. */
function writeField(buf: Buffer, o: number, e: InformationElement, v: unknown): number {
  switch (e.type) {
    case 'unsigned8': if (o + 1 > buf.length) return -1; buf[o] = Number(v ?? 0) & 0xff; return o + 1;
    case 'unsigned16': if (o + 2 > buf.length) return -1; return buf.writeUInt16BE(Number(v ?? 0) & 0xffff, o);
    case 'unsigned32':
    case 'dateTimeSeconds': if (o + 4 > buf.length) return -1; return buf.writeUInt32BE(Number(v ?? 0) >>> 0, o);
    case 'unsigned64': {
      if (o + 8 > buf.length) return -1;
      const n = Number(v ?? 0);
      buf.writeUInt32BE(Math.floor(n / 0x1_0000_0000) >>> 0, o);
      buf.writeUInt32BE(n >>> 0, o + 4);
      return o + 8;
    }
    case 'ipv4Address': if (o + 4 > buf.length) return -1; return ipv4(buf, o, v);
    case 'ipv6Address': if (o + 16 > buf.length) return -1; return ipv6(buf, o, v);
    case 'string': {
      const str = typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v);
      // Up to 84 UTF-16 units are at most 252 UTF-8 bytes: write first, fill in the 1-byte length.
      if (str.length < 85) {
        if (o + 1 + str.length * 3 > buf.length && o + 1 + Buffer.byteLength(str) > buf.length) return -1;
        const n = str.length ? buf.write(str, o + 1) : 0;
        buf[o] = n;
        return o + 1 + n;
      }
      const n = Buffer.byteLength(str);
      const head = n < 255 ? 1 : 3;
      if (o + head + n > buf.length) return -1;
      if (n < 255) buf[o++] = n;
      else {
        buf[o++] = 255;
        o = buf.writeUInt16BE(n, o);
      }
      return o + buf.write(str, o);
    }
  }
}

/**
 * Data records of one template packed into messages of at most `maxBytes` each (UDP: below the
 * path MTU; TCP: up to 65535). `header(count)` gives each message's header fields, so the caller
 * keeps the sequence number.
 */
export function dataMessages(
  template: Template,
  records: readonly Record<string, unknown>[],
  maxBytes: number,
  header: (recordsInMessage: number) => MessageHeader,
): Buffer[] {
  const out: Buffer[] = [];
  const buf = Buffer.allocUnsafe(Math.min(maxBytes, 65535));
  const start = MESSAGE_HEADER + SET_HEADER;
  let o = start;
  let count = 0;
  const flush = () => {
    if (!count) return;
    buf.writeUInt16BE(template.id, MESSAGE_HEADER);
    buf.writeUInt16BE(o - MESSAGE_HEADER, MESSAGE_HEADER + 2);
    writeHeader(buf, o, header(count));
    out.push(Buffer.from(buf.subarray(0, o)));
    o = start;
    count = 0;
  };
  for (const r of records) {
    let p = o;
    for (const e of template.elements) {
      p = writeField(buf, p, e, r[e.name]);
      if (p < 0) break;
    }
    if (p < 0) {
      if (!count) throw new RangeError(`one IPFIX record does not fit in ${maxBytes} bytes`);
      flush();
      let q = o;
      for (const e of template.elements) q = writeField(buf, q, e, r[e.name]);
      if (q < 0) throw new RangeError(`one IPFIX record does not fit in ${maxBytes} bytes`);
      o = q;
    } else o = p;
    count++;
  }
  flush();
  return out;
}
