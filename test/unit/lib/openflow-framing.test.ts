import assert from 'node:assert/strict';
import { encodeMessage, MessageReassembler, OFPT, typeName, nxBody, NXT } from '../../../src/lib/openflow/header.js';
import { decodeError, helloBody, negotiateVersion } from '../../../src/lib/openflow/messages.js';

describe('OpenFlow framing', () => {
  it('cuts a stream into messages whatever the chunk boundaries', () => {
    const msgs = [encodeMessage(OFPT.ECHO_REQUEST, 1, Buffer.from('abc')), encodeMessage(OFPT.BARRIER_REPLY, 2), encodeMessage(OFPT.MULTIPART_REPLY, 3, Buffer.alloc(3000, 7))];
    const stream = Buffer.concat(msgs);
    for (const size of [1, 5, 8, 13, 1000, stream.length]) {
      const r = new MessageReassembler();
      const got = [];
      for (let i = 0; i < stream.length; i += size) got.push(...r.push(stream.subarray(i, i + size)));
      assert.deepEqual(got.map((m) => [m.type, m.xid, m.length]), [[2, 1, 11], [21, 2, 8], [19, 3, 3008]], `chunks of ${size}`);
      assert.equal(got[0]!.body.toString(), 'abc');
    }
  });

  it('refuses a length shorter than the header and a message over 64 KiB', () => {
    assert.throws(() => new MessageReassembler().push(Buffer.from([6, 0, 0, 4, 0, 0, 0, 1])), /length 4 < 8/);
    assert.throws(() => encodeMessage(OFPT.PACKET_OUT, 1, Buffer.alloc(70_000)), /exceeds the 65535-byte limit/);
  });

  it('names message types, Nicira subtypes included', () => {
    assert.equal(typeName(OFPT.FLOW_MOD), 'OFPT_FLOW_MOD');
    assert.equal(typeName(OFPT.EXPERIMENTER, nxBody(NXT.PACKET_IN2)), 'NXT_PACKET_IN2');
  });

  it('negotiates 1.5 from a version bitmap, and nothing from a switch that stops at 1.3', () => {
    assert.equal(negotiateVersion(6, helloBody([1, 4, 6])), 6);
    assert.equal(negotiateVersion(4, helloBody([1, 4])), undefined);
    assert.equal(negotiateVersion(6, Buffer.alloc(0)), 6, 'no bitmap: the header version rules');
  });

  it('decodes OFPT_ERROR into names and the failed message type', () => {
    const failed = encodeMessage(OFPT.FLOW_MOD, 9, Buffer.alloc(48));
    const body = Buffer.concat([Buffer.from([0, 4, 0, 9]), failed]);
    const e = decodeError(body);
    assert.equal(e.name, 'OFPET_BAD_MATCH/OFPBMC_BAD_PREREQ');
    assert.equal(e.failedType, 'OFPT_FLOW_MOD');
    const nx = decodeError(Buffer.concat([Buffer.from([0xff, 0xff, 0, 15, 0, 0, 0x23, 0x20]), failed]));
    assert.equal(nx.name, 'NXBAC_BAD_CONJUNCTION');
  });
});
