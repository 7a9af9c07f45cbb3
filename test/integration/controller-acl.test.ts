// Per-node MQTT credentials and ACL: node A cannot read or write node B's topics, cannot take
// B's session, cannot log in with a wrong password — against the embedded aedes broker, and
// against a real mosquitto started here with the generated ACL file.
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { CONTROLLER_USERNAME, agentClientId, nodeTopic } from '../../src/api/mqtt.js';
import { mayPublish, maySubscribe } from '../../src/controller/broker/acl.js';
import { mosquittoAcl } from '../../src/controller/broker/mosquitto.js';
import type { Controller } from '../../src/controller/main.js';
import { acnp, api, startController, tempDir } from './controller-fixture.js';

function connect(url: string, username: string, password: string, clientId = agentClientId(username)): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { clientId, username, password, reconnectPeriod: 0, clean: true, connectTimeout: 3000 });
    c.once('connect', () => resolve(c));
    c.once('error', (err) => {
      c.end(true);
      reject(err);
    });
  });
}

/** Subscribes and collects what arrives in `ms`; granted QoS 128 means refused. */
async function collect(c: MqttClient, filter: string, ms = 300): Promise<{ granted: number; got: string[] }> {
  const got: string[] = [];
  const on = (t: string) => got.push(t);
  c.on('message', on);
  // A refused filter comes back as SUBACK 0x80, which MQTT.js turns into a rejection.
  const grants = await c.subscribeAsync(filter, { qos: 1 }).catch(() => [{ qos: 128 }]);
  await new Promise((r) => setTimeout(r, ms));
  c.off('message', on);
  return { granted: grants[0]?.qos ?? 128, got };
}

function aclSuite(name: string, setup: () => Promise<{ url: string; creds: Record<string, string>; controller: () => Promise<MqttClient>; teardown: () => Promise<void> }>) {
  describe(`MQTT ACL: ${name}`, function () {
    let env: Awaited<ReturnType<typeof setup>>;
    let a: MqttClient;
    let b: MqttClient;
    let ctl: MqttClient;

    before(async function () {
      env = await setup();
      a = await connect(env.url, 'box-a', env.creds['box-a']!);
      b = await connect(env.url, 'box-b', env.creds['box-b']!);
      ctl = await env.controller();
      await ctl.publishAsync(nodeTopic('box-b', 'desired'), 'desired-for-b', { qos: 1, retain: true });
    });
    after(async function () {
      for (const c of [a, b, ctl]) await c?.endAsync(true);
      await env?.teardown();
    });

    it('A reads its own desired topic but receives nothing of B (direct or by wildcard)', async function () {
      await ctl.publishAsync(nodeTopic('box-a', 'desired'), 'desired-for-a', { qos: 1, retain: true });
      assert.deepEqual((await collect(a, nodeTopic('box-a', 'desired'))).got, [nodeTopic('box-a', 'desired')]);
      assert.deepEqual((await collect(a, nodeTopic('box-b', 'desired'))).got, []);
      assert.deepEqual((await collect(a, 'seine/v1/nodes/+/desired')).got.filter((t) => t.includes('box-b')), []);
      assert.deepEqual((await collect(a, '#')).got.filter((t) => t.includes('box-b')), []);
    });

    it('A cannot publish on B\'s topics nor on its own desired topic', async function () {
      const seen = await (async () => {
        const got: string[] = [];
        ctl.on('message', (t, p) => got.push(`${t}=${p.toString()}`));
        await ctl.subscribeAsync('seine/v1/nodes/#', { qos: 1 });
        await a.publishAsync(nodeTopic('box-a', 'reported'), 'ok-from-a', { qos: 0 }).catch(() => undefined);
        for (const t of [nodeTopic('box-b', 'reported'), nodeTopic('box-b', 'status'), nodeTopic('box-a', 'desired')]) {
          const x = await connect(env.url, 'box-a', env.creds['box-a']!, agentClientId('box-a')).catch(() => undefined);
          await x?.publishAsync(t, 'forged', { qos: 0 }).catch(() => undefined);
          await new Promise((r) => setTimeout(r, 100));
          await x?.endAsync(true);
        }
        await new Promise((r) => setTimeout(r, 300));
        return got;
      })();
      assert.ok(seen.includes(`${nodeTopic('box-a', 'reported')}=ok-from-a`), seen.join(', '));
      assert.deepEqual(seen.filter((s) => s.endsWith('=forged')), []);
    });

    it('wrong password and a wrong user are refused', async function () {
      await assert.rejects(connect(env.url, 'box-a', 'not-the-password'));
      await assert.rejects(connect(env.url, 'box-a', env.creds['box-b']!));
    });
  });
}

aclSuite('embedded aedes', async () => {
  const tmp = await tempDir();
  const c: Controller = await startController(tmp.dir);
  const creds = { 'box-a': await c.nodes.createCredentials('box-a', 't'), 'box-b': await c.nodes.createCredentials('box-b', 't') };
  return {
    url: c.brokerUrl,
    creds,
    controller: () => connect(c.brokerUrl, CONTROLLER_USERNAME, c.broker!.controllerSecret, 'seine-controller-test'),
    teardown: async () => {
      await c.stop();
      await tmp.remove();
    },
  };
});

describe('MQTT ACL: embedded aedes, session takeover and counters', function () {
  it('A cannot connect with B\'s client id (which would take over B\'s session); denials are counted', async function () {
    const tmp = await tempDir();
    const c = await startController(tmp.dir);
    try {
      const pa = await c.nodes.createCredentials('box-a', 't');
      await assert.rejects(connect(c.brokerUrl, 'box-a', pa, agentClientId('box-b')));
      const a = await connect(c.brokerUrl, 'box-a', pa);
      const { granted } = await collect(a, nodeTopic('box-b', 'desired'), 50);
      assert.equal(granted, 128);
      await a.endAsync(true);
      assert.ok(c.broker!.counters.authFailures >= 1);
      assert.ok(c.broker!.counters.deniedSubscribe >= 1);
      await api(c.restUrl, 'POST', '/apis/crd.antrea.io/v1beta1/clusternetworkpolicies', acnp('x'));
    } finally {
      await c.stop();
      await tmp.remove();
    }
  });
});

function hasMosquitto(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v mosquitto && command -v mosquitto_passwd'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

aclSuite('mosquitto with the generated ACL file', async function () {
  if (!hasMosquitto()) {
    if (process.env.CI) throw new Error('mosquitto and mosquitto_passwd are required (apt-get install mosquitto)');
    throw new Error('mosquitto is not installed (npm run prereqs installs it)');
  }
  const tmp = await tempDir('seine-mosq-');
  const port = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const creds: Record<string, string> = { 'box-a': 'pass-a-123', 'box-b': 'pass-b-456', [CONTROLLER_USERNAME]: 'ctl-789' };
  const passwd = path.join(tmp.dir, 'passwd');
  await writeFile(passwd, '');
  for (const [u, p] of Object.entries(creds)) execFileSync('mosquitto_passwd', ['-b', passwd, u, p]);
  await writeFile(path.join(tmp.dir, 'acl'), mosquittoAcl());
  await writeFile(
    path.join(tmp.dir, 'mosquitto.conf'),
    `user root\nlistener ${port} 127.0.0.1\nallow_anonymous false\npassword_file ${passwd}\nacl_file ${path.join(tmp.dir, 'acl')}\npersistence false\n`,
  );
  const proc: ChildProcess = spawn('mosquitto', ['-c', path.join(tmp.dir, 'mosquitto.conf')], { stdio: 'ignore' });
  const url = `mqtt://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const up = await connect(url, 'box-a', creds['box-a']!).then((c) => (c.end(true), true), () => false);
    if (up) break;
    if (i > 100) throw new Error('mosquitto did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    creds,
    controller: () => connect(url, CONTROLLER_USERNAME, creds[CONTROLLER_USERNAME]!, 'seine-controller-test'),
    teardown: async () => {
      process.kill(proc.pid!, 'SIGTERM');
      await new Promise((r) => proc.once('exit', r));
      await tmp.remove();
    },
  };
});

describe('MQTT ACL rules (pure)', function () {
  it('node: own status/reported/flows/events/rpc to publish, own desired/rpc to subscribe, nothing else', function () {
    assert.ok(mayPublish('box-a', 'seine/v1/nodes/box-a/reported'));
    assert.ok(mayPublish('box-a', 'seine/v1/nodes/box-a/rpc/r1'));
    assert.ok(!mayPublish('box-a', 'seine/v1/nodes/box-a/desired'));
    assert.ok(!mayPublish('box-a', 'seine/v1/nodes/box-b/reported'));
    assert.ok(!mayPublish('box-a', 'seine/v1/fleet/releases'));
    assert.ok(!mayPublish(undefined, 'seine/v1/nodes/box-a/reported'));
    assert.ok(maySubscribe('box-a', 'seine/v1/nodes/box-a/desired'));
    assert.ok(maySubscribe('box-a', 'seine/v1/nodes/box-a/rpc/+'));
    for (const f of ['seine/v1/nodes/+/desired', 'seine/v1/nodes/box-b/desired', '#', 'seine/v1/nodes/box-a/#', 'seine/v1/+/box-a/desired', 'seine/v1/nodes/box-a/reported']) {
      assert.ok(!maySubscribe('box-a', f), f);
    }
    assert.ok(maySubscribe(CONTROLLER_USERNAME, 'seine/v1/nodes/+/reported'));
  });
});
