// DNS answers as a resolver gets them: built byte by byte here (header, question, compressed
// names, A/AAAA/CNAME records), then read back; hostile messages (pointer loops, cut records)
// must throw a DnsParseError, never read past the buffer.
import assert from 'node:assert/strict';
import { DNS_TYPE, DnsParseError, parseDnsMessage, resolvedAddresses } from '../../../src/lib/dns-message.js';

const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const u32 = (n: number) => Buffer.from([(n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
const name = (n: string) => Buffer.concat([...n.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])), Buffer.from([0])]);
const ptr = (offset: number) => Buffer.from([0xc0 | (offset >> 8), offset & 0xff]);

interface Rr { owner: Buffer; type: number; ttl: number; data: Buffer }
function message(opts: { qname: string; qtype?: number; answers?: Rr[]; flags?: number }): Buffer {
  const answers = opts.answers ?? [];
  return Buffer.concat([
    u16(0x1234), u16(opts.flags ?? 0x8180), u16(1), u16(answers.length), u16(0), u16(0),
    name(opts.qname), u16(opts.qtype ?? DNS_TYPE.A), u16(1),
    ...answers.flatMap((a) => [a.owner, u16(a.type), u16(1), u32(a.ttl), u16(a.data.length), a.data]),
  ]);
}
const QNAME_AT = 12; // the question's name starts right after the header
const a = (ip: string) => Buffer.from(ip.split('.').map(Number));

describe('DNS messages', () => {
  it('reads an A answer whose owner is a pointer to the question (as every server compresses it)', () => {
    const m = parseDnsMessage(message({ qname: 'Allowed.Seine.TEST', answers: [{ owner: ptr(QNAME_AT), type: DNS_TYPE.A, ttl: 4, data: a('172.31.254.11') }] }));
    assert.equal(m.response, true);
    assert.equal(m.rcode, 0);
    assert.deepEqual(m.questions, [{ name: 'allowed.seine.test', type: DNS_TYPE.A }], 'names are lower-cased, without the root dot');
    assert.deepEqual(m.answers, [{ name: 'allowed.seine.test', type: DNS_TYPE.A, ttl: 4, data: '172.31.254.11' }]);
    assert.deepEqual(resolvedAddresses(m), { names: ['allowed.seine.test'], addresses: [{ address: '172.31.254.11', ttl: 4 }] });
  });

  it('follows a CNAME chain listed out of order; every name of the chain gets the addresses, with the smallest TTL on the way', () => {
    // www.shop.example → cdn.example.net → edge.example.net → two A records (and an AAAA).
    const msg = message({
      qname: 'www.shop.example',
      answers: [
        { owner: name('edge.example.net'), type: DNS_TYPE.A, ttl: 300, data: a('198.51.100.7') },
        { owner: name('cdn.example.net'), type: DNS_TYPE.CNAME, ttl: 60, data: name('edge.example.net') },
        { owner: ptr(QNAME_AT), type: DNS_TYPE.CNAME, ttl: 3600, data: name('cdn.example.net') },
        { owner: name('edge.example.net'), type: DNS_TYPE.A, ttl: 20, data: a('198.51.100.8') },
        { owner: name('edge.example.net'), type: DNS_TYPE.AAAA, ttl: 300, data: Buffer.from('20010db8000000000000000000000001', 'hex') },
        // A record for a name outside the chain: must not be attributed to the question.
        { owner: name('evil.example.org'), type: DNS_TYPE.A, ttl: 300, data: a('203.0.113.66') },
      ],
    });
    const r = resolvedAddresses(parseDnsMessage(msg));
    assert.deepEqual(r.names, ['www.shop.example', 'cdn.example.net', 'edge.example.net']);
    assert.deepEqual(r.addresses, [{ address: '198.51.100.7', ttl: 60 }, { address: '198.51.100.8', ttl: 20 }, { address: '2001:db8::1', ttl: 60 }]);
  });

  it('learns nothing from an error answer (NXDOMAIN) or a query', () => {
    assert.deepEqual(resolvedAddresses(parseDnsMessage(message({ qname: 'gone.example', flags: 0x8183 }))).addresses, []);
    assert.deepEqual(resolvedAddresses(parseDnsMessage(message({ qname: 'q.example', flags: 0x0100, answers: [{ owner: ptr(QNAME_AT), type: DNS_TYPE.A, ttl: 5, data: a('192.0.2.1') }] }))).addresses, [], 'QR=0: a query, not an answer');
  });

  it('treats a TTL with the top bit set as zero (RFC 2181)', () => {
    const m = parseDnsMessage(message({ qname: 'x.example', answers: [{ owner: ptr(QNAME_AT), type: DNS_TYPE.A, ttl: 0x80000001, data: a('192.0.2.1') }] }));
    assert.equal(m.answers[0]!.ttl, 0);
  });

  it('refuses hostile or cut messages with a DnsParseError', () => {
    const good = message({ qname: 'x.example', answers: [{ owner: ptr(QNAME_AT), type: DNS_TYPE.A, ttl: 5, data: a('192.0.2.1') }] });
    const loop = Buffer.concat([u16(1), u16(0x8180), u16(1), u16(0), u16(0), u16(0), ptr(12), u16(1), u16(1)]);
    const badA = message({ qname: 'x.example', answers: [{ owner: ptr(QNAME_AT), type: DNS_TYPE.A, ttl: 5, data: Buffer.from([1, 2, 3]) }] });
    const pointerOut = Buffer.concat([u16(1), u16(0x8180), u16(1), u16(0), u16(0), u16(0), ptr(0x3fff), u16(1), u16(1)]);
    for (const [what, buf] of [['cut in the record data', good.subarray(0, good.length - 2)], ['cut in the header', good.subarray(0, 7)], ['a pointer loop', loop], ['an A record of 3 bytes', badA], ['a pointer past the end', pointerOut]] as const) {
      assert.throws(() => parseDnsMessage(buf), DnsParseError, what);
    }
  });
});
