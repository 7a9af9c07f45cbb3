// The agent checks a desired document's objects against their kinds only where they changed
// (DesiredObjectsMemo, issue #22): an object whose key and spec text passed in the last valid
// document is not checked again. What must not change with it: a bad document is refused with
// the same issues (the field named) as without the memo, and nothing of it is applied.
import assert from 'node:assert/strict';
import path from 'node:path';
import { ENVELOPE_VERSION, MessageError, nodeTopic, parseNodeMessage } from '../../../src/api/mqtt.js';
import { DesiredObjectsMemo, parseObjectKey } from '../../../src/api/node-state.js';
import { AgentSync } from '../../../src/agent/sync/agent-sync.js';
import { RealizerRegistry } from '../../../src/agent/sync/realizers.js';
import { Database } from '../../../src/lib/sqlite.js';
import { RecordingRealizer, tempDir } from '../../integration/controller-fixture.js';

const NODE = 'box1';
const T = nodeTopic(NODE, 'desired');
const key = (name: string) => `ClusterNetworkPolicy.crd.antrea.io//${name}`;
const spec = (port: number) => ({ priority: 5, appliedTo: [{ podSelector: { matchLabels: { app: 'web' } } }], ingress: [{ action: 'Allow', ports: [{ protocol: 'TCP', port }] }] });
const doc = (generation: number, objects: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ v: ENVELOPE_VERSION, node: NODE, generation, ts: 1, kind: 'desired', payload: { node: NODE, storeId: 's1', generation, objects, ...extra } });
const three = (port: number) => ({ [key('a')]: { generation: 1, spec: spec(80) }, [key('b')]: { generation: 1, spec: spec(81) }, [key('c')]: { generation: 2, spec: spec(port) } });

/** The refusal text of parsing `text`, with or without a memo (undefined: taken). */
function refusal(text: string, memo?: DesiredObjectsMemo): string | undefined {
  try {
    parseNodeMessage(T, text, memo ? { desiredMemo: memo } : {});
    return undefined;
  } catch (err) {
    assert.ok(err instanceof MessageError, String(err));
    return err.message;
  }
}

/** Counts the ClusterNetworkPolicy spec checks while `fn` runs. */
function countSpecChecks(fn: () => void): number {
  const schema = parseObjectKey(key('a'))!.kind.specSchema as unknown as { safeParse: (...args: unknown[]) => unknown };
  const original = schema.safeParse;
  let n = 0;
  schema.safeParse = (...args: unknown[]) => {
    n++;
    return original.apply(schema, args);
  };
  try {
    fn();
  } finally {
    schema.safeParse = original;
  }
  return n;
}

describe('desired documents: objects checked against their kind only where they changed', function () {
  it('checks only the changed object of the next document, none of a document that changed no object', function () {
    const memo = new DesiredObjectsMemo();
    assert.equal(countSpecChecks(() => parseNodeMessage(T, doc(1, three(1000)), { desiredMemo: memo })), 3, 'the first document: every object');
    assert.equal(memo.size, 3);
    assert.equal(countSpecChecks(() => parseNodeMessage(T, doc(2, three(1001)), { desiredMemo: memo })), 1, 'one object changed');
    assert.equal(countSpecChecks(() => parseNodeMessage(T, doc(3, three(1001)), { desiredMemo: memo })), 0, 'no object changed');
    // Without a memo (the controller's receivers): every object, every time.
    assert.equal(countSpecChecks(() => parseNodeMessage(T, doc(3, three(1001)))), 3);
    // An object removed and one added: only the new one is checked.
    const { [key('b')]: _b, ...rest } = three(1001);
    assert.equal(countSpecChecks(() => parseNodeMessage(T, doc(4, { ...rest, [key('d')]: { generation: 1, spec: spec(90) } }), { desiredMemo: memo })), 1);
  });

  it('refuses a bad document with the same issues as without the memo, the field named, and keeps the last valid document', function () {
    const memo = new DesiredObjectsMemo();
    parseNodeMessage(T, doc(1, three(1000)), { desiredMemo: memo });
    const bad: [string, string, RegExp][] = [
      ['a changed object with a bad spec (the others unchanged)', doc(2, { ...three(1000), [key('c')]: { generation: 3, spec: { ...spec(1000), priority: 'x' } } }), /payload\.objects\["ClusterNetworkPolicy\.crd\.antrea\.io\/\/c"\]\.spec\.priority: expected number/],
      ['an unchanged spec under a new, invalid key', doc(2, { ...three(1000), 'Nope//x': { generation: 1, spec: spec(80) } }), /payload\.objects\["Nope\/\/x"\]: invalid object key/],
      ['a bad shape around unchanged objects', doc(2, three(1000), { generation: -1 }), /payload\.generation: must be >= 0/],
      ['an unknown field in an unchanged object', doc(2, { ...three(1000), [key('a')]: { generation: 1, spec: spec(80), extra: true } }), /payload\.objects\["ClusterNetworkPolicy\.crd\.antrea\.io\/\/a"\]\.extra: unknown field/],
      ['a spec left out', doc(2, { ...three(1000), [key('b')]: { generation: 1 } }), /payload\.objects\["ClusterNetworkPolicy\.crd\.antrea\.io\/\/b"\]\.spec/],
      ['a bad spec and a bad key together', doc(2, { [key('a')]: { generation: 1, spec: { priority: 'x' } }, 'Nope//y': { generation: 1, spec: {} } }), /\.spec\.priority[\s\S]*Nope\/\/y/],
    ];
    for (const [what, text, field] of bad) {
      const withMemo = refusal(text, memo);
      assert.ok(withMemo, `${what}: refused`);
      assert.match(withMemo, field, what);
      assert.equal(withMemo, refusal(text), `${what}: the same issues as without the memo`);
      assert.equal(memo.size, 3, `${what}: the memo still holds the last valid document`);
    }
    // The last valid document's objects are still known: a document equal to it checks nothing.
    assert.equal(countSpecChecks(() => parseNodeMessage(T, doc(3, three(1000)), { desiredMemo: memo })), 0);
  });

  it('the agent: a bad changed object refuses the whole document (nothing applied); the next good one applies and its report names the field', async function () {
    const tmp = await tempDir();
    const db = await Database.open(path.join(tmp.dir, 'memo.db'));
    try {
      const realizers = new RealizerRegistry();
      const realizer = new RecordingRealizer();
      realizers.registerRealizer({ kind: 'ClusterNetworkPolicy', group: 'crd.antrea.io' }, realizer);
      // Not started: no broker; reports wait in the outbox.
      const sync = await AgentSync.open({ node: NODE, url: 'mqtt://127.0.0.1:1', username: NODE, password: 'x', db, realizers, agentVersion: 't' });
      await sync.handleMessage(T, Buffer.from(doc(1, three(1000))));
      assert.equal(sync.generation, 1);
      const calls = realizer.calls.length;
      await sync.handleMessage(T, Buffer.from(doc(2, { ...three(1000), [key('c')]: { generation: 3, spec: { ...spec(1000), priority: 'x' } } })));
      assert.equal(sync.rejected.malformed, 1);
      assert.equal(sync.generation, 1, 'the refused document is not applied');
      assert.equal(realizer.calls.length, calls, 'nothing realized');
      const saved = await db.get<{ generation: number }>('SELECT generation FROM sync_desired WHERE id = 1');
      assert.equal(saved?.generation, 1, 'nor persisted');
      await sync.handleMessage(T, Buffer.from(doc(3, three(1002))));
      assert.equal(sync.generation, 3);
      // The refusal goes out with the next report.
      const [report] = await sync.outbox.peek();
      const errors = (JSON.parse(report!.payload) as { payload: { errors: { message: string }[] } }).payload.errors.map((e) => e.message).join('\n');
      assert.match(errors, /objects\["ClusterNetworkPolicy\.crd\.antrea\.io\/\/c"\]\.spec\.priority/, 'the report names the field');
      assert.deepEqual(realizer.last?.get(key('c'))?.spec, spec(1002));
    } finally {
      await db.close();
      await tmp.remove();
    }
  });
});
