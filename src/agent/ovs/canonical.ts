// One switch flow, many texts: `load:0x3->NXM_NX_REG0[0..3]` and `set_field:0x3/0xf->reg0`,
// `dl_type=0x0800` and `ip`, `ip_dscp=1` and `nw_tos=4`, fields in any order. OVS prints its
// own canonical text; the agent writes its own. They meet on the OpenFlow 1.5 encoding
// (src/lib/openflow): the encoder lays a match out in OVS's field order with aliases resolved,
// so two texts of one match give the same bytes, and the same holds for actions. No
// `ovs-ofctl parse-flows` process: a desired flow that matched nothing by text is looked up by
// its encoded match among the installed flows nobody claimed, and takes that flow's text (its
// actions' text too when their encodings agree). Answers are cached by the authored text, so
// a module that keeps producing the same flows pays the encoding once per process, and one
// that writes flows the way OVS prints them never pays.
import { CommandError } from '../../lib/exec.js';
import { actionsKey } from '../../lib/openflow/actions.js';
import { matchKey } from '../../lib/openflow/match.js';
import { DEFAULT_PRIORITY, type OvsFlow } from './flow.js';

/** A flow the encoder (or ovs-ofctl) cannot read: the message names the flow as written. */
export class FlowSyntaxError extends Error {
  constructor(readonly flow: string, readonly ovsMessage: string) {
    super(`invalid flow "${flow}": ${ovsMessage}`);
    this.name = 'FlowSyntaxError';
  }
}

/** The switch refused a flow of a bundle (so it applied none of them). */
export class FlowRejectedError extends Error {
  constructor(readonly flow: string, readonly ofpError: string) {
    super(`switch refused flow "${flow}": ${ofpError}; the bundle was not applied`);
    this.name = 'FlowRejectedError';
  }
}

type Canon = { match: string; actions: string };

// Encodings of installed flows, by object: a flow round resolves against the same snapshot
// many times, and each installed flow is encoded at most once.
const matchKeys = new WeakMap<OvsFlow, string>();
const actionKeys = new WeakMap<OvsFlow, string>();
function keyOf(f: OvsFlow): string {
  let k = matchKeys.get(f);
  if (k === undefined) matchKeys.set(f, (k = `${f.tableId}|${f.priority}|${matchKey(f.match)}`));
  return k;
}
function actionsKeyOf(f: OvsFlow): string {
  let k = actionKeys.get(f);
  if (k === undefined) actionKeys.set(f, (k = actionsKey(f.actions)));
  return k;
}

export class FlowCanonicalizer {
  // (table, priority) → match → actions → canonical. Nested maps: concatenating a key string
  // per flow cost more than the whole diff for 10k flows.
  private readonly cache = new Map<number, Map<string, Map<string, Canon>>>();
  private size = 0;

  constructor(private readonly maxEntries = 500_000) {}

  private lookup(f: OvsFlow): Canon | undefined {
    return this.cache.get(f.tableId * 65536 + f.priority)?.get(f.match)?.get(f.actions);
  }

  /** True when this exact text is known to be OVS's own (so an inexact diff is a real change). */
  known(f: OvsFlow): boolean {
    return this.lookup(f) !== undefined;
  }

  /** The flow in canonical form if known, else the flow unchanged. */
  cached(f: OvsFlow): OvsFlow {
    if (!this.size) return f;
    const c = this.lookup(f);
    return c && (c.match !== f.match || c.actions !== f.actions) ? { ...f, ...c } : f;
  }

  /**
   * For desired flows that met no installed flow by text: the installed flow each one is in
   * other words (same table, priority and encoded match), from `sameText` (the installed flow
   * with the same text key, whose actions' text differs) or `unclaimed`. Returns the desired
   * flows rewritten in the installed text: match always, actions when they encode the same.
   * Only a rewrite to OVS's own text (`fromOvs`: dumped, not recorded from the agent's
   * bundles) is cached as canonical. Throws FlowSyntaxError for a flow the encoder cannot read.
   */
  resolve(inexact: readonly OvsFlow[], unclaimed: readonly OvsFlow[], sameText: (f: OvsFlow) => OvsFlow | undefined, fromOvs: (f: OvsFlow) => boolean): Map<OvsFlow, OvsFlow> {
    const out = new Map<OvsFlow, OvsFlow>();
    let byKey: Map<string, OvsFlow> | undefined;
    for (const d of inexact) {
      let i = sameText(d);
      if (!i) {
        if (!unclaimed.length) continue;
        byKey ??= new Map(unclaimed.map((f) => [keyOf(f), f]));
        i = byKey.get(encoded(d, keyOf));
        if (!i) continue;
      }
      if (encoded(d, actionsKeyOf) === actionsKeyOf(i)) {
        if (fromOvs(i)) {
          this.put(d, { match: i.match, actions: i.actions });
          this.put(i, { match: i.match, actions: i.actions });
        }
        out.set(d, { ...d, match: i.match, actions: i.actions });
      } else if (i.match !== d.match) out.set(d, { ...d, match: i.match });
    }
    return out;
  }

  private put(f: OvsFlow, v: Canon): void {
    if (this.size >= this.maxEntries) {
      this.cache.clear(); // crude bound; entries are relearned on demand
      this.size = 0;
    }
    const tp = f.tableId * 65536 + f.priority;
    let byMatch = this.cache.get(tp);
    if (!byMatch) this.cache.set(tp, (byMatch = new Map()));
    let byActions = byMatch.get(f.match);
    if (!byActions) byMatch.set(f.match, (byActions = new Map()));
    if (!byActions.has(f.actions)) this.size++;
    byActions.set(f.actions, v);
  }
}

/** An encoding of a desired flow; a text the encoder refuses is a FlowSyntaxError naming the flow. */
function encoded(f: OvsFlow, key: (f: OvsFlow) => string): string {
  try {
    return key(f);
  } catch (err) {
    throw new FlowSyntaxError(`table=${f.tableId}, priority=${f.priority}${f.match ? `,${f.match}` : ''} actions=${f.actions}`, (err as Error).message);
  }
}

/** `OFPT_FLOW_MOD (OF1.5) (xid=0x1): ADD table:3 priority=190,in_port=1 actions=…` → match and actions. */
export function parseFlowMod(line: string): { match: string; actions: string; priority: number } {
  let rest = line.slice(line.indexOf(': ADD') + 5).trimStart();
  rest = rest.replace(/^table:\d+ ?/, '');
  const a = rest.startsWith('actions=') ? 0 : rest.indexOf(' actions=');
  if (a < 0) throw new Error(`unexpected parse-flows line: ${line}`);
  const head = rest.slice(0, a).trim();
  const actions = rest.slice(a === 0 ? 8 : a + 9);
  const p = /^priority=(\d+)(?:,(.*))?$/.exec(head);
  return p ? { priority: Number(p[1]), match: p[2] ?? '', actions } : { priority: DEFAULT_PRIORITY, match: head, actions };
}

/** Turns `ovs-ofctl: <file>:3: unknown keyword` into an error naming the third input line. */
export function asFlowError(err: unknown, lines: string[], file = '-'): Error {
  if (!(err instanceof CommandError)) return err as Error;
  const msg = err.result.stderr.trim();
  const m = new RegExp(`(?:^|\\n)ovs-ofctl: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:(\\d+): (.*)`).exec(msg);
  if (m && lines[Number(m[1]) - 1] !== undefined) return new FlowSyntaxError(lines[Number(m[1]) - 1], m[2]);
  // `Error OFPBAC_BAD_OUT_GROUP for: OFPT_FLOW_MOD (OF1.5) (xid=0x7): ADD table:11 priority=200,… actions=group:99`
  const r = /(?:^|\n)Error (\w+) for: OFPT_FLOW_MOD \([^)]*\) \([^)]*\): (.*)/.exec(msg);
  if (r) return new FlowRejectedError(r[2], r[1]);
  return err;
}
