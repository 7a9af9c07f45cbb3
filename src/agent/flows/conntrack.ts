// Conntrack sources behind one interface: the box's own OVS userspace conntrack
// (`ovs-appctl dpctl/dump-conntrack`, the lab) and kernel conntrack (a ctnetlink dump,
// boxes with the kernel datapath and nf_conntrack_acct=1). A source returns the
// connections of the pod zone with whatever counters it has; the userspace source adds
// counters from the learned OVS flows (accounting.ts).

export interface ConnTuple {
  src: string;
  dst: string;
  /** Transport ports; ICMP: 0 (the echo id is in icmpId). */
  sport: number;
  dport: number;
}

export interface Counters {
  packets: number;
  octets: number;
  reversePackets: number;
  reverseOctets: number;
}

export interface ConntrackEntry {
  /** IANA protocol number. */
  protocol: number;
  orig: ConnTuple;
  reply: ConnTuple;
  icmpId?: number;
  zone: number;
  mark: number;
  /** ct_label, 128 bits. */
  labels: bigint;
  /** TCP state name (ESTABLISHED, TIME_WAIT…); '' for other protocols. */
  tcpState: string;
  /** Seconds until conntrack forgets the entry. */
  timeout?: number;
  counters?: Counters;
  /** Unix seconds the connection started, when the source knows (kernel with nf_conntrack_timestamp). */
  startSeconds?: number;
}

export interface ConntrackSource {
  readonly name: string;
  /** The connections of `zone` now. */
  dump(zone: number): Promise<ConntrackEntry[]>;
  /** Entries in every zone and the table's bound, for metrics. */
  stats?(): Promise<{ total: number; max: number }>;
  /** Releases what the source holds open (the kernel source's netlink socket). */
  close?(): void;
}

export const PROTOCOL_NUMBERS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, sctp: 132, icmpv6: 58 };
export const PROTOCOL_NAMES: Record<number, string> = Object.fromEntries(Object.entries(PROTOCOL_NUMBERS).map(([k, v]) => [v, k]));

/** One connection's identity across polls (zone, protocol, original 5-tuple, ICMP id). */
export const connectionKey = (e: Pick<ConntrackEntry, 'zone' | 'protocol' | 'orig' | 'icmpId'>) =>
  `${e.zone}|${e.protocol}|${e.orig.src}|${e.orig.sport}|${e.orig.dst}|${e.orig.dport}|${e.icmpId ?? ''}`;
