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

/** The lab controller's admin file (seinectl's config for it, written by the controller). */
export const labAdminFile = (labDir: string) => path.join(labDir, 'controller', 'seinectl.yaml');

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
  wireGuardDevice(index: number): string;
  /** Box-side end of the uplink veth; a port of br-phy. */
  boxUplink: string;
  podNetns(namespace: string, pod: string): string;
  /** The outside host's namespace (outside.ts) and the underlay router's end of its link. */
  outsideNetns: string;
  outsideRouterPort: string;
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
    // Unique machine-wide, not only in the box: wireguard-go's sockets share /var/run/wireguard.
    wireGuardDevice: (index) => ifname(`${prefix}-w${index}`),
    boxUplink: ifname(`${prefix}-up`),
    // Namespace names cannot contain dots, so `<ns>.<pod>` is unambiguous.
    podNetns: (namespace, pod) => `${prefix}-${namespace}.${pod}`,
    outsideNetns: `${prefix}-outside`,
    outsideRouterPort: ifname(`${prefix}-uo`),
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

/**
 * Box i (1-based) in k3s's default cluster CIDR, with an underlay address on 172.31.250.0/24,
 * or, with two underlay subnets (hybrid mode), alternately on 172.31.250.0/24 and 172.31.251.0/24.
 */
export function boxAddressing(index: number, underlaySubnets: 1 | 2 = 1): { podCIDR: string; gatewayIP: string; underlayIP: string } {
  if (!Number.isInteger(index) || index < 1 || index > MAX_BOXES) throw new Error(`box index ${index} out of range 1..${MAX_BOXES}`);
  return {
    podCIDR: `10.42.${index - 1}.0/24`,
    gatewayIP: `10.42.${index - 1}.1`,
    underlayIP: `${UNDERLAY_SUBNETS[(index - 1) % underlaySubnets]}.${10 + index}`,
  };
}

export const MAX_BOXES = 200;
/** The underlay's /24 subnets; the router address of each is .1 in the underlay namespace. */
export const UNDERLAY_SUBNETS = ['172.31.250', '172.31.251'] as const;
export const UNDERLAY_PREFIX = 24;
export const UNDERLAY_CIDR = `${UNDERLAY_SUBNETS[0]}.0/${UNDERLAY_PREFIX}`;
