// Host-local IPAM: hands out addresses of the box's pod CIDR to pod interfaces and remembers
// them in SQLite, keyed by (container id, interface name) as the CNI spec asks of plugins that
// keep state. Like the host-local plugin it continues after the last address it gave out
// (round robin), so a just-released address is not handed to the next pod at once.
import { migrate, type Database } from '../../lib/sqlite.js';
import { createLogger } from '../../lib/log.js';
import { cidrContains, intToIp, ipToInt, parsePodCidr, type PodCidr } from './pod-cidr.js';

const log = createLogger('ipam');

/** This module's tables; append only. */
const migrations = [
  `CREATE TABLE ipam_allocations (
     ip TEXT PRIMARY KEY,
     container_id TEXT NOT NULL,
     ifname TEXT NOT NULL,
     pod_namespace TEXT NOT NULL,
     pod_name TEXT NOT NULL,
     allocated_at TEXT NOT NULL,
     UNIQUE (container_id, ifname)
   );
   CREATE TABLE ipam_cursor (pool TEXT PRIMARY KEY, last_ip TEXT NOT NULL);`,
];

export interface IpamOwner {
  containerId: string;
  ifname: string;
  namespace: string;
  name: string;
}

export interface IpAllocation extends IpamOwner {
  ip: string;
  prefixLength: number;
  gateway: string;
  allocatedAt: string;
}

export class PoolExhaustedError extends Error {
  constructor(readonly cidr: string, readonly size: number) {
    super(`pod CIDR ${cidr} is exhausted: all ${size} pod addresses are allocated (release stale ones with DEL, or give the box a larger pod CIDR)`);
    this.name = 'PoolExhaustedError';
  }
}

interface Row {
  ip: string;
  container_id: string;
  ifname: string;
  pod_namespace: string;
  pod_name: string;
  allocated_at: string;
}

export class HostLocalIpam {
  private constructor(private readonly db: Database, readonly pool: PodCidr) {}

  /** Migrate this module's tables and serve `podCidr` (e.g. the Node's spec.podCIDR). */
  static async open(db: Database, podCidr: string): Promise<HostLocalIpam> {
    const pool = parsePodCidr(podCidr);
    await migrate(db, 'ipam', migrations);
    return new HostLocalIpam(db, pool);
  }

  async lookup(containerId: string, ifname: string): Promise<IpAllocation | undefined> {
    const row = await this.db.get<Row>('SELECT * FROM ipam_allocations WHERE container_id = ? AND ifname = ?', [containerId, ifname]);
    return row && this.toAllocation(row);
  }

  /** The owner's address: the one it already has (a repeated ADD), else the next free one. */
  async allocate(owner: IpamOwner): Promise<IpAllocation> {
    const row = await this.db.transaction(async (tx) => {
      const existing = await tx.get<Row>('SELECT * FROM ipam_allocations WHERE container_id = ? AND ifname = ?', [owner.containerId, owner.ifname]);
      if (existing) return existing;
      const used = new Set((await tx.all<{ ip: string }>('SELECT ip FROM ipam_allocations')).map((r) => ipToInt(r.ip)));
      const cursor = await tx.get<{ last_ip: string }>('SELECT last_ip FROM ipam_cursor WHERE pool = ?', [this.pool.cidr]);
      const ip = this.nextFree(used, cursor ? ipToInt(cursor.last_ip) : this.pool.last);
      if (ip === undefined) throw new PoolExhaustedError(this.pool.cidr, this.pool.size);
      const fresh: Row = {
        ip: intToIp(ip),
        container_id: owner.containerId,
        ifname: owner.ifname,
        pod_namespace: owner.namespace,
        pod_name: owner.name,
        allocated_at: new Date().toISOString(),
      };
      await tx.run(
        'INSERT INTO ipam_allocations (ip, container_id, ifname, pod_namespace, pod_name, allocated_at) VALUES (?, ?, ?, ?, ?, ?)',
        [fresh.ip, fresh.container_id, fresh.ifname, fresh.pod_namespace, fresh.pod_name, fresh.allocated_at],
      );
      await tx.run('INSERT INTO ipam_cursor (pool, last_ip) VALUES (?, ?) ON CONFLICT (pool) DO UPDATE SET last_ip = excluded.last_ip', [this.pool.cidr, fresh.ip]);
      log.info({ ip: fresh.ip, containerId: owner.containerId, pod: `${owner.namespace}/${owner.name}` }, 'allocated pod address');
      return fresh;
    });
    return this.toAllocation(row);
  }

  /** Give the owner's address back; returns what was released (nothing if it had none). */
  async release(containerId: string, ifname: string): Promise<IpAllocation | undefined> {
    const row = await this.db.transaction(async (tx) => {
      const found = await tx.get<Row>('SELECT * FROM ipam_allocations WHERE container_id = ? AND ifname = ?', [containerId, ifname]);
      if (found) await tx.run('DELETE FROM ipam_allocations WHERE ip = ?', [found.ip]);
      return found;
    });
    if (row) log.info({ ip: row.ip, containerId }, 'released pod address');
    return row && this.toAllocation(row);
  }

  async list(): Promise<IpAllocation[]> {
    const rows = await this.db.all<Row>('SELECT * FROM ipam_allocations ORDER BY allocated_at, ip');
    return rows.map((r) => this.toAllocation(r));
  }

  /**
   * After an agent restart: release every allocation whose container no longer has an OVS
   * port (the caller passes the container ids that still do). Returns what was released.
   */
  async reconcile(liveContainerIds: ReadonlySet<string>): Promise<IpAllocation[]> {
    const released = await this.db.transaction(async (tx) => {
      const rows = await tx.all<Row>('SELECT * FROM ipam_allocations');
      const stale = rows.filter((r) => !liveContainerIds.has(r.container_id));
      for (const r of stale) await tx.run('DELETE FROM ipam_allocations WHERE ip = ?', [r.ip]);
      return stale;
    });
    for (const r of released) log.warn({ ip: r.ip, containerId: r.container_id, pod: `${r.pod_namespace}/${r.pod_name}` }, 'released leaked pod address (no OVS port)');
    return released.map((r) => this.toAllocation(r));
  }

  private nextFree(used: Set<number>, after: number): number | undefined {
    const { first, last } = this.pool;
    let candidate = after;
    for (let i = 0; i < this.pool.size; i++) {
      candidate = candidate >= last || candidate < first ? first : candidate + 1;
      if (!used.has(candidate)) return candidate;
    }
    return undefined;
  }

  private toAllocation(r: Row): IpAllocation {
    // The pod CIDR changed since this was allocated: still reported, so DEL and reconcile can free it.
    if (!cidrContains(this.pool, r.ip)) log.warn({ ip: r.ip, pool: this.pool.cidr }, 'allocation outside the current pod CIDR');
    return {
      ip: r.ip,
      prefixLength: this.pool.prefixLength,
      gateway: this.pool.gateway,
      containerId: r.container_id,
      ifname: r.ifname,
      namespace: r.pod_namespace,
      name: r.pod_name,
      allocatedAt: r.allocated_at,
    };
  }
}
