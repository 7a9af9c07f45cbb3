// Wiring helper for agent.ts: the sync module when the config has a `controller` section.
import type { WireGuardIdentity } from '../../api/wireguard.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { AgentConfig } from '../../api/config.js';
import type { NodeReported, PodInventoryEntry } from '../../api/node-state.js';
import type { Database } from '../../lib/sqlite.js';
import { createLogger } from '../../lib/log.js';
import { NodeIdentity } from '../identity/node-identity.js';
import type { InventorySource } from '../../api/inventory.js';
import { AgentSync, type AgentSyncOptions } from './agent-sync.js';
import type { RealizerRegistry } from './realizers.js';

export { AgentSync } from './agent-sync.js';
export { RealizerRegistry, NOT_SUPPORTED_REASON, type Realizer, type RealizeOutcome } from './realizers.js';

export const AGENT_VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** `wireGuard`: the box's key and port, reported to the controller (trafficEncryptionMode wireGuard). */
export async function startAgentSync(cfg: AgentConfig, db: Database, inventory: InventorySource, realizers: RealizerRegistry, wireGuard?: WireGuardIdentity): Promise<AgentSync | undefined> {
  const c = cfg.controller;
  if (!c) return undefined;
  // Enrollment: the box enrolls when it has no certificate yet (a refused token stops the start
  // with its reason), then renews it; each renewal reconnects the session with the new one.
  const identity = c.enrollment
    ? await NodeIdentity.load({ node: cfg.nodeName, pkiDir: path.join(cfg.stateDir, 'pki'), server: c.enrollment.server, serverSocket: c.enrollment.serverSocket, token: c.enrollment.token, caFingerprint: c.enrollment.caFingerprint })
    : undefined;
  const sync = await AgentSync.open({
    node: cfg.nodeName,
    url: c.url,
    ...(identity ? { username: cfg.nodeName, tls: identity.tls } : credentials(c, cfg.nodeName)),
    db,
    realizers,
    agentVersion: AGENT_VERSION,
    outboxLimit: c.outboxLimit,
    outboxBytes: c.outboxBytes,
    maxMessageBytes: c.maxMessageBytes,
    protocolVersion: c.protocolVersion,
    inventory: () => reportedInventory(inventory, cfg.nodeName),
    ...(wireGuard ? { wireGuard } : {}),
  });
  await sync.start();
  if (identity) {
    identity.onRenewed((tls) => sync.reconnectWithTls(tls));
    identity.start();
    sync.onStop(() => identity.stop());
    log.info({ serial: identity.certificate.serialNumber, notAfter: identity.certificate.validTo, renewInMs: Math.round(identity.renewDelay()) }, 'node certificate loaded');
  }
  // Pods come and go: the controller's span follows them (coalesced: a burst is one report).
  let pending: NodeJS.Timeout | undefined;
  inventory.on('change', (c) => {
    // Node changes concern the datapath, except this node's labels (pool nodeSelectors).
    if ((c.kind === 'Node' && c.object.name !== cfg.nodeName) || pending) return;
    pending = setTimeout(() => {
      pending = undefined;
      sync.inventoryChanged().catch(() => undefined);
    }, INVENTORY_REPORT_DELAY_MS);
    pending.unref();
  });
  return sync;
}

/** Password or certificate login; over TLS the broker's CA from caFile (or the certificate credentials' caFile). */
function credentials(c: NonNullable<AgentConfig['controller']>, node: string): Pick<AgentSyncOptions, 'username' | 'password' | 'tls'> {
  if (!c.credentials) throw new Error('controller: neither credentials nor enrollment'); // the schema refuses this
  const caFile = c.caFile ?? ('caFile' in c.credentials ? c.credentials.caFile : undefined);
  const ca = caFile ? { ca: readFileSync(caFile) } : {};
  if ('certFile' in c.credentials) {
    return { username: node, tls: { ...ca, cert: readFileSync(c.credentials.certFile), key: readFileSync(c.credentials.keyFile) } };
  }
  return { username: c.credentials.username, password: c.credentials.password, ...(caFile ? { tls: ca } : {}) };
}

const INVENTORY_REPORT_DELAY_MS = 100;
const log = createLogger('agent.sync');

/** This box's pods and every namespace's labels (namespaceSelectors need them). */
function reportedInventory(inventory: InventorySource, node: string): NodeReported['inventory'] {
  const snap = inventory.snapshot();
  const pods: PodInventoryEntry[] = [];
  for (const p of snap.pods.values()) {
    if (p.nodeName !== node || p.hostNetwork) continue;
    // Ports only when declared: the controller resolves named ports against them (evaluation).
    const ports = p.ports.map((x) => ({ ...(x.name ? { name: x.name } : {}), port: x.port, protocol: x.protocol }));
    pods.push({ namespace: p.namespace, name: p.name, ips: p.ips.length ? p.ips : p.ip ? [p.ip] : [], labels: p.labels, ...(ports.length ? { ports } : {}) });
  }
  const namespaces: Record<string, Record<string, string>> = {};
  for (const ns of snap.namespaces.values()) namespaces[ns.name] = ns.labels;
  const self = snap.nodes.get(node);
  return { pods, namespaces, ...(self ? { nodeLabels: self.labels } : {}) };
}
