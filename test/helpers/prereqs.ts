// Integration tests need real parts (root, OVS, namespaces). When one is missing the test
// fails with a message saying what to install; it never skips.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { nativeCandidates } from '../../src/lib/netlink/native.js';

const checks = {
  root: () => process.getuid?.() === 0 || 'needs root (network namespaces, OVS): run the tests as root',
  ovs: () => has('ovs-vswitchd') && has('ovsdb-server') && has('ovs-ofctl') || 'needs Open vSwitch: apt-get install openvswitch-switch',
  ip: () => has('ip') || 'needs iproute2: apt-get install iproute2',
  ethtool: () => has('ethtool') || 'needs ethtool: apt-get install ethtool',
  ping: () => has('ping') || 'needs ping: apt-get install iputils-ping',
  mosquitto: () => has('mosquitto') || 'needs mosquitto: apt-get install mosquitto',
  conntrack: () => has('conntrack') || 'needs conntrack: apt-get install conntrack',
  openssl: () => has('openssl') || 'needs openssl (seine certs): apt-get install openssl',
  postgres: () => postgresBin('initdb') !== undefined || 'needs the PostgreSQL server: apt-get install postgresql',
  tshark: () => has('tshark') || 'needs tshark: apt-get install tshark',
  nfcapd: () => (has('nfcapd') && has('nfdump')) || 'needs nfdump: apt-get install nfdump',
  iptables: () => has('iptables-restore') || 'needs iptables (pod masquerading, Egress SNAT, NodePort host rules): apt-get install iptables',
  arping: () => has('arping') || 'needs arping (Egress gratuitous ARP): apt-get install iputils-arping',
  containerd: () => (has('containerd') && has('containerd-shim-runc-v2') && has('ctr')) || 'needs containerd (lab --runtime containerd): apt-get install containerd',
  runc: () => has('runc') || 'needs runc (containerd runs sandboxes with it): apt-get install runc',
  busybox: () => existsSync('/bin/busybox') || 'needs busybox-static (the lab\'s sandbox image): apt-get install busybox-static',
  native: () => nativeCandidates.some((f) => existsSync(f)) || 'needs the seine_native addon (netlink): npx node-gyp rebuild --directory=src/native',
  chromium: () => existsSync('/usr/bin/chromium') || 'needs Debian\'s chromium (the editor tests drive it): apt-get install chromium',
  wireguard: () => (has('wireguard-go') && has('wg')) || 'needs wireguard-go and wg (lab --encryption wireguard): apt-get install wireguard-go wireguard-tools',
  dumpcap: () => has('dumpcap') || 'needs dumpcap (underlay captures): apt-get install tshark',
  python3: () => has('python3') || 'needs python3 (the lab\'s traffic tools): apt-get install python3',
  dnsmasq: () => has('dnsmasq') || 'needs dnsmasq (the lab\'s DNS server on the outside host): apt-get install --no-install-recommends dnsmasq-base',
} satisfies Record<string, () => true | string>;

export type Prereq = keyof typeof checks;

function has(bin: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore', env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
    return true;
  } catch {
    return false;
  }
}

/** A PostgreSQL server program: on PATH, or the newest Debian install under /usr/lib/postgresql. */
export function postgresBin(name: string): string | undefined {
  if (has(name)) return name;
  const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  const found = versions.map((v) => `/usr/lib/postgresql/${v}/bin/${name}`).find((p) => existsSync(p));
  return found;
}

/** Throws (failing the suite's before hook) naming every missing prerequisite. */
export function requirePrereqs(...needs: Prereq[]): void {
  const missing = needs.map((n): true | string => checks[n]()).filter((r): r is string => r !== true);
  if (missing.length) throw new Error(`integration prerequisites missing: ${missing.join('; ')}`);
}
