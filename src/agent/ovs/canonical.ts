// OVS's canonical text of a flow, learned from OVS itself rather than re-implemented:
// `ovs-ofctl parse-flows` runs the same parser and printer as the switch, offline. The
// answers are cached by the authored text, so a module that keeps producing the same flows
// pays for the subprocess once per process, and one that writes flows the way OVS prints
// them never pays. Diffing uses canonical text, which is what makes re-applying the same
// desired state a no-op.
import { CommandError, run } from '../../lib/exec.js';
import { DEFAULT_PRIORITY, formatFlowSelector, type OvsFlow } from './flow.js';

/** ovs-ofctl refused a flow: the message names the flow as written. */
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

export class FlowCanonicalizer {
  // (table, priority) → match → actions → canonical. Nested maps: concatenating a key string
  // per flow cost more than the whole diff for 10k flows.
  private readonly cache = new Map<number, Map<string, Map<string, Canon>>>();
  private size = 0;

  constructor(private readonly maxEntries = 500_000) {}

  private lookup(f: OvsFlow): Canon | undefined {
    return this.cache.get(f.tableId * 65536 + f.priority)?.get(f.match)?.get(f.actions);
  }

  /** True when the canonical form of this exact text is known (so an inexact diff is a real change). */
  known(f: OvsFlow): boolean {
    return this.lookup(f) !== undefined;
  }

  /** The flow in canonical form if known, else the flow unchanged. */
  cached(f: OvsFlow): OvsFlow {
    if (!this.size) return f;
    const c = this.lookup(f);
    return c && (c.match !== f.match || c.actions !== f.actions) ? { ...f, ...c } : f;
  }

  /** Canonical forms of the flows (same order), asking ovs-ofctl for the ones not cached. */
  async canonicalize(flows: OvsFlow[]): Promise<OvsFlow[]> {
    const todo = flows.filter((f) => !this.known(f));
    if (todo.length) {
      const lines = todo.map((f) => `${formatFlowSelector(f)} actions=${f.actions}`);
      let stdout: string;
      try {
        ({ stdout } = await run('ovs-ofctl', ['-O', 'OpenFlow15', 'parse-flows', '-'], { input: lines.join('\n') + '\n' }));
      } catch (err) {
        throw asFlowError(err, lines);
      }
      const parsed = stdout.split('\n').filter((l) => l.includes('FLOW_MOD'));
      if (parsed.length !== todo.length) throw new Error(`ovs-ofctl parse-flows printed ${parsed.length} flows for ${todo.length}`);
      todo.forEach((f, i) => {
        const { match, actions } = parseFlowMod(parsed[i]);
        this.put(f, { match, actions });
        this.put({ ...f, match, actions }, { match, actions });
      });
    }
    return flows.map((f) => this.cached(f));
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
