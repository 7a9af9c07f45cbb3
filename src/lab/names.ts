// Where a lab lives and what its resources are called. Everything a lab creates (network
// namespaces, devices, run directories) is named from a short prefix derived from its state
// dir, so a user's lab (/run/seine-lab → `seine`) and any number of test labs never collide.
import { createHash } from 'node:crypto';
import path from 'node:path';

export const DEFAULT_LAB_DIR = '/run/seine-lab';

/** Linux limits interface names to 15 bytes (IFNAMSIZ - 1). */
export const IFNAME_MAX = 15;

/** Unix socket paths are limited to 108 bytes; OVS puts several sockets in each box dir. */
const SOCKET_PATH_MAX = 107;

export function labDirFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.SEINE_LAB_DIR || DEFAULT_LAB_DIR);
}

const shortHash = (text: string, len: number) => createHash('sha256').update(text).digest('hex').slice(0, len);

/** `seine` for the default dir, else `sl` + 4 hex digits of the dir's hash (6 chars). */
export function labPrefix(dir: string): string {
  const abs = path.resolve(dir);
  return abs === DEFAULT_LAB_DIR ? 'seine' : `sl${shortHash(abs, 4)}`;
}

export interface LabNames {
  dir: string;
  prefix: string;
  stateFile: string;
  lockFile: string;
  underlayNetns: string;
  /** Linux bridge in the underlay netns that joins every box's uplink. */
  underlayBridge: string;
  boxNetns(box: string): string;
  /** Private OVS run dir (db, sockets, pidfiles, logs) of a box. */
  boxOvsDir(box: string): string;
  /** Underlay-side end of box i's uplink veth. */
  underlayPort(index: number): string;
  /** Box-side end of the uplink veth; a port of br-phy. */
  boxUplink: string;
  /** Internal port on br-int holding the pod gateway address (like antrea-gw0). */
  gatewayIf: string;
  podNetns(namespace: string, pod: string): string;
  /** Box-side veth of a pod: prefix + hash, like Antrea's hashed host interface names. */
  podHostIf(namespace: string, pod: string): string;
}

export function labNames(dir: string): LabNames {
  const abs = path.resolve(dir);
  const prefix = labPrefix(abs);
  const names: LabNames = {
    dir: abs,
    prefix,
    stateFile: path.join(abs, 'state.json'),
    lockFile: path.join(abs, 'lock'),
    underlayNetns: `${prefix}-underlay`,
    underlayBridge: ifname(`${prefix}-ul`),
    boxNetns: (box) => `${prefix}-${box}`,
    boxOvsDir: (box) => path.join(abs, 'boxes', box),
    underlayPort: (index) => ifname(`${prefix}-u${index}`),
    boxUplink: ifname(`${prefix}-up`),
    gatewayIf: ifname(`${prefix}-gw0`),
    // Namespace names cannot contain dots, so `<ns>.<pod>` is unambiguous.
    podNetns: (namespace, pod) => `${prefix}-${namespace}.${pod}`,
    podHostIf: (namespace, pod) => ifname(`${prefix}-${shortHash(`${namespace}/${pod}`, IFNAME_MAX - prefix.length - 1)}`),
  };
  return names;
}

function ifname(name: string): string {
  if (name.length > IFNAME_MAX || !/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`bad interface name ${name}`);
  return name;
}

/** The longest socket path OVS will create for a box must fit a sockaddr_un. */
export function checkSocketPaths(names: LabNames, box: string): string | undefined {
  const longest = path.join(names.boxOvsDir(box), 'ovs-vswitchd.12345678.ctl');
  return longest.length > SOCKET_PATH_MAX ? `lab dir ${names.dir} is too long for OVS socket paths (box ${box}); use a shorter SEINE_LAB_DIR` : undefined;
}

/** Box i (1-based) in k3s's default cluster CIDR, with an underlay address on 172.31.250.0/24. */
export function boxAddressing(index: number): { podCIDR: string; gatewayIP: string; underlayIP: string } {
  if (!Number.isInteger(index) || index < 1 || index > MAX_BOXES) throw new Error(`box index ${index} out of range 1..${MAX_BOXES}`);
  return {
    podCIDR: `10.42.${index - 1}.0/24`,
    gatewayIP: `10.42.${index - 1}.1`,
    underlayIP: `172.31.250.${10 + index}`,
  };
}

export const MAX_BOXES = 200;
export const UNDERLAY_CIDR = '172.31.250.0/24';
export const POD_MTU = 1450;

/** Locally administered MAC from the IPv4 address, as the CNI plugins do (0a:58:<ip>). */
export function podMac(ip: string): string {
  return ['0a', '58', ...ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}
