// Object status (Antrea's NetworkPolicyStatus: phase, nodes realized of the span, the failing
// nodes) served from counters kept per object, not computed from every report per read (issue
// #22: a 10k fleet polled for status). Per object: its span (as Span says), each span node's
// position, how many span nodes report the object's generation Realized, and which Failed.
// Reports move the counters of the objects they change, one node at a time (NodeRegistry's
// onReport says which objects moved and how they were: the node's kept report holds how they
// are, and the index keeps no copy of its own); a span is recomputed only when spans may have
// moved (`spanVersion`, the node list's identity, the object's generation), and the counters
// only when the span itself differs. A read is then O(1); after a span change, O(span) once.
// Equal to computeStatus() over the registry's reports by construction, and checked so
// (test/unit/controller/realization-index.test.ts).
import { failureOf, MAX_FAILURES_SHOWN, nodeRealization, statusFromCounts } from '../api/policy-status.js';
import type { NodeRealization, PolicyStatus } from '../api/controller-api.js';
import { objectKey, type NodeReported, type RealizedObject } from '../api/node-state.js';
import type { Span } from './span.js';
import type { ReportDelta } from './store/kept-report.js';
import type { NodeRegistry } from './store/nodes.js';
import type { ObjectStore, StoredRecord } from './store/objects.js';

/** One object's counters over its span, for one generation. */
interface Entry {
  generation: number;
  span: readonly string[];
  /** Span node → its index (membership, and the span order failures are named in). */
  position: ReadonlyMap<string, number>;
  /** What the span was computed with: the node list and the span version. */
  names: readonly string[];
  version: number | undefined;
  realized: number;
  /** Span nodes reporting this generation Failed → their reason. */
  failed: Map<string, string | undefined>;
  /** The failures named in the status, in span order (cleared when `failed` changes). */
  shown?: string[];
}

export interface RealizationIndexOptions {
  nodes: NodeRegistry;
  /** Deleted objects' counters are dropped. */
  store?: ObjectStore;
  span: Span;
  /**
   * Moves whenever any span may have moved other than by the node list (PolicySpan and
   * NodeConfigSpan versions). Absent: the span is recomputed (and compared) on every read.
   */
  spanVersion?: () => number;
}

export class RealizationIndex {
  /** The registry's kept reports (the counters are made from them). */
  private reports: ReadonlyMap<string, NodeReported> = new Map();
  private readonly entries = new Map<string, Entry>();
  /** Span positions by span array: objects sharing a span (every node) share one map. */
  private readonly positions = new WeakMap<readonly string[], ReadonlyMap<string, number>>();
  private readonly unsubscribe: (() => void)[] = [];
  private loaded = false;

  private constructor(private readonly opts: RealizationIndexOptions) {}

  static async open(opts: RealizationIndexOptions): Promise<RealizationIndex> {
    const index = new RealizationIndex(opts);
    // Listen first, then start from the registry's index as it stands once loaded: every change
    // after that instant is heard, none before it is missed.
    index.unsubscribe.push(opts.nodes.onReport((node, reported, delta) => index.loaded && index.take(node, reported, delta)));
    let reports: ReadonlyMap<string, NodeReported> | undefined;
    // (The registry's first read sets its index.)
    while (!reports) {
      await opts.nodes.reports();
      reports = opts.nodes.loadedReports();
    }
    index.reports = reports;
    index.loaded = true;
    if (opts.store) {
      index.unsubscribe.push(opts.store.onChange((changes) => {
        for (const c of changes) if (c.action === 'delete') index.entries.delete(objectKey(c.record));
      }));
    }
    return index;
  }

  close(): void {
    for (const u of this.unsubscribe.splice(0)) u();
  }

  /**
   * The objects the store holds now (a publication's snapshot): every other object's counters go.
   * The store tells this replica only of its own deletions (onChange); with a store shared by
   * replicas, an object deleted through another is seen gone here, at the next publication or
   * resync tick. Dropping an entry is always safe (a read counts it again), so a snapshot a
   * moment older than an entry costs a recount, never a wrong status.
   */
  retainOnly(objects: readonly StoredRecord[]): void {
    if (!this.entries.size) return;
    const live = new Set(objects.map((o) => objectKey(o)));
    for (const key of this.entries.keys()) if (!live.has(key)) this.entries.delete(key);
  }

  /** Objects with counters kept (tests; memory). */
  get size(): number {
    return this.entries.size;
  }

  /** The object's status from the current reports and span. */
  async status(record: StoredRecord): Promise<PolicyStatus> {
    return (await this.statuses([record]))[0]!;
  }

  /** Statuses of many objects (a list), with one look at the node list. */
  async statuses(records: readonly StoredRecord[]): Promise<PolicyStatus[]> {
    const names = await this.current();
    return records.map((record) => {
      const e = this.entry(record, names);
      return statusFromCounts(record.generation, e.realized, e.span.length, e.failed.size, this.shown(e));
    });
  }

  /** Per node of the span: what it reports for the object (O(span): it lists them). */
  async realization(record: StoredRecord, online: (node: string) => boolean): Promise<NodeRealization[]> {
    const names = await this.current();
    return nodeRealization(record, this.entry(record, names).span, this.opts.nodes.loadedReports() ?? (await this.opts.nodes.reports()), online);
  }

  /** The node list; with a shared store, also lets the registry take in other replicas' reports (heard through onReport). */
  private async current(): Promise<readonly string[]> {
    const [names] = await Promise.all([this.opts.nodes.names(), this.opts.nodes.reports()]);
    return names;
  }

  private entry(record: StoredRecord, names: readonly string[]): Entry {
    const key = objectKey(record);
    const version = this.opts.spanVersion?.();
    const e = this.entries.get(key);
    if (e && e.generation === record.generation && e.names === names && version !== undefined && e.version === version) return e;
    // Spans may have moved: this object's is recomputed; counters stay if it did not move.
    const span = this.opts.span(record, names);
    if (e && e.generation === record.generation && (e.span === span || sameList(e.span, span))) {
      Object.assign(e, { span, names, version });
      return e;
    }
    const fresh = this.count(key, record.generation, span, names, version);
    this.entries.set(key, fresh);
    return fresh;
  }

  private count(key: string, generation: number, span: readonly string[], names: readonly string[], version: number | undefined): Entry {
    let position = this.positions.get(span);
    if (!position) {
      const map = new Map<string, number>();
      span.forEach((n, i) => map.set(n, i));
      this.positions.set(span, (position = map));
    }
    const e: Entry = { generation, span, position, names, version, realized: 0, failed: new Map() };
    const reports = this.opts.nodes.loadedReports() ?? this.reports;
    for (const node of span) this.add(e, node, reports.get(node)?.objects[key]);
    return e;
  }

  /** A node's report changed: the counters of each object whose entry for the node moved follow. */
  private take(node: string, after: NodeReported | undefined, delta: ReportDelta): void {
    for (const [key, was] of delta.objects) this.move(node, key, was, after?.objects[key]);
  }

  private move(node: string, key: string, was: RealizedObject | undefined, now: RealizedObject | undefined): void {
    if (was === now || (was && now && was.generation === now.generation && was.phase === now.phase && was.reason === now.reason)) return;
    const e = this.entries.get(key);
    if (!e?.position.has(node)) return;
    if (was?.generation === e.generation) {
      if (was.phase === 'Realized') e.realized--;
      else if (e.failed.delete(node)) e.shown = undefined;
    }
    this.add(e, node, now);
  }

  private add(e: Entry, node: string, got: RealizedObject | undefined): void {
    if (got?.generation !== e.generation) return;
    if (got.phase === 'Realized') e.realized++;
    else {
      e.failed.set(node, got.reason);
      e.shown = undefined;
    }
  }

  private shown(e: Entry): string[] {
    if (!e.failed.size) return [];
    if (!e.shown) {
      const first = [...e.failed.keys()].sort((a, b) => e.position.get(a)! - e.position.get(b)!).slice(0, MAX_FAILURES_SHOWN);
      e.shown = first.map((n) => failureOf(n, e.failed.get(n)));
    }
    return e.shown;
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
