// Wiring helper for agent.ts: the sync module when the config has a `controller` section.
import { readFileSync } from 'node:fs';
import type { AgentConfig } from '../../api/config.js';
import type { NodeReported, PodInventoryEntry } from '../../api/node-state.js';
import type { Database } from '../../lib/sqlite.js';
import type { InventorySource } from '../../api/inventory.js';
import { AgentSync, type AgentSyncOptions } from './agent-sync.js';
import type { RealizerRegistry } from './realizers.js';

export { AgentSync } from './agent-sync.js';
export { RealizerRegistry, NOT_SUPPORTED_REASON, type Realizer, type RealizeOutcome } from './realizers.js';

export const AGENT_VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export async function startAgentSync(cfg: AgentConfig, db: Database, inventory: InventorySource, realizers: RealizerRegistry): Promise<AgentSync | undefined> {
  const c = cfg.controller;
  if (!c) return undefined;
  const sync = await AgentSync.open({
    node: cfg.nodeName,
    url: c.url,
    ...credentials(c, cfg.nodeName),
    db,
    realizers,
    agentVersion: AGENT_VERSION,
    outboxLimit: c.outboxLimit,
    outboxBytes: c.outboxBytes,
    maxMessageBytes: c.maxMessageBytes,
    protocolVersion: c.protocolVersion,
    inventory: () => reportedInventory(inventory, cfg.nodeName),
  });
  await sync.start();
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
  const caFile = c.caFile ?? ('caFile' in c.credentials ? c.credentials.caFile : undefined);
  const ca = caFile ? { ca: readFileSync(caFile) } : {};
  if ('certFile' in c.credentials) {
    return { username: node, tls: { ...ca, cert: readFileSync(c.credentials.certFile), key: readFileSync(c.credentials.keyFile) } };
  }
  return { username: c.credentials.username, password: c.credentials.password, ...(caFile ? { tls: ca } : {}) };
}

const INVENTORY_REPORT_DELAY_MS = 100;

/** This box's pods and every namespace's labels (namespaceSelectors need them). */
function reportedInventory(inventory: InventorySource, node: string): NodeReported['inventory'] {
  const snap = inventory.snapshot();
  const pods: PodInventoryEntry[] = [];
  for (const p of snap.pods.values()) {
    if (p.nodeName !== node || p.hostNetwork) continue;
    pods.push({ namespace: p.namespace, name: p.name, ips: p.ips.length ? p.ips : p.ip ? [p.ip] : [], labels: p.labels });
  }
  const namespaces: Record<string, Record<string, string>> = {};
  for (const ns of snap.namespaces.values()) namespaces[ns.name] = ns.labels;
  const self = snap.nodes.get(node);
  return { pods, namespaces, ...(self ? { nodeLabels: self.labels } : {}) };
}
