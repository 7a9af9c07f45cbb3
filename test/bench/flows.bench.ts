// Flow visibility at scale, each against a raw anchor measured in the same run:
//   ingest        FlowStore.insert (raw records + minute/hour rollups, one transaction per
//                 5k-record batch, node-sqlite3)  vs  raw better-sqlite3 prepared INSERT of the
//                 same rows, WAL, same synchronous setting, 5k-row transactions
//   IPFIX encode  records/s into 1400-byte UDP messages  vs  JSON.stringify of the same records
//   one poll      of 10k real userspace conntrack entries (a private OVS in its own netns, 10k UDP
//                 flows committed in zone 65520 and counted by the learned FlowAccounting flows):
//                 the source's dump (unixctl + OpenFlow flow stats + join) and a whole exporter poll
//                 (tracking, enrichment, validation, store)  vs  the two raw tool runs alone
//   agent RSS     a process holding the exporter with those 10k live connections tracked and
//                 stored  vs  the same process before it started the exporter
//   kernel poll   10k real kernel conntrack entries in a scratch netns: the kernel source's
//                 ctnetlink dump and whole exporter polls  vs  a raw `conntrack -L` process
//                 (flows-kernel.ts)
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { FlowStore, RECORD_COLUMNS } from '../../src/agent/flows/store.js';
import { FLOW_TEMPLATES, TEMPLATE_IPV4 } from '../../src/api/flow-ipfix.js';
import { dataMessages } from '../../src/lib/ipfix/encoder.js';
import { run } from '../../src/lib/exec.js';
import { unixctlCall } from '../../src/agent/ovs/unixctl.js';
import { startOvsInstance, stopOvsInstance, bridgeMgmt, type OvsInstance } from '../../src/lab/ovs-instance.js';
import { syntheticRecord } from '../helpers/flow-records.js';
import { timeMs, withDeadline, type Bench, type BenchRow } from './harness.js';
import { setUpConntrack, refreshConntrack, CONNECTIONS } from './flows-conntrack.js';
import { learnedCountersOf, learnedFilter, LearnedKind } from '../../src/agent/flows/accounting.js';
import { kernelPoll } from './flows-kernel.js';

const ROWS = 50_000;
const BATCH = 5_000;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/** Any one dump, tool run or poll before the row fails. */
const STEP_MS = 120_000;

async function ingest(tmp: string): Promise<BenchRow[]> {
  const batches = Array.from({ length: ROWS / BATCH }, (_, b) => Array.from({ length: BATCH }, (_, i) => syntheticRecord(b * BATCH + i, 1_800_000_000 + b * 60 + (i % 60))));
  const seine: number[] = [];
  const raw: number[] = [];
  for (let round = 0; round < 3; round++) {
    const file = path.join(tmp, `seine-${round}.db`);
    const store = await FlowStore.open(file);
    const [ms] = await timeMs(async () => {
      for (const b of batches) await store.insert(b);
    });
    await store.close();
    seine.push((ROWS / ms) * 1000);

    // The anchor: the same table (schema copied from the store's file), the same rows, better-sqlite3.
    const rawFile = path.join(tmp, `raw-${round}.db`);
    const db = new Database(rawFile);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    // The same table and indexes as the store's file (the rollups are work the anchor does not do).
    const src = new Database(file, { readonly: true });
    for (const { sql } of src.prepare("SELECT sql FROM sqlite_master WHERE tbl_name = 'flow_records' AND sql IS NOT NULL ORDER BY type DESC").all() as { sql: string }[]) db.exec(sql);
    src.close();
    const cols = ['connKey', ...RECORD_COLUMNS];
    const stmt = db.prepare(`INSERT INTO flow_records (${cols.join(', ')}) VALUES (${cols.map((c) => `@${c}`).join(', ')})`);
    const insertMany = db.transaction((rows: Record<string, unknown>[]) => {
      for (const r of rows) stmt.run(r);
    });
    const rows = batches.map((b) => b.map((s) => {
      const o: Record<string, unknown> = { connKey: s.connKey };
      for (const c of RECORD_COLUMNS) o[c] = (s.record as Record<string, unknown>)[c] ?? null;
      return o;
    }));
    const [rms] = await timeMs(async () => {
      for (const b of rows) insertMany(b);
    });
    db.close();
    raw.push((ROWS / rms) * 1000);
  }
  return [{
    metric: `flow store ingest (${ROWS / 1000}k records, ${BATCH / 1000}k/batch, with rollups)`, unit: 'rec/s', seine: median(seine), anchor: median(raw),
    anchorLabel: 'better-sqlite3 prepared INSERT, same rows, table and indexes, no rollups', better: 'higher', goal: '>= 0.5',
  }];
}

function encode(): BenchRow[] {
  const N = 100_000;
  const recs = Array.from({ length: N }, (_, i) => syntheticRecord(i, 1_800_000_000 + i).record as Record<string, unknown>);
  const tpl = FLOW_TEMPLATES.find((t) => t.id === TEMPLATE_IPV4)!;
  let seq = 0;
  const header = (n: number) => ({ exportTimeSeconds: 1, sequence: (seq += n), domainId: 0 });
  dataMessages(tpl, recs.slice(0, 5000), 1400, header); // warm up
  const seine: number[] = [];
  const anchor: number[] = [];
  for (let r = 0; r < 5; r++) {
    let t0 = performance.now();
    const msgs = dataMessages(tpl, recs, 1400, header);
    seine.push((N / (performance.now() - t0)) * 1000);
    if (!msgs.length) throw new Error('no messages');
    t0 = performance.now();
    let bytes = 0;
    for (const x of recs) bytes += JSON.stringify(x).length;
    anchor.push((N / (performance.now() - t0)) * 1000);
    if (!bytes) throw new Error('nothing serialised');
  }
  return [{ metric: 'IPFIX encode (IPv4 template, 1400-byte messages)', unit: 'rec/s', seine: median(seine), anchor: median(anchor), anchorLabel: 'JSON.stringify of the same records', better: 'higher', goal: '>= 200k rec/s' }];
}

async function poll(tmp: string): Promise<BenchRow[]> {
  const netns = `seine-flowb-${process.pid}`;
  let inst: OvsInstance | undefined;
  let ctx: Awaited<ReturnType<typeof setUpConntrack>> | undefined;
  await run('ip', ['netns', 'add', netns], { timeoutMs: 30_000 });
  try {
    inst = await withDeadline(startOvsInstance(path.join(tmp, 'ovs'), netns), STEP_MS, 'the private OVS starting');
    ctx = await withDeadline(setUpConntrack(inst, netns), 10 * 60_000, `${CONNECTIONS} conntrack entries and their counters appearing`);
    const dumpMs: number[] = [];
    const rawMs: number[] = [];
    const unixctlMs: number[] = [];
    const appctlMs: number[] = [];
    const countersMs: number[] = [];
    const ofctlMs: number[] = [];
    for (let r = 0; r < 5; r++) {
      // The learned counters alone: flow stats over the bridge's OpenFlow connection, decoded in
      // place, vs an ovs-ofctl dump-flows process of the same table (its text not even parsed).
      const cookie = learnedFilter(LearnedKind.Connection);
      const [c, counters] = await timeMs(async () => learnedCountersOf(await ctx!.stats.cursor({ tableId: ctx!.table, cookie })));
      if (counters.length < CONNECTIONS * 2 * 0.99) throw new Error(`expected ${2 * CONNECTIONS} learned counters, got ${counters.length}`);
      const [o] = await timeMs(() => run('ovs-ofctl', ['-O', 'OpenFlow15', 'dump-flows', bridgeMgmt(inst!, 'br-int'), `table=${ctx!.table},cookie=0x${cookie.value.toString(16)}/0x${cookie.mask.toString(16)}`], { env: inst!.env, timeoutMs: STEP_MS }));
      countersMs.push(c);
      ofctlMs.push(o);
      // The conntrack read alone: vswitchd's unixctl socket (what the source uses) vs an ovs-appctl process (what it used).
      const args = ['-m', '-s', 'zone=65520'];
      const [u, text] = await timeMs(() => withDeadline(unixctlCall(inst!.vswitchdCtl, 'dpctl/dump-conntrack', args), STEP_MS, 'dpctl/dump-conntrack over unixctl'));
      const [a, viaTool] = await timeMs(() => run('ovs-appctl', ['-t', inst!.vswitchdCtl, 'dpctl/dump-conntrack', ...args], { env: inst!.env, timeoutMs: STEP_MS }));
      if (Math.abs(text.length - viaTool.stdout.length) > text.length * 0.01) throw new Error('unixctl and ovs-appctl dumps differ');
      unixctlMs.push(u);
      appctlMs.push(a);
      const [ms, entries] = await timeMs(() => withDeadline(ctx!.source.dump(65520), STEP_MS, 'the conntrack source dump'));
      if (entries.length < CONNECTIONS * 0.99) throw new Error(`expected ${CONNECTIONS} conntrack entries, got ${entries.length}`);
      if (!entries.every((e) => e.counters!.packets >= 1)) throw new Error('a connection without its learned counter');
      dumpMs.push(ms);
      const [raw] = await timeMs(() => Promise.all([
        run('ovs-appctl', ['-t', inst!.vswitchdCtl, 'dpctl/dump-conntrack', '-m', '-s', 'zone=65520'], { env: inst!.env, timeoutMs: STEP_MS }),
        run('ovs-ofctl', ['-O', 'OpenFlow15', 'dump-flows', bridgeMgmt(inst!, 'br-int'), `table=${ctx!.table}`], { env: inst!.env, timeoutMs: STEP_MS }),
      ]));
      rawMs.push(raw);
    }
    // A whole poll, in a separate process that also reports its RSS (see flows-poll-child.ts);
    // on a loaded machine the rounds above can outlast the entries' UDP timeout.
    await refreshConntrack(netns);
    const child = await runChild(inst, ctx.table, path.join(tmp, 'child-flows.db'));
    process.stderr.write(`bench: flows: poll phases ms first ${JSON.stringify(child.firstPhases)} steady ${JSON.stringify(child.steadyPhases)}\n`);
    return [
      { metric: `dpctl/dump-conntrack, ${CONNECTIONS / 1000}k entries`, unit: 'ms', seine: median(unixctlMs), anchor: median(appctlMs), anchorLabel: 'the same request by an ovs-appctl process', better: 'lower' },
      { metric: `learned counters, ${(2 * CONNECTIONS) / 1000}k flows (OpenFlow flow stats, decoded)`, unit: 'ms', seine: median(countersMs), anchor: median(ofctlMs), anchorLabel: 'an ovs-ofctl dump-flows run of the same flows (text unparsed)', better: 'lower' },
      { metric: `conntrack source dump, ${CONNECTIONS / 1000}k entries + counters`, unit: 'ms', seine: median(dumpMs), anchor: median(rawMs), anchorLabel: 'raw dump-conntrack + dump-flows runs', better: 'lower', goal: '< 200 ms' },
      { metric: `one exporter poll, ${CONNECTIONS / 1000}k entries (first: all recorded)`, unit: 'ms', seine: child.firstPollMs, anchor: median(rawMs), anchorLabel: 'raw dump-conntrack + dump-flows runs', better: 'lower', goal: '< 200 ms' },
      { metric: `one exporter poll, ${CONNECTIONS / 1000}k entries (steady state)`, unit: 'ms', seine: child.steadyPollMs, anchor: median(rawMs), anchorLabel: 'raw dump-conntrack + dump-flows runs', better: 'lower', goal: '< 200 ms' },
      { metric: `agent exporter RSS with ${CONNECTIONS / 1000}k live flows`, unit: 'MB', seine: child.rssMB, anchor: child.baseRssMB, anchorLabel: 'same process before the exporter started', better: 'lower' },
    ];
  } finally {
    await ctx?.stats.close();
    if (inst) await stopOvsInstance(inst);
    await run('ip', ['netns', 'del', netns], { allowFailure: true, timeoutMs: 30_000 });
  }
}

async function runChild(inst: OvsInstance, table: number, db: string): Promise<{ firstPollMs: number; steadyPollMs: number; rssMB: number; baseRssMB: number; firstPhases: unknown; steadyPhases: unknown }> {
  const script = path.join(import.meta.dirname, 'flows-poll-child.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', script, inst.dir, inst.vswitchdCtl, String(table), db], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const code = await withDeadline(new Promise<number | null>((r) => child.on('close', r)), 10 * 60_000, 'the exporter poll process (two polls of 10k connections)').catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  if (code !== 0) throw new Error(`poll child exited ${code}: ${out}`);
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

export const bench: Bench = {
  name: 'flows',
  deadlineMs: 30 * 60_000,
  async run(): Promise<BenchRow[]> {
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'seine-flows-bench-'));
    try {
      await writeFile(path.join(tmp, '.keep'), '');
      return [...(await ingest(tmp)), ...encode(), ...(await poll(tmp)), ...(await kernelPoll(tmp))];
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  },
};
