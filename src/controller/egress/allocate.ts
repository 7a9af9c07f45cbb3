// Egress IP allocation and egress node selection, as pure functions (Antrea's ExternalIPPool
// allocator in pkg/controller/egress plus the agent's memberlist-based node choice, which Seine
// makes on the controller from MQTT liveness instead). Stable by design: an Egress keeps its IP
// while the IP stays in its pool, and an IP keeps its node while that node is eligible and online;
// otherwise the lowest free IP, and the eligible online node holding fewest egress IPs.
import type { EgressSpec, ExternalIPPool, IPRange } from '../../api/egress.js';
import { ipFamily, ipToBigInt, parseCIDR } from '../../api/net.js';
import { selectorMatches } from '../../policy/compute/selector.js';

export interface EgressInput {
  /** objectKey() of the Egress. */
  key: string;
  name: string;
  spec: EgressSpec;
}

export interface PoolInput {
  name: string;
  spec: ExternalIPPool['spec'];
}

export interface NodeInput {
  name: string;
  online: boolean;
  labels: Readonly<Record<string, string>>;
}

export interface EgressDecision {
  egressIP?: string;
  egressNode?: string;
  /** Allocation failed: the field at fault and why (status condition IPAllocated False). */
  allocationError?: { field: string; message: string };
  /** IP allocated but no eligible online node (status condition IPAssigned False). */
  assignmentError?: string;
}

export interface Previous {
  /** Egress key → the IP it had. */
  ips: ReadonlyMap<string, string>;
  /** Egress IP → the node that held it. */
  nodes: ReadonlyMap<string, string>;
}

/** An IPv4 pool as inclusive integer ranges; CIDRs leave out their network and broadcast addresses. */
export interface PoolRanges {
  ranges: { first: bigint; last: bigint }[];
  total: bigint;
}

export function poolRanges(pool: PoolInput): PoolRanges | { field: string; message: string } {
  if (pool.spec.subnetInfo?.vlan) return { field: 'spec.subnetInfo.vlan', message: 'VLAN egress subnets are not supported yet' };
  const ranges: PoolRanges['ranges'] = [];
  for (const [i, r] of pool.spec.ipRanges.entries()) {
    const range = rangeOf(r);
    if ('message' in range) return { field: `spec.ipRanges[${i}].${range.field}`, message: range.message };
    for (const [j, other] of ranges.entries()) {
      if (range.first <= other.last && other.first <= range.last) return { field: `spec.ipRanges[${i}]`, message: `overlaps spec.ipRanges[${j}]` };
    }
    ranges.push(range);
  }
  return { ranges, total: ranges.reduce((n, r) => n + (r.last - r.first + 1n), 0n) };
}

function rangeOf(r: IPRange): { first: bigint; last: bigint } | { field: string; message: string } {
  if (r.cidr !== undefined) {
    const c = parseCIDR(r.cidr)!;
    if (c.family !== 4) return { field: 'cidr', message: `IPv6 pools are not supported yet (${r.cidr})` };
    const size = 1n << BigInt(32 - c.prefixLength);
    // /31 and /32 have no network or broadcast address to leave out.
    return size <= 2n ? { first: c.network, last: c.network + size - 1n } : { first: c.network + 1n, last: c.network + size - 2n };
  }
  if (ipFamily(r.start!) !== 4) return { field: 'start', message: `IPv6 pools are not supported yet (${r.start})` };
  return { first: ipToBigInt(r.start!), last: ipToBigInt(r.end!) };
}

const toIP = (n: bigint) => [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 255n)).join('.');
const inPool = (p: PoolRanges, ip: string) => ipFamily(ip) === 4 && p.ranges.some((r) => { const n = ipToBigInt(ip); return n >= r.first && n <= r.last; });

function firstFree(p: PoolRanges, used: ReadonlySet<string>): string | undefined {
  for (const r of p.ranges) {
    // `used` is small (the fleet's egress IPs): at most |used|+1 steps per range.
    for (let n = r.first; n <= r.last; n++) if (!used.has(toIP(n))) return toIP(n);
  }
  return undefined;
}

export interface Allocation {
  decisions: Map<string, EgressDecision>;
  /** Per pool: total and used IPs (ExternalIPPool status.usage), or why the pool is unusable. */
  pools: Map<string, { total: number; used: number } | { error: { field: string; message: string } }>;
}

/**
 * `keepOffline`: offline nodes that still keep the IPs they held (a controller that just
 * started has not heard from them yet); they get no new IPs.
 */
export function allocateEgresses(egresses: readonly EgressInput[], pools: readonly PoolInput[], nodes: readonly NodeInput[], previous: Previous, keepOffline: ReadonlySet<string> = new Set()): Allocation {
  const sorted = [...egresses].sort((a, b) => a.key.localeCompare(b.key));
  const poolByName = new Map(pools.map((p) => [p.name, p]));
  const rangesByPool = new Map<string, PoolRanges | { field: string; message: string }>(pools.map((p) => [p.name, poolRanges(p)]));
  const decisions = new Map<string, EgressDecision>();
  const used = new Set<string>();
  const usedInPool = new Map<string, Set<string>>(pools.map((p) => [p.name, new Set<string>()]));
  const fail = (e: EgressInput, field: string, message: string) => decisions.set(e.key, { allocationError: { field, message } });

  // The pool of an Egress, or an allocation error saying what is wrong with the reference.
  const poolOf = (e: EgressInput): PoolRanges | undefined | false => {
    const name = e.spec.externalIPPool;
    if (name === undefined) return undefined;
    if (!poolByName.has(name)) return void fail(e, 'spec.externalIPPool', `ExternalIPPool "${name}" not found`), false;
    const r = rangesByPool.get(name)!;
    if ('message' in r) return void fail(e, 'spec.externalIPPool', `ExternalIPPool "${name}" is invalid: ${r.field}: ${r.message}`), false;
    return r;
  };

  // Fixed IPs first (spec.egressIP), so pool allocation steers around them.
  const fromPool: EgressInput[] = [];
  for (const e of sorted) {
    if (e.spec.egressIPs !== undefined || e.spec.externalIPPools !== undefined) {
      fail(e, e.spec.egressIPs !== undefined ? 'spec.egressIPs' : 'spec.externalIPPools', 'dual-stack Egress is not supported yet: use egressIP and/or externalIPPool');
      continue;
    }
    if (e.spec.bandwidth) {
      fail(e, 'spec.bandwidth', 'egress rate limiting is not supported yet');
      continue;
    }
    const pool = poolOf(e);
    if (pool === false) continue;
    const ip = e.spec.egressIP;
    if (ip === undefined) {
      fromPool.push(e);
      continue;
    }
    if (ipFamily(ip) !== 4) {
      fail(e, 'spec.egressIP', `IPv6 egress IPs are not supported yet (${ip})`);
      continue;
    }
    if (pool && !inPool(pool, ip)) {
      fail(e, 'spec.egressIP', `${ip} is not in ExternalIPPool "${e.spec.externalIPPool}"`);
      continue;
    }
    used.add(ip);
    if (pool) usedInPool.get(e.spec.externalIPPool!)!.add(ip);
    decisions.set(e.key, { egressIP: ip });
  }
  // Then pool allocations: keep the previous IP when it is still in the pool and free.
  const keep = fromPool.filter((e) => {
    const ip = previous.ips.get(e.key);
    const pool = rangesByPool.get(e.spec.externalIPPool!) as PoolRanges;
    if (!ip || used.has(ip) || !inPool(pool, ip)) return true;
    used.add(ip);
    usedInPool.get(e.spec.externalIPPool!)!.add(ip);
    decisions.set(e.key, { egressIP: ip });
    return false;
  });
  for (const e of keep) {
    const name = e.spec.externalIPPool!;
    const pool = rangesByPool.get(name) as PoolRanges;
    const ip = firstFree(pool, used);
    if (!ip) {
      fail(e, 'spec.externalIPPool', `ExternalIPPool "${name}" is exhausted: all ${pool.total} IPs are in use`);
      continue;
    }
    used.add(ip);
    usedInPool.get(name)!.add(ip);
    decisions.set(e.key, { egressIP: ip });
  }

  // Nodes, per IP (Egresses sharing an IP share its node): eligible by the pool's nodeSelector, online.
  const load = new Map<string, number>();
  const nodeOfIP = new Map<string, string | undefined>();
  const eligible = (e: EgressInput, orKept: boolean) => {
    const pool = e.spec.externalIPPool ? poolByName.get(e.spec.externalIPPool) : undefined;
    return nodes.filter((n) => (n.online || (orKept && keepOffline.has(n.name))) && (!pool || selectorMatches(pool.spec.nodeSelector, n.labels)));
  };
  const byIP = (a: EgressInput, b: EgressInput) => decisions.get(a.key)!.egressIP!.localeCompare(decisions.get(b.key)!.egressIP!);
  const withIP = sorted.filter((e) => decisions.get(e.key)?.egressIP).sort(byIP);
  // Previous holders first, so a newcomer never pushes a stable IP off its node.
  for (const pass of ['keep', 'place'] as const) {
    for (const e of withIP) {
      const d = decisions.get(e.key)!;
      const ip = d.egressIP!;
      if (nodeOfIP.has(ip)) continue;
      const candidates = eligible(e, pass === 'keep');
      const prev = previous.nodes.get(ip);
      if (pass === 'keep') {
        if (prev && candidates.some((n) => n.name === prev)) {
          nodeOfIP.set(ip, prev);
          load.set(prev, (load.get(prev) ?? 0) + 1);
        }
        continue;
      }
      const best = [...candidates].sort((a, b) => (load.get(a.name) ?? 0) - (load.get(b.name) ?? 0) || a.name.localeCompare(b.name))[0];
      nodeOfIP.set(ip, best?.name);
      if (best) load.set(best.name, (load.get(best.name) ?? 0) + 1);
    }
  }
  for (const e of withIP) {
    const d = decisions.get(e.key)!;
    const node = nodeOfIP.get(d.egressIP!);
    if (node) d.egressNode = node;
    else d.assignmentError = e.spec.externalIPPool ? `no online node matches the nodeSelector of ExternalIPPool "${e.spec.externalIPPool}"` : 'no node is online';
  }

  const poolStatus: Allocation['pools'] = new Map();
  for (const p of pools) {
    const r = rangesByPool.get(p.name)!;
    poolStatus.set(p.name, 'message' in r ? { error: r } : { total: Number(r.total), used: usedInPool.get(p.name)!.size });
  }
  return { decisions, pools: poolStatus };
}
