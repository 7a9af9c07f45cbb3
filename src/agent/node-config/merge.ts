// What a box runs with when NodeConfigs select it: each setting from the NodeConfig of highest
// precedence that sets it — lowest spec.priority first, then name order — and from the box's
// own config file when none does. Settings are whole values: a NodeConfig's collectors list
// replaces a lower one's (the box's own flowCollectorAddr always stays).
import type { AgentConfig } from '../../api/config.js';
import type { NodeConfigSpec } from '../../api/node-config.js';

export interface BoxSettings {
  flowExporter: {
    enable: boolean;
    pollIntervalSeconds: number;
    activeFlowExportTimeoutSeconds: number;
    idleFlowExportTimeoutSeconds: number;
    /** Collectors from NodeConfigs (the config file's flowCollectorAddr is not in this list). */
    collectors: string[];
    retention: { maxAgeDays: number; maxSizeMB: number };
  };
  logLevel: string;
  statsIntervalSeconds: number;
}

/** The settings of the box's config file (and its starting log level). */
export function baseSettings(cfg: AgentConfig, logLevel: string): BoxSettings {
  const fe = cfg.flowExporter;
  return {
    flowExporter: {
      enable: fe.enable,
      pollIntervalSeconds: fe.pollIntervalSeconds,
      activeFlowExportTimeoutSeconds: fe.activeFlowExportTimeoutSeconds,
      idleFlowExportTimeoutSeconds: fe.idleFlowExportTimeoutSeconds,
      collectors: [],
      retention: { maxAgeDays: fe.store.maxAgeDays, maxSizeMB: fe.store.maxSizeMB },
    },
    logLevel,
    statsIntervalSeconds: cfg.controller?.statsIntervalSeconds ?? 30,
  };
}

export interface NamedNodeConfig {
  name: string;
  spec: NodeConfigSpec;
}

/** Highest precedence first. */
export function byPrecedence(configs: readonly NamedNodeConfig[]): NamedNodeConfig[] {
  return [...configs].sort((a, b) => a.spec.priority - b.spec.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function mergeNodeConfigs(base: BoxSettings, configs: readonly NamedNodeConfig[]): BoxSettings {
  const out: BoxSettings = structuredClone(base);
  // Lowest precedence first, so that each higher one overwrites what it sets.
  for (const { spec } of byPrecedence(configs).reverse()) {
    const fe = spec.flowExporter;
    if (fe?.enable !== undefined) out.flowExporter.enable = fe.enable;
    if (fe?.pollIntervalSeconds !== undefined) out.flowExporter.pollIntervalSeconds = fe.pollIntervalSeconds;
    if (fe?.activeFlowExportTimeoutSeconds !== undefined) out.flowExporter.activeFlowExportTimeoutSeconds = fe.activeFlowExportTimeoutSeconds;
    if (fe?.idleFlowExportTimeoutSeconds !== undefined) out.flowExporter.idleFlowExportTimeoutSeconds = fe.idleFlowExportTimeoutSeconds;
    if (fe?.collectors !== undefined) out.flowExporter.collectors = [...new Set(fe.collectors)];
    if (fe?.retention?.maxAgeDays !== undefined) out.flowExporter.retention.maxAgeDays = fe.retention.maxAgeDays;
    if (fe?.retention?.maxSizeMB !== undefined) out.flowExporter.retention.maxSizeMB = fe.retention.maxSizeMB;
    if (spec.logLevel !== undefined) out.logLevel = spec.logLevel;
    if (spec.statsIntervalSeconds !== undefined) out.statsIntervalSeconds = spec.statsIntervalSeconds;
  }
  return out;
}
