// The lab's DNS server: Debian's dnsmasq on the outside host, answering for the lab's own names
// (`*.seine.test`) from a hosts file with a short TTL, and nothing else (no upstream, no
// /etc/hosts). Each name points at one of the outside host's extra addresses, where the outside
// server answers too, so a pod can resolve a name and connect to what it resolved — what fqdn
// policy rules are about. `setOutsideName` changes an answer (hosts file rewritten, SIGHUP:
// dnsmasq rereads it and drops its cache), as a name moving to another address would.
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../lib/exec.js';
import { isRunning, sleep } from '../lib/process.js';
import { createLogger } from '../lib/log.js';
import { fqdnPatternIssue } from '../api/antrea-peer.js';
import { ipFamily } from '../api/net.js';
import { lastLogLine, spawnDetached, waitStarted } from './lab-processes.js';
import type { BuildContext } from './box.js';
import type { LabState, OutsideState, ProcessRecord } from './state.js';

const log = createLogger('lab.outside-dns');

export const OUTSIDE_DNS_ROLE = 'outside-dns';
/** Seconds: short, so a test sees a changed answer take over quickly. */
export const OUTSIDE_DNS_TTL = 4;

/** The outside host's extra addresses (its subnet is .0/24; .10 is its main address). */
export const outsideExtraIPs = (subnet: string) => [`${subnet}.11`, `${subnet}.12`, `${subnet}.13`];

/** The names the lab starts with. */
export function initialNames(subnet: string): Record<string, string> {
  const [a, b] = outsideExtraIPs(subnet);
  return { 'allowed.seine.test': a!, 'denied.seine.test': b! };
}

const hostsText = (names: Record<string, string>) =>
  Object.entries(names).sort(([a], [b]) => (a < b ? -1 : 1)).map(([n, ip]) => `${ip} ${n}\n`).join('');

function dnsmasqPath(env: NodeJS.ProcessEnv): string | undefined {
  const dirs = [...(env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin', '/sbin'].filter(Boolean);
  return dirs.map((d) => path.join(d, 'dnsmasq')).find((p) => existsSync(p));
}

/**
 * Starts dnsmasq in the outside namespace, listening on the host's main address, port 53 (UDP
 * and TCP). Without dnsmasq installed the lab has no DNS (a warning; src/lab/install-prereqs.sh
 * installs dnsmasq-base) and `outside.dns` stays unset.
 */
export async function startOutsideDns({ env, store }: Pick<BuildContext, 'env' | 'store'>, subnet: string): Promise<void> {
  const o = store.state.outside!;
  const bin = dnsmasqPath(env);
  if (!bin) {
    log.warn('dnsmasq is not installed: the lab has no DNS server (apt-get install dnsmasq-base, or run src/lab/install-prereqs.sh)');
    return;
  }
  const dir = path.dirname(store.file);
  const hostsFile = path.join(dir, 'outside-hosts');
  const names = initialNames(subnet);
  await writeFile(hostsFile, hostsText(names));
  await store.update((s) => void (s.outside!.dns = { ip: o.ip, port: 53, ttl: OUTSIDE_DNS_TTL, hostsFile, names }));
  const logFile = path.join(dir, `${OUTSIDE_DNS_ROLE}.log`);
  const args = [
    '--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--pid-file=',
    `--addn-hosts=${hostsFile}`, `--local-ttl=${OUTSIDE_DNS_TTL}`, '--local=/seine.test/',
    `--listen-address=${o.ip}`, '--bind-interfaces', '--port=53', '--user=root', '--group=root',
    '--log-facility=-', '--log-queries',
  ];
  const ref = spawnDetached({ command: bin, args, netns: o.netns, env, logFile });
  const record: ProcessRecord = { role: OUTSIDE_DNS_ROLE, ...ref, command: ['dnsmasq', ...args].join(' '), logFile };
  await store.update((s) => void s.processes.push(record));
  const listening = async () => (await run('ip', ['netns', 'exec', o.netns, 'ss', '-Huln', 'sport = :53'], { allowFailure: true })).stdout.trim() !== '';
  await waitStarted('the outside DNS server (dnsmasq)', record, listening, () => lastLogLine(logFile), 15_000);
}

/** The outside host's extra addresses, added next to its main one. */
export function extraAddressCommands(subnet: string, prefix: number, dev: string): string[] {
  return outsideExtraIPs(subnet).map((ip) => `ip addr add ${ip}/${prefix} dev ${dev}`);
}

/**
 * Points `name` at `ip` (or removes it with ip undefined) and makes dnsmasq reread its names:
 * the next query gets the new answer. Returns the names as they are now.
 */
export async function setOutsideName(state: Pick<LabState, 'outside' | 'processes'>, name: string, ip: string | undefined): Promise<Record<string, string>> {
  const dns = state.outside?.dns;
  if (!dns) throw new Error('this lab has no DNS server (dnsmasq was not installed when it came up)');
  const lower = name.toLowerCase();
  const issue = fqdnPatternIssue(lower);
  if (issue || lower.startsWith('*')) throw new Error(`name: ${issue ?? 'a name, not a wildcard'}`);
  if (ip !== undefined && ipFamily(ip) !== 4) throw new Error(`ip: ${JSON.stringify(ip)} is not an IPv4 address`);
  const names = await readNames(dns.hostsFile);
  if (ip === undefined) delete names[lower];
  else names[lower] = ip;
  await writeFile(dns.hostsFile, hostsText(names));
  const proc = state.processes.find((p) => p.role === OUTSIDE_DNS_ROLE);
  if (!proc || !isRunning(proc)) throw new Error('the outside DNS server (dnsmasq) is not running');
  // dnsmasq logs `read <file> - N names` each time it reads the hosts file: one more means the new answer is served.
  const reads = async () => ((await readFile(proc.logFile ?? '', 'utf8').catch(() => '')).split(`read ${dns.hostsFile}`).length - 1);
  const before = await reads();
  process.kill(proc.pid, 'SIGHUP');
  for (const deadline = Date.now() + 5000; (await reads()) <= before;) {
    if (Date.now() > deadline) throw new Error(`dnsmasq did not reread ${dns.hostsFile} within 5 s (log: ${proc.logFile})`);
    await sleep(20);
  }
  return names;
}

/** The names dnsmasq serves now (its hosts file). */
export async function readNames(hostsFile: OutsideDns['hostsFile']): Promise<Record<string, string>> {
  const names: Record<string, string> = {};
  for (const line of (await readFile(hostsFile, 'utf8')).split('\n')) {
    const [ip, ...rest] = line.trim().split(/\s+/);
    if (ip) for (const n of rest) names[n] = ip;
  }
  return names;
}

type OutsideDns = NonNullable<OutsideState['dns']>;
