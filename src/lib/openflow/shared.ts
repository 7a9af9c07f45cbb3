// One connection per bridge, shared by everything in the process that talks to it (flow
// programming, packet-in, packet-out, stats): users acquire it by the bridge's remote and
// release it when done; the last release closes it. It always asks for packet-ins: the agent is
// the bridge's only controller, and a connection that set them up once serves every user.
import { OpenFlowConnection, type OpenFlowConnectionOptions } from './connection.js';

interface Entry {
  conn: Promise<OpenFlowConnection>;
  refs: number;
}

const entries = new Map<string, Entry>();

export interface SharedConnection {
  readonly conn: OpenFlowConnection;
  /** Gives the reference back; closes the connection when it was the last. Idempotent. */
  release(): Promise<void>;
}

const key = (remote: string) => remote.replace(/^unix:/, '');

/** The process's connection to `remote`, opened on first use (options apply only then). */
export async function acquireConnection(remote: string, opts: Omit<OpenFlowConnectionOptions, 'remote' | 'packetIn'> = {}): Promise<SharedConnection> {
  const k = key(remote);
  let e = entries.get(k);
  if (!e) {
    const entry: Entry = { refs: 0, conn: OpenFlowConnection.connect({ ...opts, remote, packetIn: true }) };
    entries.set(k, (e = entry));
    // A failed open leaves no entry behind: the next acquire tries again.
    entry.conn.catch(() => entries.get(k) === entry && entries.delete(k));
  }
  e.refs++;
  const entry = e;
  let conn: OpenFlowConnection;
  try {
    conn = await entry.conn;
  } catch (err) {
    entry.refs--;
    throw err;
  }
  let released = false;
  return {
    conn,
    async release() {
      if (released) return;
      released = true;
      if (--entry.refs > 0 || entries.get(k) !== entry) return;
      entries.delete(k);
      await conn.close();
    },
  };
}

/**
 * A holder that acquires the bridge's connection on first use and gives it back on close: for
 * components that talk to the bridge only now and then (packet-outs, stats).
 */
export class LazyConnection {
  private shared?: Promise<SharedConnection>;

  constructor(readonly remote: string) {}

  async get(): Promise<OpenFlowConnection> {
    this.shared ??= acquireConnection(this.remote).catch((err: unknown) => {
      this.shared = undefined;
      throw err;
    });
    return (await this.shared).conn;
  }

  async close(): Promise<void> {
    const s = this.shared;
    this.shared = undefined;
    if (s) await (await s.catch(() => undefined))?.release();
  }
}
