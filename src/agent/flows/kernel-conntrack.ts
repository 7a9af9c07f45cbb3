// Kernel conntrack over ctnetlink, for boxes on the kernel datapath: one netlink dump per poll
// (IPCTNL_MSG_CT_GET, NLM_F_DUMP, AF_INET, CTA_ZONE so the kernel sends only the pod zone) on a
// socket the source keeps open, decoded by src/lib/netlink/conntrack.ts; no `conntrack` process.
// Counters need net.netfilter.nf_conntrack_acct=1, start times nf_conntrack_timestamp=1
// (enableAccounting). IPv4 only, as the flow records are (the codec reads IPv6 too). Unlike the
// conntrack tool, ct_label comes as its 128 bits, with no connlabel.conf name map.
import { readFile, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { NetnsPathSchema } from '../../api/cni.js';
import { validateConfig } from '../../api/config-file.js';
import { createLogger } from '../../lib/log.js';
import { AF_INET, decodeCtMessage, decodeStats, encodeDumpRequest, encodeStatsRequest } from '../../lib/netlink/conntrack.js';
import { NETLINK_NETFILTER, openNetlink, type NetlinkSocket } from '../../lib/netlink/socket.js';
import { type ConntrackEntry, type ConntrackSource } from './conntrack.js';

/**
 * The IPv4 connections of `zone` in a dump's reply messages. The dump asks the kernel for just
 * those, but older kernels ignore its zone filter.
 */
export function kernelEntries(msgs: readonly Buffer[], zone: number): ConntrackEntry[] {
  const out: ConntrackEntry[] = [];
  for (const m of msgs) {
    const e = decodeCtMessage(m);
    if (e && e.zone === zone && e.family === AF_INET) out.push(e); // a CtEntry is a ConntrackEntry, field for field
  }
  return out;
}

const log = createLogger('flows.kernel');

/** The sysctls kernel flow records need: per-connection counters, and start times. */
export const CONNTRACK_SYSCTLS = ['net.netfilter.nf_conntrack_acct', 'net.netfilter.nf_conntrack_timestamp'] as const;

const OptionsSchema = z.object({ netns: NetnsPathSchema.optional() });

export class KernelConntrackSource implements ConntrackSource {
  readonly name = 'kernel';
  private socket: NetlinkSocket | undefined;
  private readonly netns: string | undefined;

  /** `netns`: the path of another network namespace (/var/run/netns/NAME) whose table to read. */
  constructor(opts: { netns?: string } = {}) {
    this.netns = validateConfig(opts, 'kernel conntrack source', OptionsSchema).netns;
  }

  /**
   * Turns on conntrack accounting and timestamps in this network namespace (the agent's), as
   * flow counters need; logs what it set. Returns each sysctl's value before.
   */
  async enableAccounting(): Promise<Record<string, number>> {
    const before: Record<string, number> = {};
    for (const name of CONNTRACK_SYSCTLS) {
      const file = `/proc/sys/${name.replace(/\./g, '/')}`;
      before[name] = Number((await readFile(file, 'utf8')).trim());
      if (before[name] !== 1) await writeFile(file, '1\n');
    }
    const set = CONNTRACK_SYSCTLS.filter((n) => before[n] !== 1);
    if (set.length) log.info({ set: set.map((n) => `${n}=1`), before }, `kernel conntrack: set ${set.map((n) => `${n}=1`).join(', ')} for flow counters and start times`);
    else log.info({ sysctls: CONNTRACK_SYSCTLS }, 'kernel conntrack: accounting and timestamps already on');
    return before;
  }

  async dump(zone: number): Promise<ConntrackEntry[]> {
    return kernelEntries(this.request(encodeDumpRequest({ family: AF_INET, zone })), zone);
  }

  /** Entries in every zone (the namespace's table) and the table's bound. */
  async stats(): Promise<{ total: number; max: number }> {
    const s = decodeStats(this.request(encodeStatsRequest()));
    // Kernels before CTA_STATS_GLOBAL_MAX_ENTRIES: the bound is one value for the whole box.
    const max = s.max ?? Number((await readFile('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8')).trim());
    return { total: s.total, max };
  }

  /** Closes the netlink socket (a later call opens a new one). */
  close(): void {
    this.socket?.close();
    this.socket = undefined;
  }

  /** One request on the kept socket; a failed one drops the socket so the next poll starts clean. */
  private request(msg: Buffer): Buffer[] {
    this.socket ??= openNetlink(NETLINK_NETFILTER, this.netns ? { netns: this.netns } : {});
    try {
      return this.socket.request(msg);
    } catch (err) {
      this.close();
      throw err;
    }
  }
}
