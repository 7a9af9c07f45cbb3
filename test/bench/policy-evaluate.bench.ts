// NetworkPolicy evaluation (src/policy/evaluate) on policy-compute's mixed world: 10k pods on 100
// nodes, 1k ACNP / ANP / K8s policies over securityops, application and baseline. What impact
// preview needs (issue 19: 10k recorded connections per box, goal < 1 s): building the evaluator
// once and asking it 10k connections by address. The anchor is a full policy compute of the same
// world in the same run (what any answer needs at least once).
import { computeNodePolicies } from '../../src/policy/compute/compute.js';
import { PolicyEvaluator } from '../../src/policy/evaluate/evaluate.js';
import type { Bench, BenchRow } from './harness.js';
import { mixed, podsAndNamespaces } from './policy-compute.bench.js';

const QUERIES = 10_000;
const ANCHOR = 'full policy compute, same world, same run';

function best(rounds: number, fn: () => void): number {
  let ms = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    ms = Math.min(ms, Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return ms;
}

export const bench: Bench = {
  name: 'policy-evaluate',
  async run(): Promise<BenchRow[]> {
    const inventory = podsAndNamespaces();
    const objects = mixed();
    const pods = [...inventory.pods.values()];
    computeNodePolicies(objects, inventory); // warm-up
    const computeMs = best(3, () => computeNodePolicies(objects, inventory));
    let evaluator!: PolicyEvaluator;
    const indexMs = best(3, () => (evaluator = new PolicyEvaluator({ objects, inventory })));
    if (evaluator.errors.length) throw new Error(`policies failed: ${evaluator.errors[0]!.message}`);

    // Connections as a flow store has them: two addresses, a protocol and a port.
    const queries = Array.from({ length: QUERIES }, (_, i) => ({
      source: { ip: pods[(i * 7919) % pods.length]!.ip! },
      destination: { ip: pods[(i * 104_729 + 1) % pods.length]!.ip! },
      protocol: 'TCP' as const,
      port: i % 5 ? 8000 + (i % 50) : 9000,
    }));
    const counts = { Allow: 0, Drop: 0, Reject: 0 };
    for (const q of queries) counts[evaluator.evaluate(q).action]++;
    if (!counts.Allow || !(counts.Drop + counts.Reject)) throw new Error(`expected a mix of verdicts, got ${JSON.stringify(counts)}`);
    const queryMs = best(3, () => {
      for (const q of queries) evaluator.evaluate(q);
    });
    process.stderr.write(`policy-evaluate: ${JSON.stringify(counts)} over ${QUERIES} connections\n`);
    return [
      { metric: 'evaluator built on 10k pods × 1k mixed (compute + index)', unit: 'ms', seine: indexMs, anchor: computeMs, anchorLabel: ANCHOR, better: 'lower', goal: '< 2 × compute' },
      { metric: 'evaluate 10k connections (10k pods × 1k mixed)', unit: 'ms', seine: queryMs, anchor: computeMs, anchorLabel: ANCHOR, better: 'lower', goal: '< 1000 ms' },
    ];
  },
};
