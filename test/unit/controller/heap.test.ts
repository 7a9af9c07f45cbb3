// `seine controller` sets V8's heap growing policy (src/controller/heap.ts) unless the process
// was started with its own; in a child process, so this test's own heap keeps V8's default.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { applyControllerHeapPolicy } from '../../../src/controller/heap.js';

describe('controller heap policy', function () {
  this.timeout(30_000);

  it("leaves the process's own --heap-growing-percent (command line or NODE_OPTIONS) alone", () => {
    assert.equal(applyControllerHeapPolicy(['--heap-growing-percent=0'], ''), false);
    assert.equal(applyControllerHeapPolicy([], '--max-old-space-size=512 --heap_growing_percent=40'), false);
  });

  it('sets it otherwise, and V8 takes it at run time (old garbage is collected sooner)', () => {
    // Replaces a tenth of a ~60 MiB live set per step: V8's default lets the heap grow far past it.
    const script = `
      const { applyControllerHeapPolicy } = await import(${JSON.stringify(new URL('../../../src/controller/heap.ts', import.meta.url).href)});
      const set = process.argv[1] === 'set' && applyControllerHeapPolicy([], '');
      const live = Array.from({ length: 300000 }, (_, i) => ({ i, s: 'x'.repeat(100) + i }));
      let peak = 0;
      for (let step = 0; step < 30; step++) {
        for (let i = step % 10; i < live.length; i += 10) live[i] = { i, s: 'y'.repeat(100) + i + step };
        peak = Math.max(peak, process.memoryUsage().heapUsed);
      }
      console.log(JSON.stringify({ set, peak }));`;
    const run = (arg: string) => JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, arg], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } })) as { set: boolean; peak: number };
    const [withPolicy, without] = [run('set'), run('default')];
    assert.equal(withPolicy.set, true);
    assert.ok(withPolicy.peak < without.peak * 0.85, `peak heap with the policy ${Math.round(withPolicy.peak / 1048576)} MiB, V8's default ${Math.round(without.peak / 1048576)} MiB`);
  });
});
