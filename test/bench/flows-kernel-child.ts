// The flows bench's kernel-conntrack process, started inside a scratch network namespace (as the
// agent runs in the box's): fills the namespace's kernel table with 10k TCP connections in zone
// 65520 (and 100 in zone 0) over ctnetlink, accounting and timestamps on, then measures
//   - the source's dump (ctnetlink request + decode into entries)  vs  a raw
//     `conntrack -L -o extended,id,ktimestamp -w 65520` process (what the source ran before)
//   - the decode alone on the same reply messages (µs per connection)
//   - one whole exporter poll, first (all recorded) and steady, with its store
// and prints them as one JSON line.
import { FlowExporter } from '../../src/agent/flows/exporter.js';
import { KernelConntrackSource, kernelEntries } from '../../src/agent/flows/kernel-conntrack.js';
import { FlowStore } from '../../src/agent/flows/store.js';
import { run } from '../../src/lib/exec.js';
import { encodeCreateRequest, encodeDumpRequest } from '../../src/lib/netlink/conntrack.js';
import { NETLINK_NETFILTER, openNetlink } from '../../src/lib/netlink/socket.js';

const [db, countArg] = process.argv.slice(2) as [string, string];
const CONNECTIONS = Number(countArg);
const ROUNDS = 7;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const source = new KernelConntrackSource();
await source.enableAccounting();
const sock = openNetlink(NETLINK_NETFILTER);
const ip = (base: number, i: number) => `10.${base}.${(i >> 8) & 0xff}.${i & 0xff}`;
for (let i = 0; i < CONNECTIONS + 100; i++) {
  const zone = i < CONNECTIONS ? 65520 : 0;
  sock.request(encodeCreateRequest({
    protocol: 6, orig: { src: ip(42, i), dst: ip(43, i % 50), sport: 30000 + (i % 30000), dport: 8080 }, reply: { src: ip(43, i % 50), dst: ip(42, i), sport: 8080, dport: 30000 + (i % 30000) },
    zone, mark: i % 7, labels: BigInt(i) << 32n | 1n, timeout: 3600, tcpState: 3, status: 0xe /* SEEN_REPLY, ASSURED, CONFIRMED (the kernel refuses a change of CONFIRMED: EBUSY) */,
  }));
}

// CPU time (user + system) beside wall time: on a loaded machine the wall time is mostly waiting.
const cpuMs = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;
const dumpMs: number[] = [];
const dumpCpuMs: number[] = [];
const rawMs: number[] = [];
const decodeMs: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  let t0 = performance.now();
  const c0 = process.cpuUsage();
  const entries = await source.dump(65520);
  dumpCpuMs.push(cpuMs(process.cpuUsage(c0)));
  dumpMs.push(performance.now() - t0);
  if (entries.length !== CONNECTIONS) throw new Error(`dump: ${entries.length} entries, expected ${CONNECTIONS}`);
  t0 = performance.now();
  const raw = await run('conntrack', ['-L', '-o', 'extended,id,ktimestamp', '-w', '65520']);
  rawMs.push(performance.now() - t0);
  const lines = raw.stdout.split('\n').filter((l) => l.startsWith('ipv4')).length;
  if (lines !== CONNECTIONS) throw new Error(`conntrack -L: ${lines} lines, expected ${CONNECTIONS}`);
  const msgs = sock.request(encodeDumpRequest({ zone: 65520 }));
  t0 = performance.now();
  const decoded = kernelEntries(msgs, 65520);
  decodeMs.push(performance.now() - t0);
  if (decoded.length !== CONNECTIONS) throw new Error(`decode: ${decoded.length}`);
}
sock.close();

const store = await FlowStore.open(db);
const exporter = new FlowExporter({
  source, zone: 65520,
  inventory: { snapshot: () => ({ nodes: new Map(), namespaces: new Map(), pods: new Map() }) },
  rule: () => undefined, sinks: [(b) => store.insert(b)],
});
let t0 = performance.now();
const first = await exporter.pollOnce();
const firstPollMs = performance.now() - t0;
const firstPhases = exporter.stats.lastPhasesMs;
if (first.length !== CONNECTIONS) throw new Error(`first poll recorded ${first.length}`);
const steady: number[] = [];
const steadyCpu: number[] = [];
let steadyPhases = exporter.stats.lastPhasesMs;
for (let r = 0; r < 3; r++) {
  t0 = performance.now();
  const c0 = process.cpuUsage();
  await exporter.pollOnce();
  steadyCpu.push(cpuMs(process.cpuUsage(c0)));
  steady.push(performance.now() - t0);
  steadyPhases = exporter.stats.lastPhasesMs;
}
await store.close();
source.close();
process.stdout.write(`${JSON.stringify({ dumpMs: median(dumpMs), dumpCpuMs: median(dumpCpuMs), rawMs: median(rawMs), decodeMs: median(decodeMs), firstPollMs, steadyPollMs: median(steady), steadyCpuMs: median(steadyCpu), firstPhases, steadyPhases })}\n`);
