// The bench runner's promises: rows printed as each bench ends, a failing or hanging bench
// becomes an error row and the others still run, published anchors carry their source, and
// deadlines fail a wait with its reason. Real runner, real timers; the benches are small inline ones.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeadlineError, pollUntil, withDeadline, type Bench, type BenchRow } from '../bench/harness.js';
import { runBenches, type BenchSource } from '../bench/runner.js';

const row = (metric: string, extra: Partial<BenchRow> = {}): BenchRow => ({ metric, unit: 'ms', seine: 10, anchor: 20, anchorLabel: 'raw thing', better: 'lower', ...extra });
const source = (bench: Bench): BenchSource => ({ name: bench.name, load: async () => bench });

async function capture(sources: BenchSource[], opts: { json?: boolean; deadlineMs?: number } = {}) {
  const out: string[] = [];
  const summary = await runBenches(sources, { json: opts.json ?? true, out: (t) => out.push(t), progress: () => {}, graceMs: 2000, ...(opts.deadlineMs ? { deadlineMs: opts.deadlineMs } : {}) });
  return { out, summary };
}

describe('bench runner', function () {
  it('prints each bench\'s rows as one JSON line per row when that bench ends, with ratio, anchor kind and load', async function () {
    const printedBefore: number[] = [];
    let out: string[] = [];
    const second: Bench = { name: 'b', run: async () => {
      printedBefore.push(out.length);
      return [row('b1', { anchorKind: 'published', anchorLabel: 'someone (published)', anchorSource: 'antrea PR #2333' })];
    } };
    const summary = await runBenches([source({ name: 'a', run: async () => [row('a1'), row('a2')] }), source(second)], {
      json: true, out: (t) => out.push(t), progress: () => {}, graceMs: 2000,
    });
    out = out.flatMap((t) => t.split('\n'));
    assert.deepEqual(printedBefore, [1], 'bench a\'s rows were out before bench b ran');
    const rows = out.map((l) => JSON.parse(l));
    assert.deepEqual(rows.map((r) => [r.bench, r.metric, r.ratio, r.anchorKind]), [['a', 'a1', 2, 'same-run'], ['a', 'a2', 2, 'same-run'], ['b', 'b1', 2, 'published']]);
    assert.equal(rows[2].anchorSource, 'antrea PR #2333');
    assert.equal(typeof rows[0].load.start, 'number');
    assert.deepEqual(summary.failed, []);
  });

  it('a bench that throws becomes a row with its error, and the next bench still runs', async function () {
    const { out, summary } = await capture([
      source({ name: 'boom', run: async () => { throw new Error('the controller did not start'); } }),
      source({ name: 'fine', run: async () => [row('ok')] }),
    ]);
    const rows = out.flatMap((t) => t.split('\n')).map((l) => JSON.parse(l));
    assert.equal(rows[0].bench, 'boom');
    assert.equal(rows[0].error, 'the controller did not start');
    assert.equal(rows[0].seine, null);
    assert.equal(rows[1].metric, 'ok');
    assert.deepEqual(summary.failed, ['boom']);
  });

  it('a bench stuck in a withDeadline wait fails at its overall deadline, unwinds through finally, and the runner goes on', async function () {
    let cleaned = false;
    const stuck: Bench = { name: 'stuck', run: async () => {
      try {
        await withDeadline(new Promise(() => {}), 60_000, 'waiting for Realized');
        return [];
      } finally {
        cleaned = true;
      }
    } };
    const t0 = Date.now();
    const { out, summary } = await capture([source(stuck), source({ name: 'after', run: async () => [row('x')] })], { deadlineMs: 200 });
    assert.ok(Date.now() - t0 < 5000, 'the runner did not wait for the 60 s wait');
    assert.ok(cleaned, 'the stuck bench ran its finally block');
    const rows = out.flatMap((t) => t.split('\n')).map((l) => JSON.parse(l));
    assert.match(rows[0].error, /stuck exceeded its 200 ms deadline/);
    assert.equal(rows[1].metric, 'x');
    assert.deepEqual(summary.failed, ['stuck']);
    assert.deepEqual(summary.abandoned, []);
  });

  it('a published anchor without its source, or not labelled published, fails the bench', async function () {
    const { summary, out } = await capture([source({ name: 'p', run: async () => [row('m', { anchorKind: 'published', anchorSource: 'x' })] })]);
    assert.deepEqual(summary.failed, ['p']);
    assert.match(JSON.parse(out[0]!).error, /must say "published"/);
  });

  it('the table names a failed bench with its reason and a published anchor with its source', async function () {
    const { out } = await capture([
      source({ name: 'bad', run: async () => { throw new Error('no desired document'); } }),
      source({ name: 'pub', run: async () => [row('compute', { anchorKind: 'published', anchorLabel: 'Antrea best run (published)', anchorSource: 'antrea PR #2333' })] }),
    ], { json: false });
    const text = out.join('\n');
    assert.match(text, /bad: failed \| FAILED .*no desired document/);
    assert.match(text, /Antrea best run \(published\) \[published: antrea PR #2333\]/);
    assert.match(text, /all benches:/);
  });

  it('withDeadline and pollUntil fail with what they waited for', async function () {
    await assert.rejects(withDeadline(new Promise(() => {}), 20, 'the raw round trip'), (err: Error) => err instanceof DeadlineError && /the raw round trip: no result within 20 ms/.test(err.message));
    assert.equal(await withDeadline(Promise.resolve(7), 20, 'x'), 7);
    await assert.rejects(pollUntil('Realized on 3', 50, () => false, { describe: () => 'Pending 1/3' }), /Realized on 3: not within 50 ms \(last: Pending 1\/3\)/);
    let n = 0;
    assert.equal(await pollUntil('third try', 1000, () => (++n === 3 ? 'yes' : undefined), { intervalMs: 1 }), 'yes');
  });

  it('what a wait yields after its deadline goes to onLate (a late start is still stopped); in time, onLate is not called', async function () {
    const late: string[] = [];
    await assert.rejects(withDeadline(new Promise<string>((r) => setTimeout(() => r('controller'), 40)), 10, 'starting', { onLate: (v) => late.push(v) }), DeadlineError);
    await new Promise((r) => setTimeout(r, 80));
    assert.deepEqual(late, ['controller']);
    assert.equal(await withDeadline(Promise.resolve('agent'), 100, 'x', { onLate: (v) => late.push(v) }), 'agent');
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(late, ['controller']);
  });

  it('run.ts refuses an unknown bench name or option, naming the benches (exit 2)', function () {
    const runTs = path.join(path.dirname(fileURLToPath(import.meta.url)), '../bench/run.ts');
    const r = spawnSync(process.execPath, ['--import', 'tsx', runTs, 'no-such-bench'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /no bench named no-such-bench; benches: .*sync-fleet/);
    const f = spawnSync(process.execPath, ['--import', 'tsx', runTs, '--jsn'], { encoding: 'utf8' });
    assert.equal(f.status, 2);
    assert.match(f.stderr, /unknown option --jsn/);
  });
});
