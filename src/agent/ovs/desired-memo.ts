// The desired flows of the bridge's last whole reconcile, by object, so that the next one plans
// only what changed. Modules that keep their flows between syncs (Services: one Flow object per
// flow while its Service is unchanged) hand the same objects again; a flow seen last time and
// planned then is, while the mirror has seen no other write, still installed exactly as planned.
// So a reconcile plans only the keys (table, priority, match) a change touches: those of flows
// it has not seen ("fresh"), and those of flows no longer desired ("gone"). At each touched key
// the winner is the desired flow the whole plan would keep — the last one in desired order —
// among the fresh flows there and the remembered winner, if still desired. Only winners are
// remembered: a flow that lost to a later one is fresh next time, so every contender for a
// touched key is in view. The plan of the touched keys against the installed flows at those
// keys is then the whole plan restricted to what differs (test/unit/ovs/desired-memo.test.ts).
//
// Flows are values: a Flow object handed to reconcile must not be mutated afterwards.
import type { Flow, OvsFlow } from './flow.js';
import type { FlowIndex } from './flow-plan.js';

export interface MemoEntry {
  flow: Flow;
  /** The flow as planned and installed (OVS's text where the planner resolved it). */
  want: OvsFlow;
  /** The last delta() that found the flow desired. */
  gen: number;
  /** Its position in that desired list (the later of two flows with one key wins). */
  pos: number;
}

type Key = Pick<OvsFlow, 'tableId' | 'priority' | 'match'>;

/** (table, priority) → match → value, like FlowIndex (no key strings built per flow). */
class KeyMap<V> {
  private readonly m = new Map<number, Map<string, V>>();
  get(k: Key): V | undefined {
    return this.m.get(k.tableId * 65536 + k.priority)?.get(k.match);
  }
  set(k: Key, v: V): void {
    const tp = k.tableId * 65536 + k.priority;
    let inner = this.m.get(tp);
    if (!inner) this.m.set(tp, (inner = new Map()));
    inner.set(k.match, v);
  }
  delete(k: Key): void {
    this.m.get(k.tableId * 65536 + k.priority)?.delete(k.match);
  }
  *values(): IterableIterator<V> {
    for (const inner of this.m.values()) yield* inner.values();
  }
}

/** One touched key: the desired flow there now (none: delete what is installed). */
export interface DeltaSlot {
  key: Key;
  want?: OvsFlow;
  /** The fresh Flow the want comes from; undefined when the remembered winner stays. */
  fresh?: Flow;
  pos: number;
}

export interface Delta {
  slots: DeltaSlot[];
  /** The desired flows at the touched keys, one per slot that has one (plan them). */
  want: OvsFlow[];
  /** The installed flows at the touched keys (plan against them; unclaimed ones are deleted). */
  installed: OvsFlow[];
  gone: MemoEntry[];
  /** Remembered flows still desired at keys nobody touched: unchanged without a look. */
  untouched: number;
  gen: number;
}

export class DesiredMemo {
  private readonly byFlow = new Map<Flow, MemoEntry>();
  private readonly byKey = new KeyMap<MemoEntry>();
  private gen = 0;

  private constructor(
    /** The mirror this memo describes, and the bridge's write count when it last matched. */
    readonly mirror: FlowIndex,
    public writes: number,
  ) {}

  /**
   * After a whole plan was applied: `wants[j]` is `desired[j]` as planned (same order, canonical
   * rewrites included); where several share a key the last one is the winner.
   */
  static whole(desired: readonly Flow[], wants: readonly OvsFlow[], mirror: FlowIndex, writes: number): DesiredMemo {
    const memo = new DesiredMemo(mirror, writes);
    for (let j = 0; j < desired.length; j++) {
      const e: MemoEntry = { flow: desired[j]!, want: wants[j]!, gen: 0, pos: j };
      const before = memo.byKey.get(e.want);
      if (before) memo.byFlow.delete(before.flow);
      memo.byKey.set(e.want, e);
      memo.byFlow.set(e.flow, e); // a Flow listed twice: its later position
    }
    return memo;
  }

  /** Desired flows remembered (the winners of the last plan). */
  get size(): number {
    return this.byFlow.size;
  }

  /**
   * The touched part of `desired`, or undefined when more than `maxChanges` flows are fresh or
   * gone (then the whole plan is cheaper). `toWant` turns a fresh Flow into its OvsFlow.
   */
  delta(desired: readonly Flow[], toWant: (f: Flow) => OvsFlow, maxChanges: number): Delta | undefined {
    const gen = ++this.gen;
    const fresh: number[] = [];
    let kept = 0;
    for (let j = 0; j < desired.length; j++) {
      const e = this.byFlow.get(desired[j]!);
      if (!e) {
        if (fresh.push(j) > maxChanges) return undefined;
        continue;
      }
      if (e.gen !== gen) kept++;
      e.gen = gen;
      e.pos = j;
    }
    const gone = kept === this.byFlow.size ? [] : [...this.byFlow.values()].filter((e) => e.gen !== gen);
    if (fresh.length + gone.length > maxChanges) return undefined;

    const slots = new KeyMap<DeltaSlot>();
    for (const j of fresh) {
      const want = toWant(desired[j]!);
      slots.set(want, { key: want, want, fresh: desired[j], pos: j }); // in order: the later fresh flow wins
    }
    for (const e of gone) if (!slots.get(e.want)) slots.set(e.want, { key: e.want, pos: -1 });
    const out: Delta = { slots: [], want: [], installed: [], gone, untouched: kept, gen };
    for (const s of slots.values()) {
      const remembered = this.byKey.get(s.key);
      if (remembered?.gen === gen) out.untouched--;
      if (remembered && remembered.gen === gen && remembered.pos > s.pos) {
        s.want = remembered.want;
        s.fresh = undefined;
        s.pos = remembered.pos;
      }
      out.slots.push(s);
      if (s.want) out.want.push(s.want);
      const i = this.mirror.get(s.key);
      if (i) out.installed.push(i);
    }
    return out;
  }

  /**
   * The delta's plan was applied: remember its fresh winners as planned (`planned` maps a want
   * to its final form, e.g. rewritten in another text of an installed flow, whose key it then
   * takes) and forget the gone flows and the remembered ones that lost their key. Every key the
   * mirror holds keeps exactly one remembered flow, or a flow that leaves later would never be
   * deleted.
   */
  commit(d: Delta, planned: (want: OvsFlow) => OvsFlow, writes: number): void {
    for (const e of d.gone) this.forget(e);
    // A remembered flow where a fresh one won: its installed flow was rewritten or deleted.
    for (const s of d.slots) {
      const before = s.fresh && this.byKey.get(s.key);
      if (before) this.forget(before);
    }
    // Then the fresh winners at their final keys, in the plan's order (a later one with the same key wins there too).
    for (const s of d.slots) {
      if (!s.fresh) continue; // the remembered winner stays, or nothing is desired here any more
      const want = planned(s.want!);
      const at = this.byKey.get(want);
      if (at) this.forget(at);
      const e: MemoEntry = { flow: s.fresh, want, gen: d.gen, pos: s.pos };
      this.byKey.set(want, e);
      this.byFlow.set(s.fresh, e);
    }
    this.writes = writes;
  }

  private forget(e: MemoEntry): void {
    if (this.byFlow.get(e.flow) === e) this.byFlow.delete(e.flow);
    if (this.byKey.get(e.want) === e) this.byKey.delete(e.want);
  }
}
