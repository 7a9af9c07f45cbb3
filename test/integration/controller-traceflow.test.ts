// The controller's side of Traceflow without a dataplane: a real controller and a real agent
// sync module over the embedded broker. Failures come back as statuses with reasons (unknown
// Pod; an agent without the traceflow methods); statuses are kept across a controller restart,
// and one that was running then reads Failed saying why. (The dataplane: traceflow.test.ts.)
import assert from 'node:assert/strict';
import { z } from 'zod';
import type { Controller } from '../../src/controller/main.js';
import { RESTARTED_REASON } from '../../src/controller/traceflow/runner.js';
import type { TraceflowStatus } from '../../src/api/traceflow.js';
import { api, startAgent, startController, tempDir, waitFor, type TestAgent } from './controller-fixture.js';

const TF = '/apis/crd.antrea.io/v1beta1/traceflows';
const traceflow = (name: string, pod: string) => ({
  apiVersion: 'crd.antrea.io/v1beta1', kind: 'Traceflow', metadata: { name },
  spec: { source: { namespace: 'default', pod }, destination: { namespace: 'default', pod: 'db-box1' }, timeout: 30 },
});

describe('controller: Traceflow status', function () {
  this.timeout(60_000);
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let controller: Controller | undefined;
  let agent: TestAgent | undefined;
  const status = async (name: string) => ((await api(controller!.restUrl, 'GET', `${TF}/${name}`)).body as { status: TraceflowStatus }).status;
  const settled = (name: string) => waitFor(`${name} settled`, async () => ((await status(name)).phase !== 'Running' ? status(name) : undefined));

  before(async () => {
    tmp = await tempDir();
    controller = await startController(tmp.dir);
    const password = await controller.nodes.createCredentials('box1', 'test');
    agent = await startAgent({ node: 'box1', url: controller.brokerUrl, password, dir: tmp.dir });
    await waitFor('box1 reported', async () => (await controller!.nodes.reports()).has('box1'));
  });

  after(async () => {
    await agent?.stop();
    await controller?.stop();
    await tmp?.remove();
  });

  it('an unknown source Pod: Failed, the reason naming the field', async () => {
    assert.equal((await api(controller!.restUrl, 'POST', TF, traceflow('tf-nope', 'nope'))).status, 200);
    const st = await settled('tf-nope');
    assert.equal(st.phase, 'Failed');
    assert.match(st.reason!, /^source\.pod: Pod default\/nope is on no node/);
  });

  it('an agent without the traceflow methods: Failed, naming the node and its answer', async () => {
    await api(controller!.restUrl, 'POST', TF, traceflow('tf-old-agent', 'web-box1'));
    const st = await settled('tf-old-agent');
    assert.equal(st.phase, 'Failed');
    assert.ok(st.dataplaneTag! >= 1);
    assert.match(st.reason!, /^Sender node box1: .*unknown method "traceflow\.start"/);
  });

  it('keeps statuses across a controller restart; a running one becomes Failed with the reason', async () => {
    // An agent whose start never finishes in time: the traceflow stays Running.
    agent!.sync.rpc.register('traceflow.start', { params: z.unknown(), handle: () => new Promise((r) => setTimeout(r, 4000)) });
    await api(controller!.restUrl, 'POST', TF, traceflow('tf-running', 'web-box1'));
    await waitFor('tf-running has a tag', async () => (await status('tf-running')).dataplaneTag);
    assert.equal((await status('tf-running')).phase, 'Running');
    await agent!.stop();
    agent = undefined;
    await controller!.stop();
    controller = await startController(tmp.dir);
    const running = await status('tf-running');
    assert.deepEqual([running.phase, running.reason], ['Failed', RESTARTED_REASON]);
    assert.match((await status('tf-nope')).reason!, /^source\.pod: Pod default\/nope/, 'a finished status is kept as it was');
    assert.equal((await api(controller.restUrl, 'DELETE', `${TF}/tf-nope`)).status, 200);
    await controller.stop();
    controller = await startController(tmp.dir);
    assert.equal((await api(controller.restUrl, 'GET', `${TF}/tf-nope`)).status, 404);
  });
});
