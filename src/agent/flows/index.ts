// The flow exporter as the agent starts it: the conntrack source the box has, counters from
// the learned OVS flows, the store, the IPFIX exporter when a collector is configured.
import path from 'node:path';
import type { AgentConfig } from '../../api/config.js';
import { createLogger } from '../../lib/log.js';
import type { InventorySource } from '../../api/inventory.js';
import type { BridgeStats } from '../ovs/flow-stats.js';
import type { Pipeline } from '../ovs/pipeline.js';
import type { RealizedRule } from '../policy/flows.js';
import { CT_ZONE } from '../connectivity/registers.js';
import { learnedCountersOf, learnedFilter, LearnedKind, LEARNED_FLOWS } from './accounting.js';
import type { ConntrackSource } from './conntrack.js';
import { FlowExporter, type FlowExporterOptions } from './exporter.js';
import { KernelConntrackSource } from './kernel-conntrack.js';
import { OvsConntrackSource } from './ovs-conntrack.js';
import { vswitchdTarget } from '../ovs/unixctl.js';
import { FlowStore, type StoredRecord } from './store.js';
import { readIpfixTls } from '../../api/flow-ipfix.js';
import { ipfixSink } from './ipfix-sink.js';
import type { IpfixSender } from '../../lib/ipfix/transport.js';
import type { BoxSettings } from '../node-config/merge.js';

const log = createLogger('flows');

export const FLOW_DB = 'flows.db';
const RETENTION_EVERY_MS = 60_000;

export interface FlowVisibility {
  exporter: FlowExporter;
  store: FlowStore;
  source: ConntrackSource;
  /** The IPFIX sender when flowCollectorAddr is set. */
  ipfix?: IpfixSender;
  /** Live settings from NodeConfigs (poll interval, timeouts, pause, extra collectors, retention). */
  reconfigure(s: BoxSettings['flowExporter']): Promise<void>;
  /** The NodeConfigs' collectors being exported to. */
  readonly extraCollectors: readonly string[];
  stop(): Promise<void>;
}

export async function startFlowVisibility(o: {
  cfg: AgentConfig;
  /** The bridge's counters over OpenFlow (the learned flows). */
  stats: BridgeStats;
  pipeline: Pipeline;
  inventory: Pick<InventorySource, 'snapshot'>;
  rule: (conjId: number) => RealizedRule | undefined;
  /** Names the Service port behind a cluster IP (flow records' destinationServicePortName). */
  servicePortName?: FlowExporterOptions['servicePortName'];
  /** More sinks (IPFIX, the controller). */
  sinks?: ((batch: StoredRecord[]) => Promise<void>)[];
}): Promise<FlowVisibility> {
  const fe = o.cfg.flowExporter;
  const tls = fe.tls && readIpfixTls(fe.tls, 'flowExporter.tls'); // before anything opens: a bad file fails the start cleanly
  const store = await FlowStore.open(path.join(o.cfg.stateDir, FLOW_DB), { maxAgeS: Math.round(fe.store.maxAgeDays * 86_400), maxBytes: Math.round(fe.store.maxSizeMB * 1024 * 1024) });
  const counters = (table: 'FlowAccounting' | 'DenyAccounting', kind?: Parameters<typeof learnedFilter>[0]) => async () =>
    learnedCountersOf(await o.stats.cursor({ tableId: o.pipeline.id(table), cookie: kind ? learnedFilter(kind) : LEARNED_FLOWS }));
  const kind = fe.conntrackSource === 'auto' ? (o.cfg.datapathType === 'netdev' ? 'ovs' : 'kernel') : fe.conntrackSource;
  let source: ConntrackSource;
  if (kind === 'ovs') {
    source = new OvsConntrackSource({ vswitchdCtl: vswitchdTarget(o.cfg.ovsRunDir), env: { ...process.env, OVS_RUNDIR: o.cfg.ovsRunDir }, counters: counters('FlowAccounting', LearnedKind.Connection) });
  } else {
    const kernel = new KernelConntrackSource();
    // Kernel conntrack counts nothing without nf_conntrack_acct: the agent turns it on (and says so).
    await kernel.enableAccounting().catch((err) => log.warn({ err }, 'kernel conntrack accounting could not be enabled: flow counters stay 0'));
    source = kernel;
  }
  const ipfix = fe.flowCollectorAddr ? ipfixSink(fe.flowCollectorAddr, tls ? { tls } : {}) : undefined;
  // NodeConfigs' collectors: one sender each, opened and closed as the settings change.
  const extra = new Map<string, ReturnType<typeof ipfixSink>>();
  const extraSink = async (batch: StoredRecord[]) => {
    const results = await Promise.allSettled([...extra.values()].map((x) => x.sink(batch)));
    const failed = results.filter((r) => r.status === 'rejected');
    if (failed.length) throw new Error(`${failed.length} of ${results.length} NodeConfig collectors failed: ${String((failed[0] as PromiseRejectedResult).reason)}`);
  };
  const exporter = new FlowExporter({
    source, zone: CT_ZONE,
    denied: o.pipeline.has('DenyAccounting') ? counters('DenyAccounting') : undefined,
    inventory: o.inventory, rule: o.rule, serviceCIDR: o.cfg.serviceCIDR, ...(o.servicePortName ? { servicePortName: o.servicePortName } : {}),
    pollIntervalMs: fe.pollIntervalSeconds * 1000, activeTimeoutS: fe.activeFlowExportTimeoutSeconds, idleTimeoutS: fe.idleFlowExportTimeoutSeconds,
    sinks: [(batch) => store.insert(batch), ...(ipfix ? [ipfix.sink] : []), extraSink, ...(o.sinks ?? [])],
  });
  exporter.start();
  const retention = setInterval(() => {
    store.enforceRetention().then((r) => r.deleted && log.info(r, 'flow retention'), (err) => log.warn({ err }, 'flow retention failed'));
  }, RETENTION_EVERY_MS);
  retention.unref();
  log.info({ source: source.name, db: store.db.file, pollS: fe.pollIntervalSeconds, collector: fe.flowCollectorAddr }, 'flow exporter started');
  return {
    exporter, store, source, ipfix: ipfix?.sender,
    get extraCollectors() {
      return [...extra.keys()];
    },
    async reconfigure(s) {
      exporter.reconfigure({ pollIntervalMs: s.pollIntervalSeconds * 1000, activeTimeoutS: s.activeFlowExportTimeoutSeconds, idleTimeoutS: s.idleFlowExportTimeoutSeconds, paused: !s.enable });
      store.setRetention({ maxAgeS: Math.round(s.retention.maxAgeDays * 86_400), maxBytes: Math.round(s.retention.maxSizeMB * 1024 * 1024) });
      for (const [addr, x] of extra) {
        if (s.collectors.includes(addr)) continue;
        extra.delete(addr);
        await x.sender.close().catch((err: unknown) => log.warn({ err, collector: addr }, 'closing a collector failed'));
      }
      for (const addr of s.collectors) if (!extra.has(addr)) extra.set(addr, ipfixSink(addr));
      log.info({ pollS: s.pollIntervalSeconds, paused: !s.enable, collectors: s.collectors, retention: s.retention }, 'flow exporter reconfigured');
    },
    async stop() {
      clearInterval(retention);
      await exporter.stop();
      source.close?.();
      await ipfix?.sender.close();
      for (const x of extra.values()) await x.sender.close();
      extra.clear();
      await store.close();
    },
  };
}

