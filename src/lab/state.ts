// The lab's memory between CLI calls: one JSON file, written atomically (temp + rename) so a
// reader or a `kill -9` never sees half a file. Every resource is recorded here *before* it is
// created (write-ahead), which is what lets `lab down` clean up after an interrupted `lab up`.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { UserError } from '../lib/errors.js';
import { ENCAPS } from './encap.js';
import { RUNTIMES } from './runtimes.js';
import { serviceState } from './services.js';

const processRecord = z.object({
  /** What it is: ovsdb-server, ovs-vswitchd, agent, controller, node-red … */
  role: z.string(),
  pid: z.number().int(),
  /** Start time in clock ticks since boot (ProcessRef.start). */
  start: z.number(),
  command: z.string().optional(),
  logFile: z.string().optional(),
});

const boxState = z.object({
  name: z.string(),
  index: z.number().int(),
  phase: z.enum(['creating', 'ready']),
  netns: z.string(),
  ovsDir: z.string(),
  podCIDR: z.string(),
  gatewayIP: z.string(),
  gatewayIf: z.string(),
  underlayIP: z.string(),
  uplink: z.string(),
  underlayPort: z.string(),
  encap: z.enum(ENCAPS),
  processes: z.array(processRecord),
  /** The agent runs from a release layout under the launcher (lab up --ota). */
  ota: z.boolean().optional(),
  /** lab up --encryption wireguard: the box's WireGuard device and the public key its agent published. */
  wireGuardDevice: z.string().optional(),
  wireGuardPublicKey: z.string().optional(),
});

const namespaceState = z.object({
  name: z.string(),
  labels: z.record(z.string(), z.string()),
});

const podState = z.object({
  namespace: z.string(),
  name: z.string(),
  phase: z.enum(['creating', 'running']),
  box: z.string(),
  netns: z.string(),
  /** The sandbox container id CNI sees: containerd's (runtime containerd), or a random stand-in ('' while containerd creates it). */
  sandboxId: z.string(),
  /** The pod's uid (CRI metadata, K8S_POD_UID); absent in state written before runtimes. */
  uid: z.string().optional(),
  labels: z.record(z.string(), z.string()),
  ports: z.array(z.object({ name: z.string(), port: z.number().int(), protocol: z.enum(['TCP', 'UDP', 'SCTP']) })),
  ip: z.string().optional(),
  mac: z.string().optional(),
  ifname: z.string().optional(),
  hostIfname: z.string().optional(),
});

/** The outside namespace (outside.ts); absent in a state written before it existed. */
const outsideState = z.object({
  netns: z.string(),
  ip: z.string(),
  /** The underlay router's address on the outside link, and its device in the underlay netns. */
  router: z.string(),
  routerPort: z.string(),
  /** TCP and UDP port of the outside server. */
  port: z.number().int(),
  /** One JSON line per connection the outside server saw. */
  connectionsLog: z.string(),
  created: z.boolean(),
  /** The lab's DNS server (outside-dns.ts): dnsmasq on `ip`:`port`; absent without dnsmasq or in older state. */
  dns: z.object({ ip: z.string(), port: z.number().int(), ttl: z.number().int(), hostsFile: z.string(), names: z.record(z.string(), z.string()) }).optional(),
});

/** mqttUrl and adminFile: the controller's broker and seinectl's config for it (absent for Node-RED and in older state). */
const endpoint = z.object({ url: z.string(), mqttUrl: z.string().optional(), adminFile: z.string().optional(), process: processRecord.optional() }).nullable();

export const labStateSchema = z.object({
  version: z.literal(1),
  dir: z.string(),
  prefix: z.string(),
  phase: z.enum(['creating', 'up', 'destroying']),
  createdAt: z.string(),
  underlay: z.object({ netns: z.string(), bridge: z.string(), cidr: z.string(), created: z.boolean() }),
  outside: outsideState.optional(),
  boxes: z.array(boxState),
  namespaces: z.array(namespaceState),
  pods: z.array(podState),
  /** Services (the lab computes their EndpointSlices); absent in state written before Services. */
  services: z.array(serviceState).default([]),
  /** Who creates pod sandboxes (pod-runtime.ts); absent in state written before runtimes. */
  runtime: z.enum(RUNTIMES).default('direct'),
  /** Lab-wide processes (controller, Node-RED, broker …). */
  processes: z.array(processRecord),
  controller: endpoint,
  nodeRed: endpoint,
});

export type ProcessRecord = z.infer<typeof processRecord>;
export type OutsideState = z.infer<typeof outsideState>;
export type BoxState = z.infer<typeof boxState>;
export type NamespaceState = z.infer<typeof namespaceState>;
export type PodState = z.infer<typeof podState>;
export type LabState = z.infer<typeof labStateSchema>;

export async function readState(file: string): Promise<LabState | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw err;
  }
  const parsed = labStateSchema.safeParse(safeJson(text));
  if (!parsed.success) throw new UserError(`lab state ${file} is unreadable; remove it by hand after checking \`ip netns list\``);
  return parsed.data;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

let tmpCounter = 0;

export async function writeState(file: string, state: LabState): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${tmpCounter++}.tmp`;
  await writeFile(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o644 });
  await rename(tmp, file);
}
