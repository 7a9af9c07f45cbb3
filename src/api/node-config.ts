// Fleet-wide box settings from the controller (issue #22): NodeConfig sets flow-export, log and
// stats settings on the boxes its nodeSelector picks (antrea #7231: without agent restarts), and
// Antrea's NodeLatencyMonitor singleton makes every box probe its peers' underlay addresses. The
// per-box latency stats (Antrea's NodeLatencyStats) travel in the node's report.
import { z } from 'zod';
import { CollectorAddressSchema, IPAddressSchema } from './net.js';
import { LabelSelectorSchema, NodeNameSchema, ObjectMetaSchema } from './meta.js';

export const NODE_CONFIG_API_VERSIONS = ['seine.io/v1alpha1'] as const;
export const NODE_LATENCY_MONITOR_API_VERSIONS = ['crd.antrea.io/v1alpha1'] as const;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export const LogLevelSchema = z.enum(LOG_LEVELS);

/**
 * Every setting is optional: a box takes each one from the NodeConfig of highest precedence that
 * sets it, and from its own config file when none does (precedence: node-config-merge.ts).
 */
export const NodeConfigSpecSchema = z.strictObject({
  /** Lower wins (as Antrea policy priorities); equal priorities: the name first in order wins. */
  priority: z.number().int().min(0).max(10_000).default(100),
  /** Labels the boxes report (their node labels); `{}` selects every box. */
  nodeSelector: LabelSelectorSchema,
  flowExporter: z
    .strictObject({
      /** false pauses the exporter's polls; true needs flowExporter.enable in the box's config (its accounting flows). */
      enable: z.boolean().optional(),
      pollIntervalSeconds: z.number().min(0.5).max(3600).optional(),
      activeFlowExportTimeoutSeconds: z.number().int().min(1).max(86_400).optional(),
      idleFlowExportTimeoutSeconds: z.number().int().min(1).max(86_400).optional(),
      /** IPFIX collectors, `<host>:<port>[:tcp|udp]`, in addition to the box's own flowCollectorAddr. */
      collectors: z.array(CollectorAddressSchema.refine((a) => !a.endsWith(':tls'), { error: 'tls collectors need files on the box: set them in its config file' })).max(8).optional(),
      retention: z
        .strictObject({
          maxAgeDays: z.number().positive().max(3650).optional(),
          maxSizeMB: z.number().positive().max(1_000_000).optional(),
        })
        .optional(),
    })
    .optional(),
  logLevel: LogLevelSchema.optional(),
  /** How often the box reports its per-rule policy counters (controller.statsIntervalSeconds). */
  statsIntervalSeconds: z.number().int().min(1).max(86_400).optional(),
});
export type NodeConfigSpec = z.infer<typeof NodeConfigSpecSchema>;

export const NodeConfigSchema = z.strictObject({
  apiVersion: z.enum(NODE_CONFIG_API_VERSIONS),
  kind: z.literal('NodeConfig'),
  metadata: ObjectMetaSchema,
  spec: NodeConfigSpecSchema,
  status: z.looseObject({}).optional(),
});
export type NodeConfig = z.infer<typeof NodeConfigSchema>;

/** Antrea's NodeLatencyMonitor spec. */
export const NodeLatencyMonitorSpecSchema = z.strictObject({
  pingIntervalSeconds: z.number().int().min(1).max(3600).default(60),
});
export type NodeLatencyMonitorSpec = z.infer<typeof NodeLatencyMonitorSpecSchema>;

/** The one name Antrea accepts: the monitor is a cluster-wide singleton. */
export const NODE_LATENCY_MONITOR_NAME = 'default';

export const NodeLatencyMonitorSchema = z.strictObject({
  apiVersion: z.enum(NODE_LATENCY_MONITOR_API_VERSIONS),
  kind: z.literal('NodeLatencyMonitor'),
  metadata: ObjectMetaSchema.refine((m) => m.name === undefined || m.name === NODE_LATENCY_MONITOR_NAME, {
    error: `the NodeLatencyMonitor is a singleton: its name must be "${NODE_LATENCY_MONITOR_NAME}"`, path: ['name'],
  }),
  spec: NodeLatencyMonitorSpecSchema,
  status: z.looseObject({}).optional(),
});

const rfc3339 = z.iso.datetime({ offset: true });

/** Antrea's TargetIPLatencyStats: one probed address of a peer. */
export const TargetIPLatencyStatsSchema = z.strictObject({
  targetIP: IPAddressSchema,
  lastSendTime: rfc3339.optional(),
  lastRecvTime: rfc3339.optional(),
  lastMeasuredRTTNanoseconds: z.number().int().nonnegative().optional(),
});

/** Antrea's PeerNodeLatencyStats. */
export const PeerNodeLatencyStatsSchema = z.strictObject({
  nodeName: NodeNameSchema,
  targetIPLatencyStats: z.array(TargetIPLatencyStatsSchema),
});
export type PeerNodeLatencyStats = z.infer<typeof PeerNodeLatencyStatsSchema>;

/** What a box reports while a NodeLatencyMonitor exists (absent: no monitor, nothing measured). */
export const NodeLatencyReportSchema = z.strictObject({
  peerNodeLatencyStats: z.array(PeerNodeLatencyStatsSchema),
});
export type NodeLatencyReport = z.infer<typeof NodeLatencyReportSchema>;

/** Antrea's NodeLatencyStats (stats.antrea.io/v1alpha1), one per node, as REST serves it. */
export const NodeLatencyStatsSchema = z.strictObject({
  apiVersion: z.literal('stats.antrea.io/v1alpha1'),
  kind: z.literal('NodeLatencyStats'),
  metadata: z.strictObject({ name: NodeNameSchema }),
  peerNodeLatencyStats: z.array(PeerNodeLatencyStatsSchema),
});
export type NodeLatencyStats = z.infer<typeof NodeLatencyStatsSchema>;
