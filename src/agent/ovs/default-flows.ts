// The pipeline's own flows: every table's miss flow (goto the next table of its sub-pipeline,
// or drop) and the root classifier's ARP/IP dispatch. Apart from pipeline.ts so that the table
// declarations do not import flow.ts, whose Flow is typed by their table names.
import { Category, encodeCookie } from './cookie.js';
import type { Flow } from './flow.js';
import { PRIORITY_MISS, PRIORITY_NORMAL, type Pipeline, type SubPipeline } from './pipeline.js';

/** Miss flows of every table plus the root classifier's ARP/IP dispatch, owned by the Default category. */
export function defaultFlows(pipeline: Pipeline, round: number): Flow[] {
  const cookie = encodeCookie({ round, category: Category.Default, objectId: 0n });
  const flows: Flow[] = pipeline.tables.map((tb) => ({
    table: tb.name,
    priority: PRIORITY_MISS,
    match: [],
    actions: [tb.missAction === 'next' ? pipeline.goto(tb.next!) : 'drop'],
    cookie,
  }));
  const first = (p: SubPipeline) => pipeline.tables.find((x) => x.pipeline === p);
  const arp = first('arp');
  const ip = first('ip');
  if (arp) flows.push({ table: 'PipelineRootClassifier', priority: PRIORITY_NORMAL, match: ['arp'], actions: [pipeline.goto(arp.name)], cookie });
  if (ip) flows.push({ table: 'PipelineRootClassifier', priority: PRIORITY_NORMAL, match: ['ip'], actions: [pipeline.goto(ip.name)], cookie });
  return flows;
}
