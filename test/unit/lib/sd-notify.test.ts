// Readiness and watchdog through the real systemd-notify, to a real unix datagram socket.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { SdNotifier, watchdogIntervalMs } from '../../../src/lib/sd-notify.js';

const receiver = new URL('../../fixtures/sd-notify/receiver.py', import.meta.url).pathname;

describe('sd-notify', () => {
  let dir: string;
  let child: ChildProcess | undefined;
  beforeEach(async () => (dir = await mkdtemp(path.join(tmpdir(), 'seine-sdnotify-'))));
  afterEach(async () => {
    if (child?.pid && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('asks for a watchdog ping every half period, only for this process', () => {
    assert.equal(watchdogIntervalMs({ NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '30000000' }, 7), 15_000);
    assert.equal(watchdogIntervalMs({ NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '8' }, 7), undefined);
    assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: '30000000' }, 7), undefined);
    assert.equal(watchdogIntervalMs({ NOTIFY_SOCKET: '/run/x' }, 7), undefined);
  });

  it('is a no-op without NOTIFY_SOCKET', async () => {
    const n = new SdNotifier({}, '/nonexistent/systemd-notify');
    assert.equal(n.enabled, false);
    await n.ready('x');
    await n.stopping();
  });

  it('sends READY=1 with a status, then WATCHDOG=1 pings, then STOPPING=1', async () => {
    const socket = path.join(dir, 'notify.sock');
    const lines: string[] = [];
    child = spawn('python3', [receiver, socket, '20'], { stdio: ['ignore', 'pipe', 'inherit'] });
    // Whole lines only: a pipe read can end mid-line ("…ready' " then "0").
    createInterface({ input: child.stdout! }).on('line', (l) => l && lines.push(l));
    const until = async (pred: () => boolean) => {
      for (let i = 0; i < 100 && !pred(); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(pred(), `got ${JSON.stringify(lines)}`);
    };
    await until(() => lines.includes('bound'));
    const n = new SdNotifier({ NOTIFY_SOCKET: socket, WATCHDOG_USEC: '400000' });
    await n.ready('node box-1 ready');
    await until(() => lines.filter((l) => l.includes('WATCHDOG=1')).length >= 2);
    await n.stopping();
    await until(() => lines.some((l) => l.includes('STOPPING=1')));
    assert.equal(lines.find((l) => l.includes('READY')), `'READY=1\\nSTATUS=node box-1 ready' 0`);
  });
});
