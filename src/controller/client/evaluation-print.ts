// `seinectl query networkpolicyevaluation` output: Antrea's table (NAME, NAMESPACE, POLICY-TYPE,
// RULE-INDEX, DIRECTION, ACTION) plus DECIDED-BY, then the answer in one sentence; or the whole
// NetworkPolicyEvaluation as JSON or YAML.
import { stringify } from 'yaml';
import type { NetworkPolicyEvaluationResult } from '../../api/policy-evaluation.js';
import { table } from '../../lib/table.js';

export type EvaluationFormat = 'table' | 'json' | 'yaml';

export function printEvaluation(r: NetworkPolicyEvaluationResult, format: EvaluationFormat): string {
  if (format === 'json') return `${JSON.stringify(r, null, 2)}\n`;
  if (format === 'yaml') return stringify(r);
  const res = r.response;
  const p = res.networkPolicy;
  const rows = [
    ['NAME', 'NAMESPACE', 'POLICY-TYPE', 'RULE-INDEX', 'DIRECTION', 'ACTION', 'DECIDED-BY'],
    [p?.name ?? '<none>', p?.namespace ?? '', p?.type ?? '', res.ruleIndex !== undefined ? String(res.ruleIndex) : '', res.rule?.direction ?? '', res.action, res.decidedBy],
  ];
  return `${table(rows)}${res.message}\n${(res.policyErrors ?? []).map((e) => `warning: policy left out: ${e}\n`).join('')}`;
}
