// Phase spans: each mark ends a phase; durations land in Prometheus-style cumulative buckets per
// path and phase, shown through a real prom-client registry; with SEINE_PHASE_LOG=1 a child
// process logs one `phases` line per span, with its wall-clock start.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Registry } from 'prom-client';
import { PHASE_BUCKETS_SECONDS, PhaseRecorder, phaseRecorder, registerPhaseHistogram, wallMs } from '../../../src/lib/phases.js';

const busy = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

describe('phase spans', () => {
  it('records each phase and the total into cumulative buckets', () => {
    let clock = 1000;
    const r = new PhaseRecorder('test.path', () => clock);
    const span = r.begin();
    clock += 3;
    span.mark('first');
    span.mark('empty');
    clock += 12;
    span.mark('second');
    span.end();
    span.end(); // a second end records nothing more
    const snap = r.snapshot();
    assert.deepEqual([...snap.keys()], ['first', 'empty', 'second', 'total']);
    const first = snap.get('first')!;
    assert.equal(first.count, 1);
    assert.equal(first.sumSeconds, 0.003);
    // 3 ms falls in the 5 ms bucket (and every larger one), not in the 2.5 ms one.
    const at = (s: number) => (PHASE_BUCKETS_SECONDS as readonly number[]).indexOf(s);
    assert.equal(first.cumulative[at(0.0025)], 0);
    assert.equal(first.cumulative[at(0.005)], 1);
    assert.equal(first.cumulative.at(-1), 1);
    assert.equal(snap.get('empty')!.cumulative[0], 1, 'a phase of 0 ms is in the first bucket');
    assert.equal(snap.get('second')!.cumulative[at(0.01)], 0, '12 ms is past the 10 ms bound');
    assert.equal(snap.get('second')!.cumulative[at(0.025)], 1);
    const total = snap.get('total')!;
    assert.equal(total.sumSeconds, 0.015);
    assert.ok(Math.abs(total.sumSeconds - (first.sumSeconds + snap.get('empty')!.sumSeconds + snap.get('second')!.sumSeconds)) < 1e-9, 'the total is the sum of the phases');
  });

  it('adds up a phase marked twice in one span', () => {
    const r = new PhaseRecorder('test.twice');
    const span = r.begin();
    busy(2);
    span.mark('work');
    busy(2);
    span.mark('work');
    span.end();
    const work = r.snapshot().get('work')!;
    assert.equal(work.count, 1);
    assert.ok(work.sumSeconds >= 0.004, `${work.sumSeconds}`);
  });

  it('shows every path as one histogram labelled by path and phase on a prom-client registry', async () => {
    const span = phaseRecorder('test.metrics').begin();
    busy(1);
    span.mark('only');
    span.end();
    assert.equal(phaseRecorder('test.metrics'), phaseRecorder('test.metrics'), 'one recorder per path');
    const registry = new Registry();
    registerPhaseHistogram(registry, 'test_phase_duration_seconds', 'Test phases.');
    const text = await registry.metrics();
    assert.match(text, /# TYPE test_phase_duration_seconds histogram/);
    assert.match(text, /test_phase_duration_seconds_bucket\{path="test.metrics",phase="only",le="\+Inf"\} 1/);
    assert.match(text, /test_phase_duration_seconds_count\{path="test.metrics",phase="total"\} 1/);
    assert.match(text, /test_phase_duration_seconds_bucket\{path="test.metrics",phase="only",le="0.0005"\} 0/);
  });

  it('logs one line per span with SEINE_PHASE_LOG=1, and none without', () => {
    const script = `
      const { phaseRecorder } = await import(${JSON.stringify(new URL('../../../src/lib/phases.ts', import.meta.url).href)});
      const s = phaseRecorder('child.path').begin({ generation: 7 });
      s.mark('a');
      s.end();`;
    // The log goes to stderr.
    const run = (env: NodeJS.ProcessEnv) => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, ...env }, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return r.stderr;
    };
    const before = wallMs();
    const lines = run({ SEINE_PHASE_LOG: '1', SEINE_LOG_LEVEL: 'info' }).split('\n').filter((l) => l.includes('"msg":"phases"'));
    assert.equal(lines.length, 1, lines.join('\n'));
    const line = JSON.parse(lines[0]!) as { path: string; at: number; end: number; phases: Record<string, number>; generation: number };
    assert.equal(line.path, 'child.path');
    assert.equal(line.generation, 7);
    assert.deepEqual(Object.keys(line.phases), ['a']);
    assert.ok(line.at >= before && line.at <= wallMs() && line.end >= line.at, `at ${line.at} within the run`);
    assert.equal(run({ SEINE_PHASE_LOG: '', SEINE_LOG_LEVEL: 'info' }).includes('"msg":"phases"'), false);
  });
});
