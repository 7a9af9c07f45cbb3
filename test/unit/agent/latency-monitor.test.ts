// The latency monitor's UDP echo on loopback addresses: real sockets, two monitors measuring
// each other; a probe from an address that is no peer is not answered; stopping clears.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { LatencyMonitor, PROBE_BYTES } from '../../../src/agent/latency/monitor.js';
import type { NodeLatencyReport } from '../../../src/api/node-config.js';
import { NodeLatencyReportSchema } from '../../../src/api/node-config.js';
import { freeUdpPort } from '../../../src/lib/free-port.js';
import { sleep } from '../../../src/lib/process.js';

describe('agent: latency monitor (UDP echo between peers)', function () {
  this.timeout(20_000);

  it('measures a round trip to each peer, answers only peers, same size, and clears on stop', async () => {
    const port = await freeUdpPort();
    const reports: Record<string, NodeLatencyReport | undefined> = {};
    const box = (name: string, ip: string, peer: { name: string; underlayIP: string }) =>
      new LatencyMonitor({ peers: () => [peer], ownIP: ip, port, report: (r) => (reports[name] = r) });
    const a = box('a', '127.0.0.1', { name: 'b', underlayIP: '127.0.0.2' });
    const b = box('b', '127.0.0.2', { name: 'a', underlayIP: '127.0.0.1' });
    try {
      await a.start(1);
      await b.start(1);
      const deadline = Date.now() + 8000;
      while (!(a.rtts().length && b.rtts().length) && Date.now() < deadline) await sleep(100);
      assert.equal(a.rtts()[0]?.peer, 'b');
      assert.ok(a.rtts()[0]!.seconds > 0 && a.rtts()[0]!.seconds < 1, `rtt ${a.rtts()[0]?.seconds}`);
      assert.ok(b.rtts()[0]!.seconds > 0);
      await sleep(1100); // one more round: the report carries the measured RTT
      const r = NodeLatencyReportSchema.parse(reports.a);
      assert.equal(r.peerNodeLatencyStats[0]!.nodeName, 'b');
      assert.ok(r.peerNodeLatencyStats[0]!.targetIPLatencyStats[0]!.lastMeasuredRTTNanoseconds! > 0);

      // A stranger (127.0.0.3, same port and format) gets no answer.
      const stranger = dgram.createSocket('udp4');
      await new Promise<void>((res) => stranger.bind(port, '127.0.0.3', () => res()));
      let answered = false;
      stranger.on('message', () => (answered = true));
      const probe = Buffer.alloc(PROBE_BYTES);
      probe.writeUInt32BE(0x534e4c4d, 0);
      probe.writeUInt8(1, 4);
      const refusedBefore = a.counters.refused;
      stranger.send(probe, port, '127.0.0.1');
      await sleep(500);
      stranger.close();
      assert.equal(answered, false, 'no answer to a non-peer');
      assert.equal(a.counters.refused, refusedBefore + 1);
      assert.ok(a.counters.answered > 0, 'the peer\'s probes were answered');
    } finally {
      await a.stop();
      await b.stop();
    }
    assert.equal(reports.a, undefined, 'stopped: nothing reported');
    assert.deepEqual(a.rtts(), []);
  });
});
