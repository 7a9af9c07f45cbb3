// The controller's Prometheus metrics (prom-client, a registry of its own), served at /metrics
// on the REST listener. Antrea's names where the meaning is the same: the controller computes
// each policy's span (which nodes get it), the part of Antrea's policy sync that happens here;
// address and applied-to groups are computed on the boxes, so Antrea's *_address_group_* and
// *_applied_to_group_* metrics have nothing to count here and are left out. seine_controller_*
// for the fleet (nodes online, node messages, desired documents, MQTT).
import { Counter, Gauge, Registry, Summary } from 'prom-client';
import type { MqttClient } from 'mqtt';
import { registerPhaseHistogram } from '../lib/phases.js';
import type { FleetFlows } from './flows/fleet-flows.js';
import type { FlowAggregator } from './flows/aggregator.js';
import type { NodeRegistry } from './store/nodes.js';
import type { DesiredPublisher } from './sync/desired-publisher.js';
import type { ReportReceiver } from './sync/report-receiver.js';

export interface ControllerMetricsSources {
  nodes: NodeRegistry;
  reports: ReportReceiver;
  publisher: DesiredPublisher;
  client: MqttClient;
  broker?: { running: boolean; counters: object };
  flows?: FleetFlows;
  aggregator?: FlowAggregator;
}

export class ControllerMetrics {
  readonly registry = new Registry();
  private readonly processed = new Counter({
    name: 'antrea_controller_network_policy_processed', help: 'The total number of network-policy processed', registers: [this.registry],
  });
  private readonly syncDuration = new Summary({
    name: 'antrea_controller_network_policy_sync_duration_milliseconds', help: 'The duration of syncing network-policy',
    percentiles: [0.5, 0.9, 0.99], maxAgeSeconds: 600, ageBuckets: 5, registers: [this.registry],
  });

  /** One span recomputation: `recomputed` policies in `ms` (PolicySpan's observe hook). */
  readonly policySynced = (recomputed: number, ms: number): void => {
    this.processed.inc(recomputed);
    this.syncDuration.observe(ms);
  };

  /** Adds the values read at scrape time from the controller's parts. */
  watch(src: ControllerMetricsSources): void {
    const registers = [this.registry];
    // A counter kept by a part of the controller, read at scrape time.
    const mirror = (read: () => number, name: string, help: string) => new Counter({
      name, help, registers,
      collect(this: Counter) {
        this.reset();
        this.inc(read());
      },
    });
    registerPhaseHistogram(this.registry, 'seine_controller_phase_duration_seconds', 'Duration of each phase of the controller\'s latency paths (controller.rest, controller.apply, controller.publish, controller.report, controller.traceflow), phase "total" the whole.');
    new Gauge({
      name: 'seine_controller_nodes', help: 'Nodes in the registry by presence.', labelNames: ['state'], registers,
      async collect(this: Gauge) {
        // Two counts, not the node list (a scrape must not read and build every node's row).
        const { nodes, online } = await src.nodes.presenceCounts();
        this.set({ state: 'online' }, online);
        this.set({ state: 'offline' }, nodes - online);
      },
    });
    new Counter({
      name: 'seine_controller_node_messages_total', help: 'Node messages accepted, by channel (status, reported, events, flows).', labelNames: ['channel'], registers,
      collect(this: Counter) {
        this.reset();
        for (const [channel, n] of Object.entries(src.reports.acceptedBy)) this.inc({ channel }, n);
      },
    });
    new Counter({
      name: 'seine_controller_node_messages_rejected_total', help: 'Node messages rejected, by reason.', labelNames: ['reason'], registers,
      collect(this: Counter) {
        this.reset();
        for (const [reason, n] of Object.entries(src.reports.rejected)) this.inc({ reason }, n);
      },
    });
    mirror(() => src.reports.writeFailures, 'seine_controller_report_write_failures_total', 'Writes of a batch of node reports and presence that failed (a store error); the batch is kept and written again after a backoff.');
    new Gauge({ name: 'seine_controller_report_backlog', help: 'Nodes whose report or presence waits to be written (kept for a retry while the store fails).', registers, collect(this: Gauge) { this.set(src.reports.backlog); } });
    mirror(() => src.publisher.published, 'seine_controller_desired_published_total', 'Desired documents published to nodes.');
    mirror(() => src.publisher.built, 'seine_controller_desired_built_total', 'Desired documents built and hashed (a report that moves spans rebuilds only the nodes it moves).');
    mirror(() => src.publisher.changed, 'seine_controller_desired_changed_total', 'Desired documents whose content changed (a new generation).');
    mirror(() => src.publisher.refused, 'seine_controller_desired_refused_total', 'Publications refused because another replica published from a newer store revision meanwhile (read and built again; nothing sent).');
    mirror(() => src.publisher.retainedRepaired, 'seine_controller_desired_retained_repaired_total', 'With replicas: older desired documents that reached the broker after newer ones (replicas\' publishes crossed, the retained copy went back); the current document was published again.');
    // Where the resident memory is (issue #22): V8's heap (committed and live), memory outside it
    // that V8 knows of (Buffers), and the rest of the RSS (native code: SQLite, malloc arenas).
    new Gauge({
      name: 'seine_controller_memory_bytes', help: 'The controller process\'s memory by kind: rss, heapTotal (V8 heap committed), heapUsed (live and not yet collected), external (Buffers and other memory V8 tracks), arrayBuffers.', labelNames: ['kind'], registers,
      collect(this: Gauge) {
        const m = process.memoryUsage();
        for (const kind of ['rss', 'heapTotal', 'heapUsed', 'external', 'arrayBuffers'] as const) this.set({ kind }, m[kind]);
      },
    });
    new Gauge({ name: 'seine_controller_mqtt_connected', help: '1 while the controller is connected to the MQTT broker.', registers, collect(this: Gauge) { this.set(src.client.connected ? 1 : 0); } });
    if (src.broker) {
      const broker = src.broker;
      new Gauge({ name: 'seine_controller_embedded_broker_running', help: '1 while the embedded MQTT broker runs.', registers, collect(this: Gauge) { this.set(broker.running ? 1 : 0); } });
      new Counter({
        name: 'seine_controller_broker_refusals_total', help: 'What the embedded broker refused, by reason (authFailures, loginsRateLimited, deniedPublish, deniedSubscribe, oversized, …).', labelNames: ['reason'], registers,
        collect(this: Counter) {
          this.reset();
          for (const [reason, n] of Object.entries(broker.counters as Record<string, number>)) this.inc({ reason }, n);
        },
      });
    }
    if (src.aggregator) {
      const a = src.aggregator;
      new Counter({
        name: 'seine_controller_flow_aggregator_records_exported_total', help: 'Aggregated flow records sent to the IPFIX collector.', registers,
        collect(this: Counter) {
          this.reset();
          this.inc(a.exporter.exported - a.sender.droppedRecords);
        },
      });
      new Counter({
        name: 'seine_controller_flow_aggregator_records_dropped_total', help: 'Aggregated flow records dropped while the collector was unreachable.', registers,
        collect(this: Counter) {
          this.reset();
          this.inc(a.sender.droppedRecords);
        },
      });
      new Gauge({ name: 'seine_controller_flow_aggregator_connections', help: 'Connections the aggregator exporter tracks.', registers, collect(this: Gauge) { this.set(a.exporter.size); } });
    }
    if (src.flows) {
      const flows = src.flows;
      new Counter({
        name: 'seine_controller_flow_records_total', help: 'Flow records received from nodes.', registers,
        collect(this: Counter) {
          this.reset();
          this.inc(flows.received);
        },
      });
      new Counter({
        name: 'seine_controller_flow_records_refused_total', help: 'Flow records refused because the sending node is neither end of the connection.', registers,
        collect(this: Counter) {
          this.reset();
          this.inc(flows.refused);
        },
      });
      new Counter({
        name: 'seine_controller_fleet_flows_evicted_total', help: 'Fleet flow rows deleted because the store was over fleetFlows.maxRows.', registers,
        collect(this: Counter) {
          this.reset();
          this.inc(flows.evicted);
        },
      });
    }
  }
}
