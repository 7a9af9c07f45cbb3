// The agent's Prometheus metrics (prom-client, a registry of its own). Names are Antrea's where
// the meaning is the same (docs/prometheus-integration.md); seine_* for what Antrea has no name
// for (edge health, the flow store). Values are read at scrape time from their owners.
import { readFile } from 'node:fs/promises';
import { Counter, Gauge, Registry } from 'prom-client';
import si from 'systeminformation';
import { spawnCounts } from '../lib/exec.js';
import { createLogger } from '../lib/log.js';
import { registerPhaseHistogram } from '../lib/phases.js';
import type { FlowVisibility } from './flows/index.js';
import type { RealizedRule } from './policy/flows.js';

const log = createLogger('metrics');

export interface AgentMetricsSources {
  nodeName: string;
  /** Every flow on br-int (with the learned counters), by table id. */
  flowsByTable: () => Promise<Map<number, number>>;
  localPods: () => number;
  realizedRules: () => readonly RealizedRule[];
  flows?: FlowVisibility;
  /** Paths whose file systems are reported (the state dir's first). */
  disks?: string[];
  /** Inventory objects refused as invalid since start, by kind. */
  inventoryRefused?: () => Readonly<Record<string, number>>;
  /** The latency monitor's last round trip per peer (empty without a NodeLatencyMonitor). */
  latency?: () => readonly { peer: string; targetIP: string; seconds: number }[];
}

export function agentMetrics(src: AgentMetricsSources): Registry {
  const registry = new Registry();
  const gauge = (name: string, help: string, labelNames: string[] = [], collect?: (g: Gauge) => Promise<void> | void) =>
    new Gauge({ name, help, labelNames, registers: [registry], ...(collect ? { async collect(this: Gauge) { await collect(this); } } : {}) });

  gauge('antrea_agent_ovs_flow_count', 'Flow count of each OVS flow table.', ['table_id'], async (g) => {
    g.reset();
    for (const [table, n] of await src.flowsByTable()) g.set({ table_id: String(table) }, n);
  });
  gauge('antrea_agent_ovs_total_flow_count', 'Total flow count of all OVS flow tables.', [], async (g) => {
    let n = 0;
    for (const c of (await src.flowsByTable()).values()) n += c;
    g.set(n);
  });
  gauge('antrea_agent_local_pod_count', 'Number of Pods on local Node which are managed by the Antrea Agent.', [], (g) => g.set(src.localPods()));
  gauge('antrea_agent_networkpolicy_count', 'Number of NetworkPolicies on local Node which are managed by the Antrea Agent.', [], (g) => {
    g.set(new Set(src.realizedRules().map((r) => `${r.rule.policy.kind}/${r.rule.policy.namespace ?? ''}/${r.rule.policy.name}`)).size);
  });
  gauge('antrea_agent_ingress_networkpolicy_rule_count', 'Number of ingress NetworkPolicy rules on local Node which are managed by the Antrea Agent.', [], (g) =>
    g.set(src.realizedRules().filter((r) => r.rule.direction === 'ingress').length));
  gauge('antrea_agent_egress_networkpolicy_rule_count', 'Number of egress NetworkPolicy rules on local Node which are managed by the Antrea Agent.', [], (g) =>
    g.set(src.realizedRules().filter((r) => r.rule.direction === 'egress').length));

  const latency = src.latency;
  if (latency) {
    gauge('seine_node_latency_rtt_seconds', 'Last measured round trip to a peer box\'s underlay address (NodeLatencyMonitor).', ['peer', 'target_ip'], (g) => {
      g.reset();
      for (const r of latency()) g.set({ peer: r.peer, target_ip: r.targetIP }, r.seconds);
    });
  }

  const refused = src.inventoryRefused;
  if (refused) {
    new Counter({
      name: 'seine_inventory_refused_objects_total', help: 'Inventory objects (Kubernetes API or lab file) refused because a field failed validation.', labelNames: ['kind'], registers: [registry],
      collect(this: Counter) {
        this.reset();
        for (const [kind, n] of Object.entries(refused())) if (n > 0) this.inc({ kind }, n);
      },
    });
  }

  const fv = src.flows;
  if (fv) {
    new Counter({
      name: 'antrea_agent_denied_connection_count', help: 'Number of denied connections detected by Flow Exporter deny connections tracking.', registers: [registry],
      collect(this: Counter) {
        this.reset();
        this.inc(fv.exporter.stats.deniedConnectionsTotal);
      },
    });
    const ct = fv.source.stats?.bind(fv.source);
    gauge('antrea_agent_conntrack_antrea_connection_count', 'Number of connections in the Antrea ct_zone (65520) at the last poll.', [], (g) => g.set(fv.exporter.stats.zoneConnections));
    if (ct) {
      let last: Promise<{ total: number; max: number }> | undefined;
      const stats = () => (last ??= ct().finally(() => setTimeout(() => (last = undefined), 1000).unref()));
      gauge('antrea_agent_conntrack_total_connection_count', 'Number of connections in the conntrack table.', [], async (g) => g.set((await stats()).total));
      gauge('antrea_agent_conntrack_max_connection_count', 'Size of the conntrack table.', [], async (g) => g.set((await stats()).max));
    }
    if (fv.ipfix) {
      const s = fv.ipfix;
      new Counter({ name: 'antrea_agent_flow_collector_reconnection_count', help: 'Number of re-connections between the Flow Exporter and the flow collector.', registers: [registry], collect(this: Counter) { this.reset(); this.inc(s.reconnections); } });
    }
    gauge('seine_flow_store_bytes', 'Size of the flow database and its WAL.', [], async (g) => g.set(await fv.store.bytes()));
    gauge('seine_flow_tracked_connections', 'Connections the flow exporter tracks.', [], (g) => g.set(fv.exporter.tracker.size));
    gauge('seine_flow_poll_duration_seconds', 'Duration of the last conntrack poll.', [], (g) => g.set(fv.exporter.stats.lastPollMs / 1000));
    // What NodeConfigs set live: the poll interval in force (0 while paused), the extra collectors.
    gauge('seine_flow_exporter_poll_interval_seconds', 'The flow exporter\'s poll interval in force (0: paused by a NodeConfig).', [], (g) => g.set(fv.exporter.isPaused ? 0 : fv.exporter.pollInterval / 1000));
    gauge('seine_flow_exporter_extra_collectors', 'IPFIX collectors added by NodeConfigs.', [], (g) => g.set(fv.extraCollectors.length));
    new Counter({ name: 'seine_flow_polls_total', help: 'Conntrack polls made by the flow exporter.', registers: [registry], collect(this: Counter) { this.reset(); this.inc(fv.exporter.stats.polls); } });
    new Counter({ name: 'seine_flow_records_total', help: 'Flow records written.', registers: [registry], collect(this: Counter) { this.reset(); this.inc(fv.exporter.stats.records); } });
  }

  new Counter({
    name: 'seine_agent_child_processes_total', help: 'Processes the agent started, by command (its steady state should start none).', labelNames: ['command'], registers: [registry],
    collect(this: Counter) {
      this.reset();
      for (const [command, n] of spawnCounts()) this.inc({ command }, n);
    },
  });

  // Where the time of a desired document, a datapath sync or a Traceflow start goes (src/lib/phases.ts).
  registerPhaseHistogram(registry, 'seine_agent_phase_duration_seconds', 'Duration of each phase of the agent\'s latency paths (agent.desired: a desired document from arrival to its report\'s PUBACK; agent.policy; agent.datapath; agent.traceflow), phase "total" the whole.');

  // Edge health (systeminformation); a reading the board does not offer is left out.
  gauge('seine_edge_cpu_load_percent', 'CPU load of the box.', [], async (g) => g.set((await si.currentLoad()).currentLoad));
  gauge('seine_edge_memory_bytes', 'Memory of the box.', ['state'], async (g) => {
    const m = await si.mem();
    g.set({ state: 'total' }, m.total);
    g.set({ state: 'available' }, m.available);
  });
  gauge('seine_edge_cpu_temperature_celsius', 'CPU temperature, where the board reports one.', [], async (g) => {
    g.reset();
    const t = await si.cpuTemperature();
    if (typeof t.main === 'number' && Number.isFinite(t.main)) g.set(t.main);
  });
  gauge('seine_edge_disk_bytes', 'Size and use of the file systems holding the agent state.', ['mount', 'state'], async (g) => {
    g.reset();
    const want = src.disks ?? ['/'];
    const fs = await si.fsSize();
    for (const path of want) {
      const f = fs.filter((x) => path.startsWith(x.mount)).sort((a, b) => b.mount.length - a.mount.length)[0];
      if (!f) continue;
      g.set({ mount: f.mount, state: 'size' }, f.size);
      g.set({ mount: f.mount, state: 'used' }, f.used);
    }
  });
  gauge('seine_edge_sd_card_life_time_used_ratio', 'eMMC/SD wear estimate (JEDEC life_time, 0.1 steps) where the card reports it.', ['device'], async (g) => {
    g.reset();
    for (const dev of ['mmcblk0', 'mmcblk1']) {
      const text = await readFile(`/sys/block/${dev}/device/life_time`, 'utf8').catch(() => undefined);
      const v = text?.trim().split(/\s+/).map((x) => Number(x));
      if (v?.length && v.every((x) => Number.isFinite(x))) g.set({ device: dev }, Math.max(...v) / 10);
    }
  });
  log.debug({ metrics: registry.getMetricsAsArray().length }, 'metrics registered');
  return registry;
}
