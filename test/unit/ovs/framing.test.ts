import assert from 'node:assert/strict';
import { JsonStreamSplitter } from '../../../src/lib/jsonrpc-framing.js';
import { Backoff } from '../../../src/lib/backoff.js';

describe('JSON stream splitter', () => {
  it('splits values sent back to back, whatever the chunking', () => {
    const msgs = [{ id: 1, result: [{ rows: [{ name: 'a}b"{' }] }] }, { method: 'echo', params: [], id: 'echo' }, [1, [2, { x: '\\"]' }]]];
    const text = msgs.map((m) => JSON.stringify(m)).join('\n');
    for (const size of [1, 2, 3, 7, 1000]) {
      const s = new JsonStreamSplitter();
      const out: unknown[] = [];
      for (let i = 0; i < text.length; i += size) out.push(...s.push(text.slice(i, i + size)).map((t) => JSON.parse(t)));
      assert.deepEqual(out, msgs, `chunk size ${size}`);
      assert.equal(s.pending, 0);
    }
  });

  it('holds back an unfinished value and rejects garbage between values', () => {
    const s = new JsonStreamSplitter();
    assert.deepEqual(s.push('{"a":[1,2'), []);
    assert.ok(s.pending > 0);
    assert.deepEqual(s.push(']}  {"b":1}{"c"'), ['{"a":[1,2]}', '{"b":1}']);
    assert.throws(() => new JsonStreamSplitter().push('x{}'), /expected/);
  });
});

describe('backoff', () => {
  it('grows exponentially up to the cap and starts over after reset', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, factor: 2, jitter: 0 });
    assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next()], [100, 200, 400, 800, 1000]);
    b.reset();
    assert.equal(b.next(), 100);
  });

  it('jitters downwards within the configured fraction', () => {
    const b = new Backoff({ initialMs: 1000, maxMs: 1000, jitter: 0.5, random: () => 1 });
    assert.equal(b.next(), 500);
    const r = new Backoff({ initialMs: 1000, jitter: 0.3 });
    for (let i = 0; i < 50; i++) {
      r.reset();
      const d = r.next();
      assert.ok(d >= 700 && d <= 1000, String(d));
    }
  });
});
