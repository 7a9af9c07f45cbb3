// NodeConfig on the box: the NodeConfigs the controller sent (only those whose nodeSelector
// picks this box) are merged by precedence (merge.ts) over the config file's settings and applied
// live — the flow exporter's poll timer re-armed, its collectors opened or closed, retention,
// the log level of every module, the stats timer — without restarting anything. Deleting the
// last NodeConfig brings back the config file's settings.
import { NodeConfigSpecSchema } from '../../api/node-config.js';
import { parseObjectKey, type DesiredObject } from '../../api/node-state.js';
import { createLogger, setLogLevel } from '../../lib/log.js';
import type { FlowVisibility } from '../flows/index.js';
import type { RealizeOutcome, Realizer, RealizerRegistry } from '../sync/realizers.js';
import { mergeNodeConfigs, type BoxSettings, type NamedNodeConfig } from './merge.js';

const log = createLogger('agent.nodeconfig');

export interface NodeConfigTargets {
  /** Undefined when the config file disables the flow exporter. */
  flows?: FlowVisibility | undefined;
  /** Re-arms the policy stats report timer. */
  statsInterval?: (seconds: number) => void;
}

export class NodeConfigAgent implements Realizer {
  private settings: BoxSettings;
  private targets?: NodeConfigTargets;
  /** Names of the NodeConfigs in effect, highest precedence first (for the agent API and logs). */
  applied: string[] = [];

  constructor(private readonly base: BoxSettings) {
    this.settings = structuredClone(base);
  }

  get current(): Readonly<BoxSettings> {
    return this.settings;
  }

  register(realizers: RealizerRegistry): void {
    realizers.registerRealizer({ kind: 'NodeConfig', group: 'seine.io' }, this);
  }

  async realize(objects: ReadonlyMap<string, DesiredObject>): Promise<ReadonlyMap<string, RealizeOutcome>> {
    const outcomes = new Map<string, RealizeOutcome>();
    const configs: NamedNodeConfig[] = [];
    for (const [key, o] of objects) {
      // The document was checked against the schema; parsed again here for the defaults (priority).
      const spec = NodeConfigSpecSchema.safeParse(o.spec);
      const name = parseObjectKey(key)?.name;
      if (!spec.success || !name) {
        outcomes.set(key, { ok: false, reason: `invalid NodeConfig: ${spec.error?.issues[0]?.message ?? 'bad key'}` });
        continue;
      }
      // Turning the exporter on needs its accounting flows in the pipeline, which the config file decides at start.
      if (spec.data.flowExporter?.enable === true && !this.base.flowExporter.enable) {
        outcomes.set(key, { ok: false, reason: 'flowExporter.enable: this box starts without the flow exporter (flowExporter.enable false in its config file); a NodeConfig can pause it, not add it' });
        continue;
      }
      configs.push({ name, spec: spec.data });
      outcomes.set(key, { ok: true });
    }
    this.settings = mergeNodeConfigs(this.base, configs);
    this.applied = configs.map((c) => c.name);
    await this.apply();
    return outcomes;
  }

  /** The parts come up after the persisted desired state is realized: they get the settings then. */
  async attach(targets: NodeConfigTargets): Promise<void> {
    this.targets = targets;
    await this.apply();
  }

  private async apply(): Promise<void> {
    const s = this.settings;
    setLogLevel(s.logLevel);
    if (!this.targets) return;
    if (this.targets.flows) await this.targets.flows.reconfigure(s.flowExporter);
    this.targets.statsInterval?.(s.statsIntervalSeconds);
    log.info({ nodeConfigs: this.applied, logLevel: s.logLevel, statsIntervalSeconds: s.statsIntervalSeconds }, 'node settings applied');
  }
}
