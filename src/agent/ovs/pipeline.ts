// The OVS pipeline, declared once as data in Antrea's order and with Antrea's table names
// (pkg/agent/openflow/pipeline.go, docs/design/ovs-pipeline.md). Tables belong to a stage and
// to one of three sub-pipelines: root (PipelineRootClassifier sends ARP and IP apart), arp and
// ip. Features state which tables they need; at start-up the tables required by the enabled
// features get numbers in declaration order, so adding a table is one line in the right place.
// Every table gets a priority-0 miss flow: goto the next table of its sub-pipeline, or drop
// (tables declared `drop`, and the last table of each sub-pipeline) — so a table that is in
// place but still empty (a policy table before any policy) passes packets through.

export const stages = [
  'start', 'classifier', 'validation', 'conntrackState', 'preRouting', 'egressSecurity',
  'routing', 'postRouting', 'switching', 'ingressSecurity', 'conntrack', 'output',
] as const;
export type Stage = (typeof stages)[number];
// 'stats': tables no packet walks through, only resubmits (per-connection counters).
export type SubPipeline = 'root' | 'arp' | 'ip' | 'stats';
export type MissAction = 'next' | 'drop';

interface TableDecl {
  readonly name: string;
  readonly stage: Stage;
  readonly pipeline: SubPipeline;
  readonly miss?: 'drop';
}

const t = <N extends string>(name: N, stage: Stage, pipeline: SubPipeline, miss?: 'drop') => ({ name, stage, pipeline, miss }) as const;

/** Declaration order is table order. */
export const tableDeclarations = [
  t('PipelineRootClassifier', 'start', 'root', 'drop'),
  t('ARPSpoofGuard', 'validation', 'arp', 'drop'),
  t('ARPResponder', 'output', 'arp'),
  t('Classifier', 'classifier', 'ip', 'drop'),
  t('SpoofGuard', 'validation', 'ip', 'drop'),
  t('UnSNAT', 'conntrackState', 'ip'),
  t('ConntrackZone', 'conntrackState', 'ip'),
  t('ConntrackState', 'conntrackState', 'ip'),
  t('PreRoutingClassifier', 'preRouting', 'ip'),
  t('NodePortMark', 'preRouting', 'ip'),
  t('SessionAffinity', 'preRouting', 'ip'),
  t('ServiceLB', 'preRouting', 'ip'),
  t('EndpointDNAT', 'preRouting', 'ip'),
  t('AntreaPolicyEgressRule', 'egressSecurity', 'ip'),
  t('EgressRule', 'egressSecurity', 'ip'),
  t('EgressDefaultRule', 'egressSecurity', 'ip'),
  t('EgressMetric', 'egressSecurity', 'ip'),
  t('L3Forwarding', 'routing', 'ip'),
  t('EgressMark', 'routing', 'ip'),
  t('L3DecTTL', 'routing', 'ip'),
  t('SNATMark', 'postRouting', 'ip'),
  t('SNAT', 'postRouting', 'ip'),
  t('L2ForwardingCalc', 'switching', 'ip'),
  t('IngressSecurityClassifier', 'ingressSecurity', 'ip'),
  t('AntreaPolicyIngressRule', 'ingressSecurity', 'ip'),
  t('IngressRule', 'ingressSecurity', 'ip'),
  t('IngressDefaultRule', 'ingressSecurity', 'ip'),
  t('IngressMetric', 'ingressSecurity', 'ip'),
  t('ConntrackCommit', 'conntrack', 'ip'),
  t('Output', 'output', 'ip'),
  // Seine's: per-connection counters learned at Output, and per-connection denied-packet counters
  // (userspace conntrack keeps none; see src/agent/flows/accounting.ts).
  t('FlowAccounting', 'output', 'stats', 'drop'),
  t('DenyAccounting', 'output', 'stats', 'drop'),
] as const satisfies readonly TableDecl[];

export type TableName = (typeof tableDeclarations)[number]['name'];

/** Features and the tables they need (Antrea's getRequiredTables, minus IPv6/multicast/VLAN/TrafficControl). */
export const featureTables = {
  podConnectivity: ['ARPSpoofGuard', 'ARPResponder', 'Classifier', 'SpoofGuard', 'ConntrackZone', 'ConntrackState', 'L3Forwarding', 'L3DecTTL', 'L2ForwardingCalc', 'ConntrackCommit', 'Output'],
  networkPolicy: ['AntreaPolicyEgressRule', 'EgressRule', 'EgressDefaultRule', 'EgressMetric', 'IngressSecurityClassifier', 'AntreaPolicyIngressRule', 'IngressRule', 'IngressDefaultRule', 'IngressMetric'],
  service: ['UnSNAT', 'PreRoutingClassifier', 'SessionAffinity', 'ServiceLB', 'EndpointDNAT', 'L3Forwarding', 'SNATMark', 'SNAT', 'ConntrackCommit', 'Output'],
  nodePortService: ['NodePortMark'],
  egress: ['L3Forwarding', 'EgressMark'],
  traceflow: [],
  flowExporter: ['FlowAccounting', 'DenyAccounting'],
} as const satisfies Record<string, readonly TableName[]>;
export type Feature = keyof typeof featureTables;
export const defaultFeatures: Feature[] = ['podConnectivity', 'networkPolicy', 'service', 'egress', 'traceflow', 'flowExporter'];

export interface PipelineTable {
  readonly name: TableName;
  readonly id: number;
  readonly stage: Stage;
  readonly pipeline: SubPipeline;
  readonly missAction: MissAction;
  /** The next table of the same sub-pipeline (undefined for the last one). */
  readonly next?: TableName;
}

/** Priority of miss flows, and of the root classifier's protocol flows (Antrea's priorityMiss / priorityNormal). */
export const PRIORITY_MISS = 0;
export const PRIORITY_NORMAL = 200;

export class Pipeline {
  readonly tables: readonly PipelineTable[];
  private readonly byName = new Map<string, PipelineTable>();
  private readonly byId = new Map<number, PipelineTable>();

  private constructor(tables: PipelineTable[]) {
    this.tables = tables;
    for (const tb of tables) {
      this.byName.set(tb.name, tb);
      this.byId.set(tb.id, tb);
    }
  }

  /** Numbers the tables the features need, in declaration order (PipelineRootClassifier is always 0). */
  static build(features: readonly Feature[] = defaultFeatures): Pipeline {
    const required = new Set<string>(['PipelineRootClassifier', ...features.flatMap((f) => featureTables[f])]);
    const decls = tableDeclarations.filter((d) => required.has(d.name));
    const tables = decls.map((d, id): PipelineTable => {
      const next = decls.slice(id + 1).find((n) => n.pipeline === d.pipeline);
      return { name: d.name, id, stage: d.stage, pipeline: d.pipeline, missAction: d.miss === 'drop' || !next ? 'drop' : 'next', next: next?.name };
    });
    return new Pipeline(tables);
  }

  has(name: TableName): boolean {
    return this.byName.has(name);
  }

  table(name: TableName): PipelineTable {
    const tb = this.byName.get(name);
    if (!tb) throw new Error(`table ${name} is not in this pipeline (its feature is not enabled)`);
    return tb;
  }

  /** The table number; what `table=` and `goto_table:` take. */
  id(name: TableName): number {
    return this.table(name).id;
  }

  nameOf(id: number): TableName | undefined {
    return this.byId.get(id)?.name;
  }

  goto(name: TableName): string {
    return `goto_table:${this.id(name)}`;
  }

  resubmit(name: TableName): string {
    return `resubmit(,${this.id(name)})`;
  }

  /** goto the first table of a stage at or after `stage` in the ip sub-pipeline (Antrea's GotoStage). */
  gotoStage(stage: Stage): string {
    const from = stages.indexOf(stage);
    const tb = this.tables.find((x) => x.pipeline === 'ip' && stages.indexOf(x.stage) >= from);
    if (!tb) throw new Error(`no table at or after stage ${stage}`);
    return `goto_table:${tb.id}`;
  }
}
