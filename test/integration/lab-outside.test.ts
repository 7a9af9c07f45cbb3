// The lab's outside namespace: created by lab up beyond the underlay router, its server answers
// TCP and UDP with the source address it saw and logs each connection; lab status names it and
// lab down stops the server (by PID) and removes the namespace.
import assert from 'node:assert/strict';
import { Lab } from '../../src/lab/lab.js';
import { readOutsideConnections, OUTSIDE_ROLE } from '../../src/lab/outside.js';
import { netnsExists } from '../../src/lab/netns.js';
import { specFromFlags } from '../../src/lab/spec.js';
import { labStatus } from '../../src/lab/status.js';
import type { LabState } from '../../src/lab/state.js';
import { isRunning } from '../../src/lib/process.js';
import { distProgram } from '../../src/lib/paths.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { spawnCollect } from '../helpers/spawn.js';
import { newLab, removeLab } from './lab-fixture.js';
import { seenFromOutside } from './outside-client.js';

describe('lab outside namespace', function () {
  this.timeout(90_000);
  let lab: Lab;
  let state: LabState;

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool');
    lab = await newLab('outside');
    state = await lab.up(specFromFlags(2, 0));
  });

  after(async () => {
    if (lab) await removeLab(lab);
  });

  it('is named by lab status, with its server running', () => {
    const st = labStatus(state);
    assert.ok(st.outside, 'status has an outside section');
    assert.equal(st.outside.netns, `${state.prefix}-outside`);
    assert.equal(st.outside.ip, '172.31.254.10');
    assert.equal(st.outside.tcpPort, 8080);
    assert.equal(st.outside.running, true);
    assert.ok(netnsExists(st.outside.netns));
  });

  it('sees each box by its underlay address, over TCP and UDP, and logs every connection', async () => {
    const o = state.outside!;
    for (const box of state.boxes) {
      assert.equal(await seenFromOutside(box.netns, o, 'tcp'), box.underlayIP, `${box.name} over tcp`);
      assert.equal(await seenFromOutside(box.netns, o, 'udp'), box.underlayIP, `${box.name} over udp`);
    }
    const logged = await readOutsideConnections(o);
    assert.deepEqual(
      logged.map((c) => [c.proto, c.src, c.dport]),
      state.boxes.flatMap((b) => [['tcp', b.underlayIP, 8080], ['udp', b.underlayIP, 8080]]),
    );
  });

  it('reaches the boxes underlay addresses from outside (the way to NodePorts)', async () => {
    const { run } = await import('../../src/lib/exec.js');
    const r = await run('ip', ['netns', 'exec', state.outside!.netns, 'ping', '-c1', '-W2', state.boxes[1].underlayIP], { allowFailure: true });
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  it('seine lab outside lists the connections; lab outside exec runs a command there', async () => {
    const env = { ...process.env, SEINE_LAB_DIR: lab.dir };
    const list = await spawnCollect(process.execPath, [distProgram('cli/seine.js'), 'lab', 'outside', '--json'], { env });
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual((JSON.parse(list.stdout) as { src: string }[]).map((c) => c.src), state.boxes.flatMap((b) => [b.underlayIP, b.underlayIP]));
    const text = await spawnCollect(process.execPath, [distProgram('cli/seine.js'), 'lab', 'outside'], { env });
    assert.match(text.stdout, /^outside 172\.31\.254\.10 \(.*-outside\), tcp\+udp 8080: 4 connections\n/);
    const exec = await spawnCollect(process.execPath, [distProgram('cli/seine.js'), 'lab', 'outside', 'exec', '--', 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'], { env });
    assert.equal(exec.code, 0, exec.stderr);
    assert.match(exec.stdout, /inet 172\.31\.254\.10\/24/);
  });

  it('lab down stops the server by its PID and removes the namespace', async () => {
    const server = state.processes.find((p) => p.role === OUTSIDE_ROLE)!;
    assert.ok(isRunning(server));
    await removeLab(lab);
    assert.equal(isRunning(server), false, 'outside server stopped');
    assert.equal(netnsExists(state.outside!.netns), false);
    lab = undefined as unknown as Lab;
  });
});
