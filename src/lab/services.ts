// Services in the lab: the lab plays the API server and the EndpointSlice controller. A
// Service is recorded in the lab state with its cluster IP (and node ports) allocated here;
// every write of the inventory file recomputes each Service's EndpointSlice from the running
// pods that match its selector, so endpoints follow pod changes like in a cluster.
import { isIP } from 'node:net';
import { z } from 'zod';
import { UserError } from '../lib/errors.js';
import { labelKeyError, labelValueError, nameError, type Labels } from './labels.js';

const protocol = z.enum(['TCP', 'UDP', 'SCTP']);

export const serviceState = z.object({
  namespace: z.string(),
  name: z.string(),
  type: z.enum(['ClusterIP', 'NodePort']),
  clusterIP: z.string(),
  selector: z.record(z.string(), z.string()),
  ports: z.array(z.object({ name: z.string(), port: z.number().int(), targetPort: z.number().int(), protocol, nodePort: z.number().int().optional() })),
  /** ClientIP session affinity timeout in seconds; absent: affinity None. */
  affinitySeconds: z.number().int().optional(),
  /** `--traffic-policy Local` sets both the external and the internal policy. */
  trafficPolicy: z.enum(['Cluster', 'Local']),
});
export type ServiceState = z.infer<typeof serviceState>;
export type ServicePortSpec = ServiceState['ports'][number];

/** k3s's service CIDR; the lab hands out addresses from .0.100 up (k3s keeps .1 and .10). */
export const LAB_SERVICE_CIDR = '10.43.0.0/16';
const FIRST_CLUSTER_IP = 100;
/** The Kubernetes default node port range. */
export const NODE_PORT_RANGE = [30000, 32767] as const;
const DEFAULT_AFFINITY_SECONDS = 10_800;

export interface ServiceRequest {
  namespace: string;
  name: string;
  type: 'ClusterIP' | 'NodePort';
  selector: Labels;
  ports: Omit<ServicePortSpec, 'nodePort'>[];
  affinitySeconds?: number;
  trafficPolicy: 'Cluster' | 'Local';
}

/** `[name=]port:targetPort[/proto]`, several separated by commas; `80` alone means 80:80/TCP. */
export function parseServicePorts(texts: string[]): ServiceRequest['ports'] {
  const items = texts.flatMap((t) => t.split(',')).map((s) => s.trim()).filter(Boolean);
  if (!items.length) throw new UserError('a Service needs at least one --port (e.g. --port 80:8080/TCP)');
  const ports = items.map((item) => {
    const m = /^(?:([a-z0-9]([-a-z0-9]*[a-z0-9])?)=)?(\d+)(?::(\d+))?(?:\/(TCP|UDP|SCTP))?$/i.exec(item);
    if (!m) throw new UserError(`bad --port '${item}': expected [name=]port:targetPort/PROTO, e.g. 80:8080/TCP`);
    const port = Number(m[3]);
    const targetPort = m[4] ? Number(m[4]) : port;
    for (const [what, n] of [['port', port], ['targetPort', targetPort]] as const) {
      if (n < 1 || n > 65535) throw new UserError(`bad --port '${item}': ${what} ${n} is not in 1-65535`);
    }
    return { name: m[1] ?? '', port, targetPort, protocol: (m[5]?.toUpperCase() ?? 'TCP') as ServicePortSpec['protocol'] };
  });
  // Kubernetes: ports must be named when there are several, and names and port/protocol unique.
  if (ports.length > 1) ports.forEach((p) => (p.name ||= `${p.protocol.toLowerCase()}-${p.port}`));
  const seen = new Set<string>();
  for (const p of ports) {
    for (const key of [`${p.port}/${p.protocol}`, ...(p.name ? [`name ${p.name}`] : [])]) {
      if (seen.has(key)) throw new UserError(`duplicate --port ${key}`);
      seen.add(key);
    }
  }
  return ports;
}

/** `ClientIP` or `ClientIP:<seconds>` (1-86400; default 10800, Kubernetes' default). */
export function parseAffinity(text: string | undefined): number | undefined {
  if (text === undefined || text === 'None') return undefined;
  const m = /^ClientIP(?::(\d+))?$/.exec(text);
  if (!m) throw new UserError(`bad --affinity '${text}': expected None, ClientIP or ClientIP:<seconds>`);
  const seconds = m[1] ? Number(m[1]) : DEFAULT_AFFINITY_SECONDS;
  if (seconds < 1 || seconds > 86400) throw new UserError(`bad --affinity '${text}': the timeout must be 1-86400 seconds`);
  return seconds;
}

export function parseSelector(text: string): Labels {
  const selector: Labels = {};
  for (const item of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = item.indexOf('=');
    if (eq < 0) throw new UserError(`bad --selector '${item}': expected key=value`);
    const [k, v] = [item.slice(0, eq), item.slice(eq + 1)];
    const err = labelKeyError(k) ?? labelValueError(v);
    if (err) throw new UserError(`bad --selector: ${err}`);
    selector[k] = v;
  }
  if (!Object.keys(selector).length) throw new UserError('a Service needs a --selector (e.g. --selector app=web)');
  return selector;
}

const ipToInt = (ip: string) => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
const intToIP = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');

/** The Service with its cluster IP and node ports allocated against the ones already taken. */
export function allocateService(req: ServiceRequest, existing: readonly ServiceState[]): ServiceState {
  const err = nameError(req.name) ?? nameError(req.namespace);
  if (err) throw new UserError(err);
  if (existing.some((s) => s.namespace === req.namespace && s.name === req.name)) throw new UserError(`service ${req.namespace}/${req.name} already exists`);
  const usedIPs = new Set(existing.map((s) => s.clusterIP));
  const base = ipToInt('10.43.0.0');
  let ip = '';
  for (let i = FIRST_CLUSTER_IP; i < 65535; i++) {
    const candidate = intToIP(base + i);
    if (!usedIPs.has(candidate)) {
      ip = candidate;
      break;
    }
  }
  if (!ip || isIP(ip) !== 4) throw new UserError(`no free cluster IP left in ${LAB_SERVICE_CIDR}`);
  const usedPorts = new Set(existing.flatMap((s) => s.ports.flatMap((p) => (p.nodePort ? [p.nodePort] : []))));
  let next = NODE_PORT_RANGE[0];
  const ports = req.ports.map((p) => {
    if (req.type !== 'NodePort') return { ...p };
    while (usedPorts.has(next)) next++;
    if (next > NODE_PORT_RANGE[1]) throw new UserError('no free node port left in 30000-32767');
    usedPorts.add(next);
    return { ...p, nodePort: next };
  });
  return {
    namespace: req.namespace, name: req.name, type: req.type, clusterIP: ip, selector: req.selector, ports,
    ...(req.affinitySeconds ? { affinitySeconds: req.affinitySeconds } : {}),
    trafficPolicy: req.trafficPolicy,
  };
}

interface PodLike {
  namespace: string;
  name: string;
  box: string;
  phase: string;
  labels: Labels;
  ip?: string | undefined;
}

const selects = (selector: Labels, labels: Labels) => Object.entries(selector).every(([k, v]) => labels[k] === v);

/** The pods a Service balances to: running, addressed, in its namespace, matching its selector. */
export function serviceEndpoints(svc: ServiceState, pods: readonly PodLike[]): PodLike[] {
  return pods
    .filter((p) => p.namespace === svc.namespace && p.phase === 'running' && p.ip && selects(svc.selector, p.labels))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The Service and its EndpointSlice as the API server would serve them (`kubectl get svc,endpointslices -o json`). */
export function serviceObjects(svc: ServiceState, pods: readonly PodLike[], uid: (key: string) => string): object[] {
  const policy = svc.trafficPolicy;
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: svc.name, namespace: svc.namespace, uid: uid(`service/${svc.namespace}/${svc.name}`) },
    spec: {
      type: svc.type,
      clusterIP: svc.clusterIP,
      clusterIPs: [svc.clusterIP],
      selector: svc.selector,
      ports: svc.ports.map((p) => ({ ...(p.name ? { name: p.name } : {}), protocol: p.protocol, port: p.port, targetPort: p.targetPort, ...(p.nodePort ? { nodePort: p.nodePort } : {}) })),
      sessionAffinity: svc.affinitySeconds ? 'ClientIP' : 'None',
      ...(svc.affinitySeconds ? { sessionAffinityConfig: { clientIP: { timeoutSeconds: svc.affinitySeconds } } } : {}),
      internalTrafficPolicy: policy,
      ...(svc.type === 'NodePort' ? { externalTrafficPolicy: policy } : {}),
    },
  };
  const slice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${svc.name}-lab`, namespace: svc.namespace, uid: uid(`endpointslice/${svc.namespace}/${svc.name}`), labels: { 'kubernetes.io/service-name': svc.name } },
    addressType: 'IPv4',
    endpoints: serviceEndpoints(svc, pods).map((p) => ({
      addresses: [p.ip],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: p.box,
      targetRef: { kind: 'Pod', namespace: p.namespace, name: p.name },
    })),
    ports: svc.ports.map((p) => ({ ...(p.name ? { name: p.name } : {}), protocol: p.protocol, port: p.targetPort })),
  };
  return [service, slice];
}

export function formatService(s: ServiceState, endpoints: number): string {
  const ports = s.ports.map((p) => `${p.name ? `${p.name}=` : ''}${p.port}${p.nodePort ? `:${p.nodePort}` : ''}->${p.targetPort}/${p.protocol}`).join(',');
  const extra = [s.affinitySeconds ? `affinity=ClientIP:${s.affinitySeconds}` : '', s.trafficPolicy === 'Local' ? 'traffic-policy=Local' : ''].filter(Boolean).join(' ');
  return `${s.namespace}/${s.name}\t${s.type}\t${s.clusterIP}\t${ports}\t${endpoints} endpoint${endpoints === 1 ? '' : 's'}${extra ? `\t${extra}` : ''}`;
}
