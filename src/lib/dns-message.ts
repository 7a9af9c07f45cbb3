// DNS messages (RFC 1035) read from the wire: the header, the questions and the answer
// section's A, AAAA and CNAME records — what a box needs to learn names → addresses from the
// replies its pods get. Compressed names (RFC 1035 4.1.4) are followed with a hop limit, so a
// message pointing into itself cannot loop. Everything is bounds-checked: a truncated or
// hostile message throws a DnsParseError, never reads past the buffer. Names come out
// lower-cased without the trailing dot (DNS names compare case-insensitively).

import { formatIpv6 } from './openflow/oxm.js';

export const DNS_TYPE = { A: 1, CNAME: 5, AAAA: 28 } as const;

export class DnsParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DnsParseError';
  }
}

export interface DnsQuestion {
  name: string;
  type: number;
}

export interface DnsRecord {
  name: string;
  type: number;
  /** Seconds. */
  ttl: number;
  /** A/AAAA: the address as text; CNAME: the target name; other types: undefined. */
  data?: string;
}

export interface DnsMessage {
  id: number;
  /** The QR bit: a response. */
  response: boolean;
  /** RCODE: 0 NOERROR, 3 NXDOMAIN … */
  rcode: number;
  /** TC: the answer did not fit (over UDP, the client retries over TCP). */
  truncated: boolean;
  questions: DnsQuestion[];
  answers: DnsRecord[];
}

const MAX_POINTER_HOPS = 32;

class Reader {
  constructor(private readonly buf: Buffer, public pos = 0) {}

  need(n: number, what: string): void {
    if (this.pos + n > this.buf.length) throw new DnsParseError(`message ends inside ${what} (offset ${this.pos}, ${this.buf.length} bytes)`);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** A possibly compressed name at the current position; the position moves past its in-place part. */
  name(): string {
    const labels: string[] = [];
    let pos = this.pos;
    let jumped = false;
    let length = 0;
    for (let hops = 0; ; ) {
      if (pos >= this.buf.length) throw new DnsParseError(`name runs past the message (offset ${pos})`);
      const len = this.buf[pos]!;
      if (len === 0) {
        if (!jumped) this.pos = pos + 1;
        break;
      }
      if ((len & 0xc0) === 0xc0) {
        if (pos + 1 >= this.buf.length) throw new DnsParseError(`compression pointer cut at offset ${pos}`);
        if (++hops > MAX_POINTER_HOPS) throw new DnsParseError('too many compression pointers (a loop?)');
        if (!jumped) this.pos = pos + 2;
        jumped = true;
        pos = ((len & 0x3f) << 8) | this.buf[pos + 1]!;
        continue;
      }
      if (len & 0xc0) throw new DnsParseError(`unknown label type 0x${len.toString(16)} at offset ${pos}`);
      if (pos + 1 + len > this.buf.length) throw new DnsParseError(`label runs past the message (offset ${pos})`);
      length += len + 1;
      if (length > 255) throw new DnsParseError('name longer than 255 octets');
      labels.push(this.buf.toString('latin1', pos + 1, pos + 1 + len).toLowerCase());
      pos += 1 + len;
    }
    return labels.join('.');
  }

  bytes(n: number, what: string): Buffer {
    this.need(n, what);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}

/** Parses a whole DNS message (the UDP payload, or a TCP message without its length prefix). */
export function parseDnsMessage(buf: Buffer): DnsMessage {
  const r = new Reader(buf);
  const id = r.u16('the header');
  const flags = r.u16('the header');
  const qd = r.u16('the header');
  const an = r.u16('the header');
  r.u16('the header');
  r.u16('the header');
  const questions: DnsQuestion[] = [];
  for (let i = 0; i < qd; i++) {
    const name = r.name();
    const type = r.u16('a question');
    r.u16('a question');
    questions.push({ name, type });
  }
  const answers: DnsRecord[] = [];
  for (let i = 0; i < an; i++) {
    const name = r.name();
    const type = r.u16('a record');
    r.u16('a record');
    const ttl = r.u32('a record');
    const rdlength = r.u16('a record');
    const end = r.pos + rdlength;
    r.need(rdlength, 'a record\'s data');
    let data: string | undefined;
    if (type === DNS_TYPE.A) {
      if (rdlength !== 4) throw new DnsParseError(`A record of ${rdlength} bytes`);
      data = [...r.bytes(4, 'an A record')].join('.');
    } else if (type === DNS_TYPE.AAAA) {
      if (rdlength !== 16) throw new DnsParseError(`AAAA record of ${rdlength} bytes`);
      data = formatIpv6(r.bytes(16, 'an AAAA record'));
    } else if (type === DNS_TYPE.CNAME) {
      data = r.name();
    }
    r.pos = end;
    // TTLs are unsigned 31-bit (RFC 2181 8): a value with the top bit set means zero.
    answers.push({ name, type, ttl: ttl > 0x7fffffff ? 0 : ttl, ...(data !== undefined ? { data } : {}) });
  }
  return { id, response: (flags & 0x8000) !== 0, rcode: flags & 0xf, truncated: (flags & 0x0200) !== 0, questions, answers };
}

export interface ResolvedAddress {
  address: string;
  /** The smallest TTL along the chain that led to it (CNAMEs and the address record). */
  ttl: number;
}

/**
 * What an answer says the question's name resolves to: the names of its CNAME chain (the
 * question's name first) and the addresses at the end of it. Records about names outside the
 * chain are ignored, so an answer cannot attach addresses to a name it was not asked about.
 */
export function resolvedAddresses(msg: DnsMessage): { names: string[]; addresses: ResolvedAddress[] } {
  const q = msg.questions[0];
  if (!q || !msg.response || msg.rcode !== 0) return { names: q ? [q.name] : [], addresses: [] };
  const names = [q.name];
  const chainTtl = new Map<string, number>([[q.name, Infinity]]);
  // Follow CNAMEs in as many passes as the chain is long (answers may list them in any order).
  for (let grew = true; grew; ) {
    grew = false;
    for (const rr of msg.answers) {
      if (rr.type !== DNS_TYPE.CNAME || !rr.data || !chainTtl.has(rr.name) || chainTtl.has(rr.data)) continue;
      chainTtl.set(rr.data, Math.min(chainTtl.get(rr.name)!, rr.ttl));
      names.push(rr.data);
      grew = true;
    }
  }
  const byAddress = new Map<string, number>();
  for (const rr of msg.answers) {
    if ((rr.type !== DNS_TYPE.A && rr.type !== DNS_TYPE.AAAA) || !rr.data || !chainTtl.has(rr.name)) continue;
    const ttl = Math.min(chainTtl.get(rr.name)!, rr.ttl);
    byAddress.set(rr.data, Math.max(byAddress.get(rr.data) ?? 0, ttl));
  }
  return { names, addresses: [...byAddress].map(([address, ttl]) => ({ address, ttl })) };
}
