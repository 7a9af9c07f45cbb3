// rtnetlink, the part Seine needs: links (veth pairs across namespaces, up/down, MTU, MAC,
// name), addresses, routes and neighbours. What `ip` would do, as messages on one socket bound
// to one namespace, without a process per change. Each object is a fixed header plus the
// attributes in its table (the tables below are the whole vocabulary Seine speaks).
import { closeSync, openSync } from 'node:fs';
import {
  NLM_F, NetlinkError, attr, attrNested, attrString, codec, decodeAttrs, decodeHeader, encodeAttrs, encodeMessage, parseAttrs, readString, type AttrValues,
} from './message.js';
import { NETLINK_ROUTE, openNetlink, type NetlinkSocket } from './socket.js';

// Message types (linux/rtnetlink.h)
const RTM = { NEWLINK: 16, DELLINK: 17, GETLINK: 18, NEWADDR: 20, DELADDR: 21, GETADDR: 22, NEWROUTE: 24, DELROUTE: 25, GETROUTE: 26, NEWNEIGH: 28, DELNEIGH: 29, GETNEIGH: 30 } as const;

export const AF_INET = 2;
export const AF_INET6 = 10;
const IFF_UP = 0x1;
export const RT_TABLE_MAIN = 254;
export const RT_SCOPE = { UNIVERSE: 0, LINK: 253, HOST: 254 } as const;
const RTN_UNICAST = 1;
const RTPROT_BOOT = 3;
const RTNH_F_ONLINK = 0x4;
export const NUD = { INCOMPLETE: 0x1, REACHABLE: 0x2, STALE: 0x4, DELAY: 0x8, PROBE: 0x10, FAILED: 0x20, NOARP: 0x40, PERMANENT: 0x80 } as const;

// ---- attribute tables ----------------------------------------------------------------------

const LINK_ATTRS = {
  mac: [1, codec.mac], // IFLA_ADDRESS
  name: [3, codec.string], // IFLA_IFNAME
  mtu: [4, codec.u32], // IFLA_MTU
  master: [10, codec.u32], // IFLA_MASTER
  netnsFd: [28, codec.u32], // IFLA_NET_NS_FD
} as const;
const IFLA_LINKINFO = 18;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;

const ADDR_ATTRS = {
  address: [1, codec.ip], // IFA_ADDRESS
  local: [2, codec.ip], // IFA_LOCAL
  label: [3, codec.string], // IFA_LABEL
} as const;

const ROUTE_ATTRS = {
  dst: [1, codec.ip], // RTA_DST
  oif: [4, codec.u32], // RTA_OIF
  gateway: [5, codec.ip], // RTA_GATEWAY
  priority: [6, codec.u32], // RTA_PRIORITY
  prefsrc: [7, codec.ip], // RTA_PREFSRC
  table: [15, codec.u32], // RTA_TABLE
} as const;

const NEIGH_ATTRS = {
  dst: [1, codec.ip], // NDA_DST
  lladdr: [2, codec.mac], // NDA_LLADDR
  ifindex: [8, codec.u32], // NDA_IFINDEX (a dump filter)
} as const;

// ---- fixed headers -------------------------------------------------------------------------

interface IfInfo { family?: number; index?: number; flags?: number; change?: number }
function ifinfomsg(h: IfInfo): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt8(h.family ?? 0, 0);
  b.writeInt32LE(h.index ?? 0, 4);
  b.writeUInt32LE(h.flags ?? 0, 8);
  b.writeUInt32LE(h.change ?? 0, 12);
  return b;
}

interface IfAddr { family: number; prefixLength: number; scope?: number; index: number }
function ifaddrmsg(h: IfAddr): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt8(h.family, 0);
  b.writeUInt8(h.prefixLength, 1);
  b.writeUInt8(h.scope ?? 0, 3);
  b.writeUInt32LE(h.index, 4);
  return b;
}

interface RtMsg { family: number; dstLen: number; table: number; protocol: number; scope: number; type: number; flags: number }
function rtmsg(h: RtMsg): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(h.family, 0);
  b.writeUInt8(h.dstLen, 1);
  b.writeUInt8(h.table < 256 ? h.table : 0, 4);
  b.writeUInt8(h.protocol, 5);
  b.writeUInt8(h.scope, 6);
  b.writeUInt8(h.type, 7);
  b.writeUInt32LE(h.flags, 8);
  return b;
}

function ndmsg(family: number, index: number, state: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(family, 0);
  b.writeInt32LE(index, 4);
  b.writeUInt16LE(state, 8);
  return b;
}

// ---- the objects as Seine sees them ----------------------------------------------------------

export interface Link {
  index: number;
  name: string;
  mac: string;
  mtu: number;
  up: boolean;
  /** The LINKINFO kind (veth, openvswitch, dummy …); absent for plain devices. */
  kind?: string;
  master?: number;
}

export interface Address {
  index: number;
  family: number;
  /** The interface's own address (IFA_LOCAL, or IFA_ADDRESS when there is none). */
  address: string;
  prefixLength: number;
  label?: string;
  scope: number;
}

export interface Route {
  family: number;
  /** "a.b.c.d/len"; "0.0.0.0/0" for the default route. */
  dst: string;
  gateway?: string;
  oif?: number;
  protocol: number;
  scope: number;
  table: number;
  type: number;
  onlink: boolean;
  prefsrc?: string;
  priority?: number;
}

export interface Neighbour {
  index: number;
  family: number;
  ip: string;
  mac?: string;
  /** NUD_* bits */
  state: number;
}

export interface LinkChange {
  up?: boolean;
  mtu?: number;
  mac?: string;
  name?: string;
}

export interface VethSpec {
  name: string;
  mtu?: number;
  mac?: string;
  up?: boolean;
  peer: {
    name: string;
    mtu?: number;
    mac?: string;
    // No `up` here: the kernel would open the peer before pairing it (veth_open: ENOTCONN); set it up after.
    /** The namespace the peer is born in, as a path; default: the same as the host end. */
    netns?: string;
  };
}

export interface RouteSpec {
  /** "a.b.c.d/len" or "0.0.0.0/0" / "default" */
  dst: string;
  gateway?: string;
  /** A name or an index. */
  dev?: string | number;
  onlink?: boolean;
  protocol?: number;
  /** Default: link scope without a gateway, universe with one (what `ip route` does). */
  scope?: number;
  table?: number;
}

const familyOf = (ip: string) => (ip.includes(':') ? AF_INET6 : AF_INET);

function parseCidr(s: string, what: string): { ip: string; len: number; family: number } {
  if (s === 'default') return { ip: '0.0.0.0', len: 0, family: AF_INET };
  const [ip, lenText] = s.split('/');
  const family = familyOf(ip);
  const max = family === AF_INET ? 32 : 128;
  const len = lenText === undefined ? max : Number(lenText);
  if (!Number.isInteger(len) || len < 0 || len > max) throw new Error(`${what}: ${JSON.stringify(s)} has a bad prefix length`);
  codec.ip.enc(ip); // throws naming the address
  return { ip, len, family };
}

// ---- the socket ------------------------------------------------------------------------------

/**
 * rtnetlink in one namespace. Methods are synchronous (see socket.ts); errors are NetlinkErrors
 * whose code is the errno name, with `what` saying the operation and object.
 */
export class Rtnetlink {
  private readonly sock: NetlinkSocket;

  /** netns: a path (/var/run/netns/x, /proc/PID/ns/net); default: the caller's namespace. */
  constructor(readonly netns?: string) {
    this.sock = openNetlink(NETLINK_ROUTE, { netns });
  }

  close(): void {
    this.sock.close();
  }

  private call(what: string, type: number, flags: number, body: Buffer[]): Buffer[] {
    try {
      return this.sock.request(encodeMessage(type, NLM_F.REQUEST | flags, Buffer.concat(body)));
    } catch (err) {
      if (err instanceof NetlinkError) throw new NetlinkError(`${what}${this.netns ? ` in ${this.netns}` : ''}`, err.errno, err.kernelMessage);
      throw err;
    }
  }

  // ---- links ----

  links(): Link[] {
    return this.call('link dump', RTM.GETLINK, NLM_F.DUMP, [ifinfomsg({})]).map(decodeLink);
  }

  /** The link by name or index; undefined when there is none. */
  link(dev: string | number): Link | undefined {
    try {
      const body = typeof dev === 'number' ? [ifinfomsg({ index: dev })] : [ifinfomsg({}), attrString(LINK_ATTRS.name[0], dev)];
      const [m] = this.call(`link ${dev}`, RTM.GETLINK, 0, body);
      return m && decodeLink(m);
    } catch (err) {
      if (isGone(err)) return undefined;
      throw err;
    }
  }

  /** The index of a device; throws ENODEV naming it. */
  index(dev: string): number {
    const l = this.link(dev);
    if (!l) throw new NetlinkError(`link ${dev}${this.netns ? ` in ${this.netns}` : ''}`, 19 /* ENODEV */, 'no such device');
    return l.index;
  }

  /** A veth pair; the peer can be born directly in another namespace. EEXIST when the name is taken. */
  addVeth(spec: VethSpec): void {
    const p = spec.peer;
    const fd = p.netns ? openSync(p.netns, 'r') : undefined;
    try {
      const peer = Buffer.concat([ifinfomsg({}), ...encodeAttrs(LINK_ATTRS, { name: p.name, mtu: p.mtu, mac: p.mac, netnsFd: fd })]);
      const linkinfo = attrNested(IFLA_LINKINFO, [attrString(IFLA_INFO_KIND, 'veth'), attrNested(IFLA_INFO_DATA, [attr(VETH_INFO_PEER, peer)])]);
      this.call(`link add ${spec.name} type veth peer ${p.name}`, RTM.NEWLINK, NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL, [
        ifinfomsg({ flags: spec.up ? IFF_UP : 0, change: spec.up ? IFF_UP : 0 }),
        ...encodeAttrs(LINK_ATTRS, { name: spec.name, mtu: spec.mtu, mac: spec.mac }),
        linkinfo,
      ]);
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  /** Set up/down, MTU, MAC, name, in one message. */
  setLink(dev: string | number, change: LinkChange): void {
    const index = typeof dev === 'number' ? dev : this.index(dev);
    const up = change.up === undefined ? {} : { flags: change.up ? IFF_UP : 0, change: IFF_UP };
    this.call(`link set ${dev}`, RTM.NEWLINK, NLM_F.ACK, [ifinfomsg({ index, ...up }), ...encodeAttrs(LINK_ATTRS, { name: change.name, mtu: change.mtu, mac: change.mac })]);
  }

  /** Delete a link (a veth's peer goes with it); ENODEV when there is none. */
  delLink(dev: string | number): void {
    const body = typeof dev === 'number' ? [ifinfomsg({ index: dev })] : [ifinfomsg({}), attrString(LINK_ATTRS.name[0], dev)];
    this.call(`link del ${dev}`, RTM.DELLINK, NLM_F.ACK, body);
  }

  // ---- addresses ----

  /** Addresses, of one device when `dev` is given, of one family when `family` is. */
  addresses(opts: { dev?: string | number; family?: number } = {}): Address[] {
    const index = opts.dev === undefined ? 0 : typeof opts.dev === 'number' ? opts.dev : this.index(opts.dev);
    const msgs = this.call('address dump', RTM.GETADDR, NLM_F.DUMP, [ifaddrmsg({ family: opts.family ?? 0, prefixLength: 0, index })]);
    return msgs.map(decodeAddress).filter((a) => (!index || a.index === index) && (!opts.family || a.family === opts.family));
  }

  /** `ip addr add|replace CIDR dev DEV [label L]`; add throws EEXIST for an address already there. */
  addAddress(dev: string | number, cidr: string, opts: { label?: string; replace?: boolean } = {}): void {
    const { ip, len, family } = parseCidr(cidr, 'address');
    const index = typeof dev === 'number' ? dev : this.index(dev);
    const flags = NLM_F.ACK | NLM_F.CREATE | (opts.replace ? NLM_F.REPLACE : NLM_F.EXCL);
    this.call(`address ${opts.replace ? 'replace' : 'add'} ${cidr} dev ${dev}`, RTM.NEWADDR, flags, [
      ifaddrmsg({ family, prefixLength: len, index }),
      ...encodeAttrs(ADDR_ATTRS, { local: ip, address: ip, label: opts.label }),
    ]);
  }

  /** EADDRNOTAVAIL when the device does not hold it. */
  delAddress(dev: string | number, cidr: string): void {
    const { ip, len, family } = parseCidr(cidr, 'address');
    const index = typeof dev === 'number' ? dev : this.index(dev);
    this.call(`address del ${cidr} dev ${dev}`, RTM.DELADDR, NLM_F.ACK, [ifaddrmsg({ family, prefixLength: len, index }), ...encodeAttrs(ADDR_ATTRS, { local: ip })]);
  }

  // ---- routes ----

  /** Routes of the main table (or `table`), filtered by protocol and device when given. */
  routes(opts: { family?: number; protocol?: number; dev?: string | number; table?: number } = {}): Route[] {
    const table = opts.table ?? RT_TABLE_MAIN;
    const oif = opts.dev === undefined ? undefined : typeof opts.dev === 'number' ? opts.dev : this.index(opts.dev);
    const family = opts.family ?? AF_INET;
    // With strict checking the kernel filters by table, protocol and device itself; an older
    // kernel ignores the filter, hence the filter here too.
    const msgs = this.call('route dump', RTM.GETROUTE, NLM_F.DUMP, [
      rtmsg({ family, dstLen: 0, table, protocol: opts.protocol ?? 0, scope: 0, type: 0, flags: 0 }),
      ...encodeAttrs(ROUTE_ATTRS, { table: table >= 256 ? table : undefined, oif }),
    ]);
    return msgs.map(decodeRoute).filter((r) => r.table === table && (opts.protocol === undefined || r.protocol === opts.protocol) && (oif === undefined || r.oif === oif));
  }

  /** `ip route replace …` */
  replaceRoute(r: RouteSpec): void {
    this.route('replace', RTM.NEWROUTE, NLM_F.ACK | NLM_F.CREATE | NLM_F.REPLACE, r);
  }

  /** `ip route del …`; ESRCH when there is no such route. */
  delRoute(r: RouteSpec): void {
    this.route('del', RTM.DELROUTE, NLM_F.ACK, r);
  }

  private route(verb: string, type: number, flags: number, r: RouteSpec): void {
    const { ip, len, family } = parseCidr(r.dst, 'route dst');
    const oif = r.dev === undefined ? undefined : typeof r.dev === 'number' ? r.dev : this.index(r.dev);
    const table = r.table ?? RT_TABLE_MAIN;
    const scope = r.scope ?? (r.gateway ? RT_SCOPE.UNIVERSE : RT_SCOPE.LINK);
    const what = `route ${verb} ${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}${r.dev ? ` dev ${r.dev}` : ''}${r.onlink ? ' onlink' : ''}`;
    this.call(what, type, flags, [
      rtmsg({ family, dstLen: len, table, protocol: r.protocol ?? (type === RTM.NEWROUTE ? RTPROT_BOOT : 0), scope: type === RTM.DELROUTE && r.scope === undefined ? RT_SCOPE.UNIVERSE : scope, type: RTN_UNICAST, flags: r.onlink ? RTNH_F_ONLINK : 0 }),
      ...encodeAttrs(ROUTE_ATTRS, { dst: len ? ip : undefined, oif, gateway: r.gateway, table: table >= 256 ? table : undefined }),
    ]);
  }

  // ---- neighbours ----

  neighbours(opts: { dev?: string | number; family?: number } = {}): Neighbour[] {
    const index = opts.dev === undefined ? 0 : typeof opts.dev === 'number' ? opts.dev : this.index(opts.dev);
    const family = opts.family ?? AF_INET;
    const msgs = this.call('neighbour dump', RTM.GETNEIGH, NLM_F.DUMP, [ndmsg(family, 0, 0), ...encodeAttrs(NEIGH_ATTRS, { ifindex: index || undefined })]);
    return msgs.map(decodeNeighbour).filter((n) => (!index || n.index === index) && n.family === family);
  }

  /** `ip neigh replace IP lladdr MAC dev DEV nud permanent` */
  replaceNeighbour(dev: string | number, ip: string, mac: string): void {
    const index = typeof dev === 'number' ? dev : this.index(dev);
    this.call(`neighbour replace ${ip} dev ${dev}`, RTM.NEWNEIGH, NLM_F.ACK | NLM_F.CREATE | NLM_F.REPLACE, [ndmsg(familyOf(ip), index, NUD.PERMANENT), ...encodeAttrs(NEIGH_ATTRS, { dst: ip, lladdr: mac })]);
  }

  /** ENOENT when there is no such entry. */
  delNeighbour(dev: string | number, ip: string): void {
    const index = typeof dev === 'number' ? dev : this.index(dev);
    this.call(`neighbour del ${ip} dev ${dev}`, RTM.DELNEIGH, NLM_F.ACK, [ndmsg(familyOf(ip), index, 0), ...encodeAttrs(NEIGH_ATTRS, { dst: ip })]);
  }
}

/** The object named does not exist (a link: ENODEV; `ip` says "Cannot find device"). */
export const isGone = (err: unknown) => err instanceof NetlinkError && (err.code === 'ENODEV' || err.code === 'ENOENT');
/** A create found the name or address taken. */
export const isExists = (err: unknown) => err instanceof NetlinkError && err.code === 'EEXIST';

// ---- decoders ---------------------------------------------------------------------------------

function decodeLink(m: Buffer): Link {
  const { body } = decodeHeader(m);
  const a = decodeAttrs(LINK_ATTRS, body.subarray(16)) as AttrValues<typeof LINK_ATTRS>;
  const info = parseAttrs(body.subarray(16)).get(IFLA_LINKINFO);
  const kind = info && parseAttrs(info).get(IFLA_INFO_KIND);
  return {
    index: body.readInt32LE(4),
    name: a.name ?? '',
    mac: a.mac ?? '',
    mtu: a.mtu ?? 0,
    up: (body.readUInt32LE(8) & IFF_UP) !== 0,
    ...(kind ? { kind: readString(kind) } : {}),
    ...(a.master ? { master: a.master } : {}),
  };
}

function decodeAddress(m: Buffer): Address {
  const { body } = decodeHeader(m);
  const a = decodeAttrs(ADDR_ATTRS, body.subarray(8));
  return {
    family: body.readUInt8(0),
    prefixLength: body.readUInt8(1),
    scope: body.readUInt8(3),
    index: body.readUInt32LE(4),
    address: a.local ?? a.address ?? '',
    ...(a.label ? { label: a.label } : {}),
  };
}

function decodeRoute(m: Buffer): Route {
  const { body } = decodeHeader(m);
  const a = decodeAttrs(ROUTE_ATTRS, body.subarray(12));
  const family = body.readUInt8(0);
  const dstLen = body.readUInt8(1);
  return {
    family,
    dst: `${a.dst ?? (family === AF_INET ? '0.0.0.0' : '::')}/${dstLen}`,
    table: a.table ?? body.readUInt8(4),
    protocol: body.readUInt8(5),
    scope: body.readUInt8(6),
    type: body.readUInt8(7),
    onlink: (body.readUInt32LE(8) & RTNH_F_ONLINK) !== 0,
    ...(a.gateway ? { gateway: a.gateway } : {}),
    ...(a.oif !== undefined ? { oif: a.oif } : {}),
    ...(a.prefsrc ? { prefsrc: a.prefsrc } : {}),
    ...(a.priority !== undefined ? { priority: a.priority } : {}),
  };
}

function decodeNeighbour(m: Buffer): Neighbour {
  const { body } = decodeHeader(m);
  const a = decodeAttrs(NEIGH_ATTRS, body.subarray(12));
  return {
    family: body.readUInt8(0),
    index: body.readInt32LE(4),
    state: body.readUInt16LE(8),
    ip: a.dst ?? '',
    ...(a.lladdr ? { mac: a.lladdr } : {}),
  };
}

// ---- sockets by namespace ----------------------------------------------------------------------

let own: Rtnetlink | undefined;

/**
 * rtnetlink in `netns` for the length of `fn` (open, run, close: tens of microseconds), or in
 * the process's own namespace on one long-lived socket. A socket kept for a namespace path
 * would outlive a namespace deleted and re-created under the same name, and keep the old one
 * alive; the process's own namespace cannot change under it.
 */
export function withRtnetlink<T>(netns: string | undefined, fn: (r: Rtnetlink) => T): T {
  if (!netns) return fn((own ??= new Rtnetlink()));
  const r = new Rtnetlink(netns);
  try {
    return fn(r);
  } finally {
    r.close();
  }
}
