// The agent's read side of OpenFlow on a private OVS (userspace datapath), each against the
// process it replaced, measured in the same run:
//   packet-out → packet-in   a frame injected on the bridge's connection, through a flow with
//                            controller(userdata), back as NXT_PACKET_IN2 on that connection
//                            vs  the same frame injected by an `ovs-ofctl packet-out` process
//                            (packet-in still seen on the connection)
//   rule stats read          1k metric flows' counters decoded (BridgeStats.flows)
//                            vs  an `ovs-ofctl dump-flows` process of the same table (text unparsed)
import { once } from 'node:events';
import { bridgeMgmt, type OvsInstance } from '../../src/lab/ovs-instance.js';
import { OvsdbClient } from '../../src/agent/ovs/ovsdb.js';
import { VSwitch } from '../../src/agent/ovs/vswitch.js';
import { PacketInMonitor } from '../../src/agent/ovs/packet-in.js';
import { PacketOutSender } from '../../src/agent/ovs/packet-out.js';
import { BridgeStats } from '../../src/agent/ovs/flow-stats.js';
import { icmpEchoFrame } from '../../src/agent/ovs/frame.js';
import { run } from '../../src/lib/exec.js';
import { startPrivateOvs, stopPrivateOvs } from '../helpers/private-ovs.js';
import { percentile, timeMs, type Bench, type BenchRow } from './harness.js';

const ROUNDS = 50;
const METRIC_FLOWS = 1000;

export const bench: Bench = {
  name: 'openflow-events',
  async run(): Promise<BenchRow[]> {
    let inst: OvsInstance | undefined;
    let monitor: PacketInMonitor | undefined;
    let outs: PacketOutSender | undefined;
    let stats: BridgeStats | undefined;
    try {
      inst = await startPrivateOvs('ofeb');
      const client = await OvsdbClient.connect({ remote: inst.dbRemote });
      const vs = new VSwitch(client);
      await vs.ensureBridge('br-int', { datapathType: 'netdev', failMode: 'secure', protocols: ['OpenFlow15'] });
      await vs.ensurePort('br-int', 'pod-a', { type: 'internal', ofportRequest: 1 });
      await vs.waitOfport('pod-a');
      await client.close();
      const mgmt = bridgeMgmt(inst, 'br-int');
      const ofctl = (...args: string[]) => run('ovs-ofctl', ['-O', 'OpenFlow15', ...args], { env: inst!.env });
      const metric = Array.from({ length: METRIC_FLOWS }, (_, i) => `table=27,priority=200,cookie=0x2000000000042,reg3=${i + 1},ip,actions=drop`);
      await run('ovs-ofctl', ['-O', 'OpenFlow15', 'add-flows', mgmt, '-'], { env: inst.env, input: ['table=0,priority=100,icmp,in_port=1,actions=controller(userdata=0a.0b)', ...metric].join('\n') });
      monitor = new PacketInMonitor({ mgmt });
      await monitor.start();
      outs = new PacketOutSender(mgmt);
      stats = new BridgeStats(mgmt);
      const hex = icmpEchoFrame({ srcMac: '02:00:00:00:00:02', dstMac: '02:00:00:00:00:03', srcIp: '10.10.0.2', dstIp: '10.10.0.3' }).toString('hex');
      const viaConn: number[] = [];
      const viaOfctl: number[] = [];
      for (let i = 0; i < ROUNDS + 5; i++) {
        const [a] = await timeMs(async () => {
          const got = once(monitor!, 'packetIn');
          await outs!.send({ inPort: 1, packetHex: hex, actions: ['resubmit(,0)'] });
          await got;
        });
        const [b] = await timeMs(async () => {
          const got = once(monitor!, 'packetIn');
          await ofctl('packet-out', mgmt, `in_port=1 packet=${hex} actions=resubmit(,0)`);
          await got;
        });
        if (i >= 5) (viaConn.push(a), viaOfctl.push(b)); // the first rounds warm up
      }
      const readConn: number[] = [];
      const readOfctl: number[] = [];
      for (let i = 0; i < 15; i++) {
        const [a, flows] = await timeMs(() => stats!.flows({ tableId: 27 }));
        if (flows.length !== METRIC_FLOWS) throw new Error(`read ${flows.length} metric flows`);
        const [b] = await timeMs(() => ofctl('dump-flows', mgmt, 'table=27'));
        if (i >= 3) (readConn.push(a), readOfctl.push(b));
      }
      const label = 'the same by an ovs-ofctl process';
      return [
        { metric: 'packet-out → packet-in round trip p50', unit: 'ms', seine: percentile(viaConn, 50), anchor: percentile(viaOfctl, 50), anchorLabel: `${label} (packet-out)`, better: 'lower' },
        { metric: 'packet-out → packet-in round trip p99', unit: 'ms', seine: percentile(viaConn, 99), anchor: percentile(viaOfctl, 99), anchorLabel: `${label} (packet-out)`, better: 'lower' },
        { metric: `flow stats of ${METRIC_FLOWS} metric flows, decoded, p50`, unit: 'ms', seine: percentile(readConn, 50), anchor: percentile(readOfctl, 50), anchorLabel: `${label} (dump-flows, text unparsed)`, better: 'lower' },
      ];
    } finally {
      await monitor?.stop();
      await outs?.close();
      await stats?.close();
      if (inst) await stopPrivateOvs(inst);
    }
  },
};
