// seine-policy: apply, delete or get policies (any manifest kind: ACNP, ANP, K8s NetworkPolicy,
// Tier, ClusterGroup …) from the node's editor or msg.payload, validated with the shared
// schemas before anything is sent. Output 1: the result of the action. Output 2: a message each
// time the phase of an applied object changes. The status follows the phase live by polling
// the objects (every "watch" seconds) until they are deleted or the node is closed.
import { stringify } from 'yaml';
import type { PolicyStatus, StoredObject, ApplyResult } from '../src/api/controller-api.js';
import { errorMessage } from '../src/lib/errors.js';
import type { ControllerConnection, Watch } from './lib/connection.js';
import { connectionOf, errorStatus, failInput, followConnection, parseInterval } from './lib/controller-ref.js';
import { manifestsFrom, phaseStatus, refOf, type ObjectRef } from './lib/policy-status.js';
import { registerPreviewRoute } from './lib/preview.js';
import type { Node, NodeAPI, NodeDef, NodeStatus } from './lib/red.js';

const ACTIONS = ['apply', 'delete', 'get'] as const;
type Action = (typeof ACTIONS)[number];

interface PolicyDef extends NodeDef {
  controller?: string;
  action?: Action;
  policy?: string;
  watch?: string | number;
}

function register(RED: NodeAPI): void {
  registerPreviewRoute(RED);
  function SeinePolicy(this: Node, def: PolicyDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const conn = connectionOf(RED, def.controller);
    let watchMs = 1000;
    let configProblem: string | undefined;
    try {
      watchMs = parseInterval('watch', def.watch, 1);
    } catch (err) {
      configProblem = errorMessage(err);
    }
    if (!ACTIONS.includes(def.action ?? 'apply')) configProblem = `action: expected apply, delete or get, got ${JSON.stringify(def.action)}`;
    let watched: ObjectRef[] = [];
    let watch: Watch | undefined;
    let lastPhase = '';
    let shown: NodeStatus | undefined;
    const show = (s: NodeStatus) => {
      shown = s;
      node.status(s);
    };

    if (conn instanceof Error || configProblem) {
      node.status({ fill: 'red', shape: 'ring', text: conn instanceof Error ? 'no controller' : 'invalid configuration' });
    } else {
      const unfollow = followConnection(node, conn, () => shown);
      node.on('close', (_removed, done) => {
        unfollow();
        done();
      });
    }

    const startWatch = (c: ControllerConnection, refs: ObjectRef[]) => {
      watch?.stop();
      watched = refs;
      lastPhase = '';
      watch = c.watch(watchMs, async () => {
        const objects = await Promise.all(watched.map(async (r) => {
          const o = await c.request<StoredObject>('GET', r.url);
          return { name: r.label, status: o.status as PolicyStatus | undefined };
        }));
        const s = phaseStatus(objects);
        show(s);
        if (s.phase !== lastPhase) {
          lastPhase = s.phase;
          node.send([null, { topic: 'phase', payload: { phase: s.phase, text: s.text, objects: objects.map((o) => ({ name: o.name, ...o.status })) } }]);
        }
      }, (err) => show(errorStatus(errorMessage(err), 'ring')));
    };

    node.on('input', async (msg, send, done) => {
      try {
        if (conn instanceof Error) throw conn;
        if (configProblem) throw new Error(configProblem);
        const action = (msg.action ?? def.action ?? 'apply') as Action;
        if (!ACTIONS.includes(action)) throw new Error(`msg.action: expected apply, delete or get, got ${JSON.stringify(msg.action)}`);
        const objects = manifestsFrom(msg, def.policy);
        const refs = objects.map(refOf);
        const list = stringify({ apiVersion: 'v1', kind: 'List', items: objects });
        if (action === 'apply') {
          show({ fill: 'blue', shape: 'ring', text: 'applying…' });
          const result = await conn.request<ApplyResult>('POST', '/api/v1/apply', list);
          send([{ ...msg, payload: result }, null]);
          startWatch(conn, refs);
        } else if (action === 'delete') {
          const result = await conn.request<unknown>('POST', '/api/v1/delete', list);
          watch?.stop();
          watch = undefined;
          show({ fill: 'grey', shape: 'dot', text: `deleted ${refs.length === 1 ? refs[0]!.label : `${refs.length} objects`}` });
          send([{ ...msg, payload: result }, null]);
        } else {
          const got = await Promise.all(refs.map((r) => conn.request<StoredObject>('GET', r.url)));
          const s = phaseStatus(got.map((o) => ({ name: o.metadata.name, status: o.status as PolicyStatus | undefined })));
          show(s);
          send([{ ...msg, payload: got.length === 1 ? got[0] : got }, null]);
        }
        done();
      } catch (err) {
        failInput(err, show, done);
      }
    });

    node.on('close', (_removed, done) => {
      watch?.stop();
      watch = undefined;
      node.status({});
      done();
    });
  }
  RED.nodes.registerType('seine-policy', SeinePolicy as never);
}

export { register as 'module.exports' };
export default register;
