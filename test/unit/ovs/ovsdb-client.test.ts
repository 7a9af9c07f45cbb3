// The OVSDB client against a scripted JSON-RPC server on a unix socket: framing, echo,
// per-operation errors, disconnect handling, reconnect with monitor re-issue, liveness.
import assert from 'node:assert/strict';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { OvsdbClient, OvsdbDisconnectedError, OvsdbError } from '../../../src/agent/ovs/ovsdb.js';
import { JsonStreamSplitter } from '../../../src/lib/jsonrpc-framing.js';
import type { TableUpdates } from '../../../src/agent/ovs/ovsdb-types.js';

type Msg = { id?: unknown; method?: string; params?: unknown[]; result?: unknown; error?: unknown };
type Handler = (msg: Msg, reply: (m: object) => void, sock: net.Socket) => void;

class FakeOvsdb {
  readonly server: net.Server;
  readonly sockets = new Set<net.Socket>();
  received: Msg[] = [];
  constructor(readonly file: string, public handler: Handler) {
    this.server = net.createServer((sock) => {
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
      const split = new JsonStreamSplitter();
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => {
        for (const t of split.push(d)) {
          const msg = JSON.parse(t) as Msg;
          this.received.push(msg);
          this.handler(msg, (m) => sock.write(JSON.stringify(m)), sock);
        }
      });
      sock.on('error', () => {});
    });
  }
  async listen() {
    this.server.listen(this.file);
    await once(this.server, 'listening');
  }
  dropClients() {
    for (const s of this.sockets) s.destroy();
  }
  async close() {
    this.dropClients();
    await new Promise((r) => this.server.close(r));
  }
}

const until = async (cond: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('OVSDB client (scripted server)', () => {
  let dir: string;
  let srv: FakeOvsdb;
  let client: OvsdbClient | undefined;
  let rows: TableUpdates;

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'seine-ovsdb-unit-'));
    rows = { Interface: { u1: { new: { name: 'p1', ofport: 1 } } } };
    srv = new FakeOvsdb(path.join(dir, 'db.sock'), (msg, reply) => {
      if (msg.method === 'echo') reply({ id: msg.id, result: msg.params, error: null });
      else if (msg.method === 'monitor') reply({ id: msg.id, result: rows, error: null });
      else if (msg.method === 'transact') {
        const ops = (msg.params as unknown[]).slice(1) as { op: string }[];
        if (ops[0]?.op === 'insert') reply({ id: msg.id, result: [{ error: 'constraint violation', details: 'bogus is not one of the allowed values' }], error: null });
        else if (ops[0]?.op === 'mutate') reply({ id: msg.id, result: [{ count: 1 }, { error: 'referential integrity violation', details: 'cannot delete Port row' }], error: null });
        else if (ops[0]?.op === 'comment') {
          /* never answered */
        } else reply({ id: msg.id, result: ops.map(() => ({ rows: [] })), error: null });
      } else reply({ id: msg.id, result: null, error: { error: 'unknown method', details: msg.method } });
    });
    await srv.listen();
  });

  afterEach(async () => {
    await client?.close();
    client = undefined;
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const connect = async (extra = {}) => (client = await OvsdbClient.connect({ remote: `unix:${srv.file}`, backoff: { initialMs: 10, maxMs: 50 }, ...extra }));

  it("answers the server's echo requests", async () => {
    await connect();
    const [sock] = srv.sockets;
    const got = new Promise<string>((r) => sock.once('data', (d) => r(String(d))));
    sock.write(JSON.stringify({ id: 'echo', method: 'echo', params: ['x'] }));
    assert.deepEqual(JSON.parse(await got), { id: 'echo', result: ['x'], error: null });
  });

  it('rejects a transaction with the failed operation, its error and details', async () => {
    await connect();
    await assert.rejects(client!.transact([{ op: 'insert', table: 'Bridge', row: { name: 'x' } }]), (e: unknown) => {
      assert.ok(e instanceof OvsdbError);
      assert.equal(e.opIndex, 0);
      assert.equal(e.error, 'constraint violation');
      assert.match(e.message, /operation 0 \(insert on Bridge\): constraint violation: bogus is not one of the allowed values/);
      return true;
    });
    await assert.rejects(client!.transact([{ op: 'mutate', table: 'Bridge', where: [], mutations: [] }]), /failed to commit: referential integrity violation: cannot delete Port row/);
    await assert.rejects(client!.request('frobnicate', []), /frobnicate failed: unknown method/);
    assert.deepEqual(await client!.transact([{ op: 'select', table: 'Bridge', where: [] }]), [{ rows: [] }]);
  });

  it('fails pending requests on disconnect, reconnects, and re-issues monitors reporting what changed', async () => {
    await connect();
    const mon = await client!.monitor(['Interface'], { Interface: ['name', 'ofport'] });
    assert.deepEqual(mon.table('Interface').get('u1'), { name: 'p1', ofport: 1 });
    const pending = client!.transact([{ op: 'comment', comment: 'never answered' }]);
    await until(() => srv.received.some((m) => m.method === 'transact'));
    const updates: TableUpdates[] = [];
    mon.on('update', (u: TableUpdates) => updates.push(u));
    rows = { Interface: { u1: { new: { name: 'p1', ofport: 1 } }, u2: { new: { name: 'p2', ofport: 2 } } } };
    srv.dropClients();
    await assert.rejects(pending, (e: unknown) => e instanceof OvsdbDisconnectedError && /connection to unix:.* lost; transact got no reply/.test(e.message));
    await once(client!, 'reconnect');
    assert.equal(srv.received.filter((m) => m.method === 'monitor').length, 2);
    assert.deepEqual(updates, [{ Interface: { u2: { new: { name: 'p2', ofport: 2 } } } }]);
    assert.equal(mon.table('Interface').size, 2);
    // and 'update' notifications keep flowing into the same monitor
    const [sock] = srv.sockets;
    sock.write(JSON.stringify({ id: null, method: 'update', params: [mon.id, { Interface: { u1: { old: { name: 'p1', ofport: 1 } } } }] }));
    await until(() => updates.length === 2);
    assert.equal(mon.table('Interface').has('u1'), false);
  });

  it('drops a connection whose echo goes unanswered, then reconnects', async () => {
    await connect({ echoIntervalMs: 50 });
    srv.handler = (msg, reply) => {
      if (msg.method !== 'echo') reply({ id: msg.id, result: [], error: null });
    };
    await once(client!, 'disconnect');
    srv.handler = (msg, reply) => reply({ id: msg.id, result: msg.method === 'echo' ? msg.params : [], error: null });
    await once(client!, 'reconnect');
    assert.ok(client!.connected);
  });

  it('gives up the first connect after connectTimeoutMs with the remote in the message', async () => {
    await assert.rejects(OvsdbClient.connect({ remote: `unix:${dir}/nope.sock`, connectTimeoutMs: 100 }), /cannot connect to OVSDB at unix:.*nope\.sock/);
  });
});
