// The lab plays the Kubernetes API for its agents: after every state change it writes the
// boxes, namespaces, pods and Services as a `kind: List` of Node, Namespace, Pod, Service and
// EndpointSlice objects (the shape
// `kubectl get nodes,namespaces,pods -o json` prints), which each agent's FileInventorySource
// watches. Written atomically: an agent never reads half a file.
import { createHash } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { WIREGUARD_KEY_ANNOTATION } from '../api/wireguard.js';
import { serviceObjects } from './services.js';
import type { LabState } from './state.js';

export const INVENTORY_FILE = 'inventory.json';

export function inventoryPath(labDir: string): string {
  return path.join(labDir, INVENTORY_FILE);
}

const uid = (text: string) => {
  const h = createHash('sha256').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
};

// The well-known labels kubelet puts on every Node (what node selectors such as the upstream
// conformance suite's `kubernetes.io/os: linux` pick boxes by); the boxes run on this machine.
const KUBELET_LABELS = { 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': process.arch === 'x64' ? 'amd64' : process.arch };

export function inventoryFromState(s: LabState): object {
  const nodes = s.boxes.map((b) => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: b.name, uid: uid(`node/${b.name}`), labels: { 'kubernetes.io/hostname': b.name, ...KUBELET_LABELS },
      ...(b.wireGuardPublicKey ? { annotations: { [WIREGUARD_KEY_ANNOTATION]: b.wireGuardPublicKey } } : {}),
    },
    spec: { podCIDR: b.podCIDR, podCIDRs: [b.podCIDR] },
    status: { addresses: [{ type: 'InternalIP', address: b.underlayIP }, { type: 'Hostname', address: b.name }] },
  }));
  const namespaces = s.namespaces.map((n) => ({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: n.name, uid: uid(`namespace/${n.name}`), labels: n.labels },
    status: { phase: 'Active' },
  }));
  const pods = s.pods.map((p) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: p.name, namespace: p.namespace, uid: uid(`pod/${p.namespace}/${p.name}/${p.sandboxId}`), labels: p.labels },
    spec: {
      nodeName: p.box,
      containers: [{ name: 'main', image: 'lab', ports: p.ports.map((x) => ({ name: x.name, containerPort: x.port, protocol: x.protocol })) }],
    },
    status: {
      phase: p.phase === 'running' ? 'Running' : 'Pending',
      ...(p.ip ? { podIP: p.ip, podIPs: [{ ip: p.ip }] } : {}),
    },
  }));
  const services = (s.services ?? []).flatMap((svc) => serviceObjects(svc, s.pods, uid));
  return { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items: [...nodes, ...namespaces, ...pods, ...services] };
}

let tmpCounter = 0;

export async function writeInventory(labDir: string, s: LabState): Promise<void> {
  const file = inventoryPath(labDir);
  const tmp = `${file}.${process.pid}.${tmpCounter++}.tmp`;
  await writeFile(tmp, JSON.stringify(inventoryFromState(s), null, 1) + '\n', { mode: 0o644 });
  await rename(tmp, file);
}
