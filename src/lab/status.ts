// `lab status`: the state as a stable JSON document for scripts, or as tables for people.
import { isRunning } from '../lib/process.js';
import { formatLabels, formatPort, type ContainerPort, type Labels } from './labels.js';
import { OUTSIDE_ROLE } from './outside.js';
import type { LabState, ProcessRecord } from './state.js';

export interface ProcessStatus {
  role: string;
  pid: number;
  running: boolean;
}

export interface LabStatus {
  dir: string;
  prefix: string;
  phase: LabState['phase'];
  createdAt: string;
  /** Who creates pod sandboxes: direct, or containerd per box through CRI. */
  runtime: LabState['runtime'];
  underlay: { netns: string; bridge: string; cidr: string };
  /** The outside host (outside.ts): null in a lab made before it existed. */
  outside: { netns: string; ip: string; router: string; tcpPort: number; udpPort: number; connectionsLog: string; pid: number | null; running: boolean } | null;
  boxes: {
    name: string;
    netns: string;
    underlayIP: string;
    podCIDR: string;
    gatewayIP: string;
    encap: string;
    ovsDir: string;
    pids: Record<string, number>;
    processes: ProcessStatus[];
    pods: number;
  }[];
  namespaces: { name: string; labels: Labels }[];
  pods: {
    namespace: string;
    name: string;
    labels: Labels;
    ports: ContainerPort[];
    ip: string | null;
    mac: string | null;
    box: string;
    netns: string;
    phase: string;
  }[];
  processes: ProcessStatus[];
  /** url: the REST API (https://); mqttUrl: its broker (mqtts://); adminFile: seinectl's config for it. */
  controller: { url: string; mqttUrl?: string; adminFile?: string; pid: number | null; running: boolean | null } | null;
  nodeRed: { url: string; pid: number | null; running: boolean | null } | null;
}

const procStatus = (p: ProcessRecord): ProcessStatus => ({ role: p.role, pid: p.pid, running: isRunning(p) });

export function labStatus(s: LabState): LabStatus {
  const endpoint = (e: LabState['controller']) =>
    e && { url: e.url, ...(e.mqttUrl ? { mqttUrl: e.mqttUrl } : {}), ...(e.adminFile ? { adminFile: e.adminFile } : {}), pid: e.process?.pid ?? null, running: e.process ? isRunning(e.process) : null };
  return {
    dir: s.dir,
    prefix: s.prefix,
    phase: s.phase,
    createdAt: s.createdAt,
    runtime: s.runtime,
    underlay: { netns: s.underlay.netns, bridge: s.underlay.bridge, cidr: s.underlay.cidr },
    outside: outsideStatus(s),
    boxes: s.boxes.map((b) => ({
      name: b.name,
      netns: b.netns,
      underlayIP: b.underlayIP,
      podCIDR: b.podCIDR,
      gatewayIP: b.gatewayIP,
      encap: b.encap,
      ovsDir: b.ovsDir,
      pids: Object.fromEntries(b.processes.map((p) => [p.role, p.pid])),
      processes: b.processes.map(procStatus),
      pods: s.pods.filter((p) => p.box === b.name).length,
    })),
    namespaces: s.namespaces.map((n) => ({ name: n.name, labels: { ...n.labels } })),
    pods: [...s.pods].sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name)).map((p) => ({
      namespace: p.namespace,
      name: p.name,
      labels: { ...p.labels },
      ports: p.ports,
      ip: p.ip ?? null,
      mac: p.mac ?? null,
      box: p.box,
      netns: p.netns,
      phase: p.phase,
    })),
    processes: s.processes.map(procStatus),
    controller: endpoint(s.controller),
    nodeRed: endpoint(s.nodeRed),
  };
}

function outsideStatus(s: LabState): LabStatus['outside'] {
  const o = s.outside;
  if (!o) return null;
  const server = s.processes.find((p) => p.role === OUTSIDE_ROLE);
  return { netns: o.netns, ip: o.ip, router: o.router, tcpPort: o.port, udpPort: o.port, connectionsLog: o.connectionsLog, pid: server?.pid ?? null, running: server ? isRunning(server) : false };
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

const procText = (p: ProcessStatus) => `${p.role} ${p.pid}${p.running ? '' : ' (exited)'}`;

export function formatStatus(st: LabStatus): string {
  const out: string[] = [];
  out.push(`lab ${st.dir} (prefix ${st.prefix}, ${st.phase}, since ${st.createdAt}, underlay ${st.underlay.cidr}, runtime ${st.runtime})`, '');
  out.push(table(['BOX', 'NETNS', 'UNDERLAY', 'POD CIDR', 'ENCAP', 'PODS', 'PROCESSES'],
    st.boxes.map((b) => [b.name, b.netns, b.underlayIP, b.podCIDR, b.encap, String(b.pods), b.processes.map(procText).join(', ')])), '');
  out.push(table(['NAMESPACE', 'LABELS'], st.namespaces.map((n) => [n.name, formatLabels(n.labels)])), '');
  out.push(table(['POD', 'BOX', 'IP', 'MAC', 'NETNS', 'LABELS', 'PORTS'],
    st.pods.map((p) => [`${p.namespace}/${p.name}`, p.box, p.ip ?? `(${p.phase})`, p.mac ?? '', p.netns, formatLabels(p.labels), p.ports.map(formatPort).join(',')])), '');
  const o = st.outside;
  if (o) out.push(`outside: ${o.ip} in ${o.netns} (via ${o.router}), server tcp+udp ${o.tcpPort} ${o.pid ?? '-'}${o.running ? '' : ' (exited)'}, connections in ${o.connectionsLog}`);
  if (st.processes.length) out.push(`processes: ${st.processes.map(procText).join(', ')}`);
  out.push(`controller: ${st.controller?.url ?? '-'}${st.controller?.mqttUrl ? ` (broker ${st.controller.mqttUrl})` : ''}    node-red: ${st.nodeRed?.url ?? '-'}`);
  if (st.controller?.adminFile) out.push(`seinectl: ${st.controller.adminFile} (seinectl finds it by itself for the default lab; else SEINECTL_CONFIG=${st.controller.adminFile})`);
  return out.join('\n');
}
