// RFC 7011 encoding checked byte by byte on small templates (tshark/nfcapd check the full one
// in test/integration/ipfix-decoders.test.ts).
import assert from 'node:assert/strict';
import { dataMessages, templateMessage, templateSet, type Template } from '../../../src/lib/ipfix/encoder.js';
import { parseCollector } from '../../../src/lib/ipfix/transport.js';

const t: Template = {
  id: 256,
  elements: [
    { name: 'src', enterpriseId: 0, elementId: 8, type: 'ipv4Address' },
    { name: 'packets', enterpriseId: 29305, elementId: 86, type: 'unsigned64' },
    { name: 'pod', enterpriseId: 56506, elementId: 101, type: 'string' },
  ],
};

describe('ipfix encoder', () => {
  it('writes a template set: ids, counts, enterprise bit and numbers, variable length 65535', () => {
    assert.equal(templateSet([t]).toString('hex'), [
      '0002', '001c', // set id 2, length 28
      '0100', '0003', // template 256, 3 fields
      '0008', '0004', // sourceIPv4Address, 4
      '8056', '0008', '00007279', // reverse packetTotalCount, 8, PEN 29305
      '8065', 'ffff', '0000dcba', // Antrea 101, variable, PEN 56506
    ].join(''));
    const m = templateMessage([t], { exportTimeSeconds: 1_800_000_000, sequence: 7, domainId: 3 });
    assert.equal(m.subarray(0, 16).toString('hex'), ['000a', '002c', '6b49d200', '00000007', '00000003'].join(''));
  });

  it('encodes data records with short and long string lengths and 64-bit counters', () => {
    const long = 'p'.repeat(300);
    const [msg] = dataMessages(t, [{ src: '10.42.0.2', packets: 5_000_000_000, pod: 'web' }, { src: '10.42.0.3', packets: 1, pod: long }], 1400, () => ({ exportTimeSeconds: 1, sequence: 0, domainId: 0 }));
    const body = msg!.subarray(16);
    assert.equal(body.readUInt16BE(0), 256);
    assert.equal(body.readUInt16BE(2), body.length);
    assert.equal(body.subarray(4, 4 + 4 + 8 + 4).toString('hex'), '0a2a0002' + '000000012a05f200' + '03776562');
    const second = body.subarray(20);
    assert.equal(second.subarray(0, 4).toString('hex'), '0a2a0003');
    assert.equal(second[12], 255, 'long form marker');
    assert.equal(second.readUInt16BE(13), 300);
    assert.equal(second.subarray(15).toString(), long);
    assert.equal(msg!.readUInt16BE(2), msg!.length);
  });

  it('splits records over messages under the size bound and numbers them by records sent', () => {
    let seq = 0;
    const header = (n: number) => {
      const h = { exportTimeSeconds: 1, sequence: seq, domainId: 9 };
      seq += n;
      return h;
    };
    const recs = Array.from({ length: 100 }, (_, i) => ({ src: `10.0.0.${i}`, packets: i, pod: `pod-${i}` }));
    const msgs = dataMessages(t, recs, 200, header);
    assert.ok(msgs.length > 1);
    assert.ok(msgs.every((m) => m.length <= 200));
    const seqs = msgs.map((m) => m.readUInt32BE(8));
    assert.equal(seqs[0], 0);
    assert.equal(seq, 100);
    assert.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!));
    assert.throws(() => dataMessages(t, [{ src: '1.1.1.1', packets: 1, pod: 'x'.repeat(500) }], 200, header), /does not fit/);
  });

  it('parses collector addresses as Antrea does', () => {
    assert.deepEqual(parseCollector('10.0.0.5:4739:udp'), { host: '10.0.0.5', port: 4739, protocol: 'udp' });
    assert.deepEqual(parseCollector('collector.example'), { host: 'collector.example', port: 4739, protocol: 'tcp' });
    assert.deepEqual(parseCollector('[fd00::1]:9995:tcp'), { host: 'fd00::1', port: 9995, protocol: 'tcp' });
    assert.throws(() => parseCollector('a:b:c'), /expected/);
  });
});
