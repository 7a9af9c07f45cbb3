// 10k real connections in a private OVS's userspace conntrack for the flows bench: UDP
// datagrams from 10k source ports sent by the kernel out of br-int's internal port, committed
// in zone 65520 and counted by the FlowAccounting learner, as on a box.
import { OvsdbClient } from '../../src/agent/ovs/ovsdb.js';
import { VSwitch } from '../../src/agent/ovs/vswitch.js';
import { BridgeStats } from '../../src/agent/ovs/flow-stats.js';
import { Pipeline } from '../../src/agent/ovs/pipeline.js';
import { CookieAllocator } from '../../src/agent/ovs/cookie.js';
import { formatFlow, toOvsFlow } from '../../src/agent/ovs/flow.js';
import { accountingFlows, learnedCountersOf, learnedFilter, LearnedKind } from '../../src/agent/flows/accounting.js';
import { OvsConntrackSource } from '../../src/agent/flows/ovs-conntrack.js';
import { bridgeMgmt, type OvsInstance } from '../../src/lab/ovs-instance.js';
import { run } from '../../src/lib/exec.js';
import { sleep } from '../../src/lib/process.js';
import { withDeadline } from './harness.js';

/** One command or dump before the setup fails (sending 10k datagrams takes ~1–2 s quiet). */
const STEP_MS = 120_000;

export const CONNECTIONS = 10_000;

const SEND_PY = String.raw`
import socket, sys, time
n = int(sys.argv[1])
for p in range(20000, 20000 + n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('10.99.0.1', p))
    s.sendto(b'x' * 32, ('10.99.1.1', 9999))
    s.close()
    if p % 100 == 0: time.sleep(0.01)  # the userspace datapath drops bursts it cannot read in time
`;

/** The conntrack source as the agent builds it: counters read over the bridge's OpenFlow connection (close `stats` when done). */
export function sourceFor(inst: Pick<OvsInstance, 'dir' | 'vswitchdCtl' | 'env'>, table: number): { source: OvsConntrackSource; stats: BridgeStats } {
  const stats = new BridgeStats(bridgeMgmt(inst, 'br-int'));
  const source = new OvsConntrackSource({
    vswitchdCtl: inst.vswitchdCtl, env: inst.env,
    counters: async () => learnedCountersOf(await stats.cursor({ tableId: table, cookie: learnedFilter(LearnedKind.Connection) })),
  });
  return { source, stats };
}

/** Sends the 10k datagrams again: refreshes the entries' timeouts (userspace UDP entries expire after ~30 s) before a measurement. */
export async function refreshConntrack(netns: string): Promise<void> {
  await run('ip', ['netns', 'exec', netns, 'python3', '-c', SEND_PY, String(CONNECTIONS)], { timeoutMs: STEP_MS });
}

export async function setUpConntrack(inst: OvsInstance, netns: string): Promise<{ source: OvsConntrackSource; stats: BridgeStats; table: number }> {
  const client = await OvsdbClient.connect({ remote: inst.dbRemote });
  try {
    const vs = new VSwitch(client);
    await vs.ensureBridge('br-int', { datapathType: 'netdev', failMode: 'secure', protocols: ['OpenFlow15'] });
    await withDeadline(vs.waitOfport('br-int'), STEP_MS, 'br-int getting its ofport');
  } finally {
    await client.close();
  }
  const ns = (cmd: string, ...args: string[]) => run('ip', ['netns', 'exec', netns, cmd, ...args], { timeoutMs: STEP_MS });
  await ns('ip', 'addr', 'add', '10.99.0.1/16', 'dev', 'br-int');
  await ns('ip', 'link', 'set', 'br-int', 'up');
  await ns('ethtool', '-K', 'br-int', 'tx', 'off'); // userspace conntrack drops partial checksums
  await ns('ip', 'neigh', 'replace', '10.99.1.1', 'lladdr', '02:00:00:00:00:01', 'dev', 'br-int');
  const pipeline = Pipeline.build();
  const table = pipeline.id('FlowAccounting');
  const output = pipeline.id('Output');
  const cookies = new CookieAllocator(1);
  const flows = [
    `table=0,priority=10,udp,in_port=LOCAL actions=ct(commit,zone=65520,table=${output})`,
    'table=0,priority=0 actions=drop',
    `table=${output},priority=1 actions=resubmit(,${table})`,
    `table=${table},priority=0 actions=drop`,
    ...accountingFlows(pipeline, cookies).map((f) => formatFlow(toOvsFlow(f, pipeline))),
  ];
  await run('ovs-ofctl', ['-O', 'OpenFlow15', 'add-flows', bridgeMgmt(inst, 'br-int'), '-'], { env: inst.env, input: flows.join('\n') + '\n', timeoutMs: STEP_MS });
  const { source, stats } = sourceFor(inst, table);
  for (let attempt = 0; attempt < 5; attempt++) {
    await ns('python3', '-c', SEND_PY, String(CONNECTIONS)); // again: what got lost comes in, the rest counts twice
    for (let i = 0; i < 10; i++) {
      const entries = await withDeadline(source.dump(65520), STEP_MS, 'a conntrack dump while waiting for the entries');
      if (entries.length >= CONNECTIONS && entries.every((e) => e.counters!.packets >= 1)) return { source, stats, table };
      await sleep(300);
    }
  }
  await stats.close();
  throw new Error('the 10k conntrack entries and their counters did not appear');
}
