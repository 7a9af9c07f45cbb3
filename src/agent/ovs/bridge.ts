// OpenFlow programming of one bridge, addressed by its management socket
// (`unix:<rundir>/br-int.mgmt`). Changes go over the process's one long-lived OpenFlow 1.5
// connection to the bridge (src/lib/openflow/shared.ts), encoded from the flows' text by
// src/lib/openflow (no ovs-ofctl process, no text parsing in OVS). All changes of one call
// go in ONE bundle, which OVS commits atomically: a packet sees the old flow table or the new
// one, never a half-applied diff. Dumps (startup, scoped reconciles) still use ovs-ofctl
// (a private OVS run directory also needs OVS_RUNDIR).
import { encodePacketOutMessage, type PacketOut } from './packet-out.js';
import { statSync } from 'node:fs';
import path from 'node:path';
import { run } from '../../lib/exec.js';
import { createLogger } from '../../lib/log.js';
import type { PhaseSpan } from '../../lib/phases.js';
import { OFPMP, OFPT } from '../../lib/openflow/header.js';
import { flowStatsRequest } from '../../lib/openflow/flow-stats.js';
import { decodeError } from '../../lib/openflow/messages.js';
import { OpenFlowError, type OpenFlowConnection } from '../../lib/openflow/connection.js';
import { acquireConnection, type SharedConnection } from '../../lib/openflow/shared.js';
import { OfWriter } from '../../lib/openflow/match-fields.js';
import { encodeFlowMod, putFlowMod } from '../../lib/openflow/flow-mod.js';
import { putGroupMod } from '../../lib/openflow/group-mod.js';
import { bundleControlBody, putBundleAddBody } from '../../lib/openflow/bundle.js';
import { FlowCanonicalizer, FlowRejectedError, FlowSyntaxError } from './canonical.js';
import { matchesFilter, formatCookieFilter, type CookieFilter } from './cookie.js';
import { formatFlow, formatFlowSelector, parseDumpFlows, toOvsFlow, type Flow, type OvsFlow, type TableResolver } from './flow.js';
import { changeCount, FlowIndex, planFlowChanges, type FlowChanges, type FlowPlan } from './flow-plan.js';
import { expires, InstalledFlows } from './installed-flows.js';
import { DesiredMemo, type Delta } from './desired-memo.js';
import { emptyGroupChanges, formatGroup, groupChangeCount, parseDumpGroups, planGroupChanges, type Group, type GroupChanges } from './group.js';

const log = createLogger('ovs/bridge');
/** Bundle messages sent per event-loop turn (~100 kB of policy flows). */
const SEND_CHUNK = 1000;
/** A reconcile plans only what changed while at most this many flows (or 1/8 of the set) are new or gone. */
const MIN_DELTA = 256;

type Section = 'group add' | 'group modify' | 'group delete' | 'add' | 'modify_strict' | 'delete_strict';

/** Writes one change of a bundle as its OpenFlow message (inner message of a BUNDLE_ADD). */
function putChange(w: OfWriter, kind: Section, item: unknown, xid: number): void {
  if (kind === 'group add' || kind === 'group modify') {
    const g = item as Group;
    return putGroupMod(w, kind === 'group add' ? 'add' : 'modify', g.id, g.spec, xid);
  }
  if (kind === 'group delete') return putGroupMod(w, 'delete', item as number, '', xid);
  const f = item as OvsFlow;
  putFlowMod(w, {
    command: kind, tableId: f.tableId, priority: f.priority, match: f.match, actions: f.actions,
    cookie: kind === 'add' ? f.cookie : 0n, idleTimeout: f.idleTimeout, hardTimeout: f.hardTimeout, importance: f.importance,
  }, xid);
}

/** A change as the text ovs-ofctl would have read (for errors). */
function describe(kind: Section, item: unknown): string {
  switch (kind) {
    case 'group add': case 'group modify': return `${kind} ${formatGroup(item as Group)}`;
    case 'group delete': return `group delete group_id=${item as number}`;
    case 'add': return formatFlow(item as OvsFlow);
    case 'modify_strict': return `modify_strict ${formatFlow({ ...(item as OvsFlow), cookie: 0n })}`;
    case 'delete_strict': return `delete_strict ${formatFlowSelector(item as OvsFlow)}`;
  }
}

/** Bundle ids, process-wide: bridge objects of one switch share its connection (and OVS's bundle ids are per connection). */
let nextBundleId = 1;

export interface OpenFlowBridgeOptions {
  /** `unix:/…/br-int.mgmt` */
  mgmt: string;
  tables: TableResolver;
  /** OVS run directory for ovs-ofctl; defaults to the directory of the management socket. */
  rundir?: string;
  env?: NodeJS.ProcessEnv;
  /**
   * This object is the bridge's only writer (the agent: fail_mode secure, no other
   * controller). Then the first whole-table dump is kept as a mirror that every applied
   * bundle updates, and later unscoped reconciles plan against it without dumping.
   */
  soleWriter?: boolean;
  /**
   * Flows OVS itself adds (the per-connection counters `learn` installs): never planned
   * against, adopted or deleted as stale; dumpFlows leaves them out unless asked.
   */
  foreign?: CookieFilter;
}

export interface DumpOptions {
  /** Only flows whose cookie matches. */
  cookie?: CookieFilter;
  tableId?: number;
  /** Include n_packets, n_bytes and duration. */
  stats?: boolean;
  /** Keep the `foreign` flows (they are left out by default). */
  foreign?: boolean;
}

export interface ReconcileResult {
  added: number;
  modified: number;
  deleted: number;
  unchanged: number;
  /** Of unchanged: kept with the cookie of an earlier round. */
  adopted: number;
}

export type { PacketOut } from './packet-out.js';

export class OpenFlowBridge {
  readonly mgmt: string;
  readonly tables: TableResolver;
  readonly canonical = new FlowCanonicalizer();
  private readonly env: NodeJS.ProcessEnv;
  private readonly soleWriter: boolean;
  private readonly foreign?: CookieFilter;
  /** What OVS holds, while it is known without a dump (soleWriter only). */
  private installed?: InstalledFlows;
  /** The management socket's identity when the mirror was taken (see switchIdentity). */
  private installedSwitch = '';
  /** Groups on the switch (id → spec as last written or dumped), while known without a dump. */
  private installedGroups?: Map<number, string>;
  /** Writes to the mirror since start (bundles, dumps trusted, forgets): a memo is valid only for its own. */
  private writes = 0;
  /** The last whole reconcile's desired flows, while they describe the mirror (desired-memo.ts). */
  private memo?: DesiredMemo;
  /** The shared OpenFlow connection, acquired on first use. */
  private shared?: Promise<SharedConnection>;
  private readonly onDisconnect = () => this.forget();

  constructor(opts: OpenFlowBridgeOptions) {
    this.mgmt = opts.mgmt;
    this.tables = opts.tables;
    this.soleWriter = opts.soleWriter ?? false;
    this.foreign = opts.foreign;
    const rundir = opts.rundir ?? path.dirname(opts.mgmt.replace(/^unix:/, ''));
    this.env = { ...(opts.env ?? process.env), OVS_RUNDIR: rundir };
  }

  async dumpFlows(opts: DumpOptions = {}): Promise<OvsFlow[]> {
    // An empty table (a fresh box, a new bridge) needs no dump process: one aggregate request says so.
    if (!opts.stats && (await this.countFlows(opts)) === 0) return [];
    const flows = parseDumpFlows(await this.dumpFlowsText(opts));
    const foreign = this.foreign;
    return foreign && !opts.foreign ? flows.filter((f) => !matchesFilter(f.cookie, foreign)) : flows;
  }

  /**
   * How many flows match the filter, from OFPMP_AGGREGATE_STATS on the connection (its OXS
   * flow_count); undefined when the connection cannot tell (then the caller dumps).
   */
  async countFlows(opts: DumpOptions = {}): Promise<number | undefined> {
    try {
      const conn = await this.connection();
      const filter = { tableId: opts.tableId, cookie: opts.cookie?.value, cookieMask: opts.cookie?.mask };
      const [body] = await conn.multipart(OFPMP.AGGREGATE_STATS, flowStatsRequest(filter), { what: 'aggregate stats request', timeoutMs: 5000 });
      // ofp_stats: reserved, length, then OXS TLVs; flow_count is OXS class 0x8002 field 3, 4 bytes.
      if (!body || body.length < 4) return undefined;
      const end = Math.min(body.length, body.readUInt16BE(2));
      for (let at = 4; at + 4 <= end; ) {
        const h = body.readUInt32BE(at);
        if (h === 0x80020604 && at + 8 <= end) return body.readUInt32BE(at + 4);
        at += 4 + (h & 0xff);
      }
      return undefined;
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'aggregate stats failed; dumping');
      return undefined;
    }
  }

  /** Raw `dump-flows` text (without stats unless asked), e.g. to compare dumps byte for byte. */
  async dumpFlowsText(opts: DumpOptions = {}): Promise<string> {
    const filter = [opts.cookie ? formatCookieFilter(opts.cookie) : '', opts.tableId !== undefined ? `table=${opts.tableId}` : ''].filter(Boolean).join(',');
    const args = ['-O', 'OpenFlow15', 'dump-flows', ...(opts.stats ? [] : ['--no-stats']), this.mgmt, ...(filter ? [filter] : [])];
    return (await this.ofctl(args)).stdout;
  }

  /** True while reconcile plans against the in-memory mirror instead of a dump. */
  get mirrored(): boolean {
    return this.installed !== undefined;
  }

  /** Drops the mirror, e.g. when OVS may have lost or changed flows behind the agent's back; the next reconcile dumps. */
  forget(): void {
    this.writes++;
    this.installed = undefined;
    this.installedGroups = undefined;
  }

  async dumpGroups(): Promise<Group[]> {
    return parseDumpGroups((await this.ofctl(['-O', 'OpenFlow15', 'dump-groups', this.mgmt])).stdout);
  }

  /** The groups to add, rewrite and delete for `desired` (against the mirror, or a dump). */
  async planGroups(desired: readonly Group[]): Promise<GroupChanges> {
    this.installedGroups ??= new Map((await this.dumpGroups()).map((g) => [g.id, g.spec]));
    return planGroupChanges(this.installedGroups, desired);
  }

  /** Applies group changes alone, in one bundle (the first sync's groups go in before its FlowRound). */
  async applyGroups(changes: GroupChanges): Promise<void> {
    await this.apply({ add: [], replace: [], modify: [], delete: [] }, changes);
  }

  /**
   * @internal a whole-table dump: with soleWriter it becomes the mirror that later bundles
   * update. `switchId` is switchIdentity() taken before the dump.
   */
  trust(dumped: readonly OvsFlow[], switchId: string): InstalledFlows {
    const index = new InstalledFlows(dumped);
    this.writes++;
    this.installed = this.soleWriter && !dumped.some(expires) ? index : undefined;
    this.installedSwitch = switchId;
    return index;
  }

  /**
   * vswitchd re-creates the bridge's management socket when it restarts (or the bridge is
   * re-created), and then the flow table starts empty: a changed inode means the mirror is
   * stale. One stat per sync; '' (no detection) for a non-unix management address.
   */
  async switchIdentity(): Promise<string> {
    if (!this.mgmt.startsWith('unix:')) return '';
    // Synchronous on purpose: one stat of a local socket is microseconds, while the thread-pool
    // round trip of the async one cost 2–8 ms per sync on a loaded box (services bench).
    let st;
    try {
      st = statSync(this.mgmt.slice(5), { throwIfNoEntry: false });
    } catch {
      return '';
    }
    return st ? `${st.dev}:${st.ino}:${st.ctimeMs}` : '';
  }

  /** The bridge's OpenFlow connection (the process's shared one; it reconnects by itself). */
  private async connection(): Promise<OpenFlowConnection> {
    if (!this.shared) {
      const p = acquireConnection(this.mgmt);
      this.shared = p;
      p.then(
        // A lost connection may have lost a bundle's outcome, or vswitchd restarted: dump next time.
        ({ conn }) => conn.on('disconnect', this.onDisconnect),
        () => this.shared === p && (this.shared = undefined),
      );
    }
    const { conn } = await this.shared;
    await conn.whenReady();
    return conn;
  }

  /** Releases the OpenFlow connection (the last user's release closes it). */
  async close(): Promise<void> {
    const p = this.shared;
    this.shared = undefined;
    const shared = await p?.catch(() => undefined);
    shared?.conn.off('disconnect', this.onDisconnect);
    await shared?.release();
  }

  /** Applies adds, replaces, strict modifies and strict deletes in one atomic bundle. */
  async apply(changes: FlowChanges, groups: GroupChanges = emptyGroupChanges()): Promise<void> {
    const groupCount = groupChangeCount(groups);
    if (!changeCount(changes) && !groupCount) return;
    this.writes++;
    try {
      await this.applyBundle(await this.connection(), changes, groups);
    } catch (err) {
      // Refused (nothing applied) or lost midway (unknown): either way, dump next time.
      this.installed = undefined;
      this.installedGroups = undefined;
      throw err;
    }
    if (this.installedGroups) {
      for (const g of [...groups.add, ...groups.modify]) this.installedGroups.set(g.id, g.spec);
      for (const id of groups.delete) this.installedGroups.delete(id);
    }
    if (!this.installed) return;
    if (changes.add.some(expires) || changes.replace.some(expires) || changes.modify.some(expires)) this.installed = undefined;
    else this.installed.record(changes, (f) => this.canonical.known(f));
  }

  /**
   * One bundle: open, every change as a BUNDLE_ADD_MESSAGE (groups added or rewritten before
   * the flows that point at them, deleted after the flows that did), then — only if OVS took
   * every message — commit; otherwise discard. Messages are encoded and sent chunk by chunk,
   * so OVS stages the first while the agent encodes the next (the two cores overlap); nothing
   * is applied before the commit, so a flow the encoder refuses midway only discards the
   * bundle. An error names the flow as text.
   */
  private async applyBundle(conn: OpenFlowConnection, changes: FlowChanges, groups: GroupChanges): Promise<void> {
    const bundleId = nextBundleId++ >>> 0;
    // In bundle order; one entry per change, named only if something fails.
    const sections: [Section, readonly unknown[]][] = [
      ['group add', groups.add], ['group modify', groups.modify], ['add', changes.add], ['add', changes.replace],
      ['modify_strict', changes.modify], ['delete_strict', changes.delete], ['group delete', groups.delete],
    ];
    const byXid = new Map<number, [Section, unknown]>();
    const sent: Promise<void>[] = [];
    const w = new OfWriter(4096);
    const discard = () => conn.request(OFPT.BUNDLE_CONTROL, bundleControlBody(bundleId, 'discard_request'), { what: `bundle ${bundleId} discard` }).catch(() => {});
    // The messages follow the open without waiting for its reply (one round trip less: OVS
    // answers in order, so a failed open fails them too); the commit waits for all of them.
    const opened = conn.request(OFPT.BUNDLE_CONTROL, bundleControlBody(bundleId, 'open_request'), { what: `bundle ${bundleId} open` });
    opened.catch(() => {}); // examined below
    let inChunk = 0;
    for (const [kind, list] of sections) {
      for (const item of list) {
        const xid = conn.nextXid();
        w.len = 0;
        try {
          putBundleAddBody(w, bundleId, (x) => putChange(x, kind, item, xid));
        } catch (err) {
          await Promise.allSettled([opened, ...sent]);
          await discard();
          throw new FlowSyntaxError(describe(kind, item), (err as Error).message);
        }
        byXid.set(xid, [kind, item]);
        // The connection copies the body (with its header) before returning: the writer is reused.
        const p = conn.send(OFPT.BUNDLE_ADD_MESSAGE, w.take(), { xid, what: `bundle ${bundleId} message`, timeoutMs: 0 });
        p.catch(() => {}); // examined below; not unhandled while later chunks are sent
        sent.push(p);
        if (++inChunk === SEND_CHUNK) {
          inChunk = 0;
          await new Promise(setImmediate); // let the socket flush this chunk to OVS
        }
      }
    }
    const [open] = await Promise.allSettled([opened]);
    const settled = await Promise.allSettled(sent);
    if (open!.status === 'rejected') {
      await discard();
      throw open.reason;
    }
    const bad = settled.findIndex((r) => r.status === 'rejected');
    if (bad >= 0) {
      await discard();
      const err = (settled[bad] as PromiseRejectedResult).reason as unknown;
      const at = err instanceof OpenFlowError ? byXid.get(err.xid) : undefined;
      throw at ? new FlowRejectedError(describe(...at), (err as OpenFlowError).errorName.split('/').pop()!) : err;
    }
    // A message that fails at commit is reported (with its own xid) before the commit's error.
    let failed: { xid: number; name: string } | undefined;
    const onMessage = (m: { type: number; xid: number; body: Buffer }) => {
      if (m.type === OFPT.ERROR && byXid.has(m.xid) && !failed) failed = { xid: m.xid, name: decodeError(m.body).name };
    };
    conn.on('message', onMessage);
    try {
      await conn.request(OFPT.BUNDLE_CONTROL, bundleControlBody(bundleId, 'commit_request'), { what: `bundle ${bundleId} commit` });
    } catch (err) {
      if (failed) throw new FlowRejectedError(describe(...byXid.get(failed.xid)!), failed.name.split('/').pop()!);
      throw err;
    } finally {
      conn.off('message', onMessage);
    }
  }

  /**
   * Makes the installed flows (all, or those whose cookie matches `scope`) equal to `desired`,
   * touching only the difference, in one bundle. Re-running with the same set changes nothing.
   */
  async reconcile(desired: readonly Flow[], opts: { scope?: CookieFilter; groups?: readonly Group[]; phases?: PhaseSpan } = {}): Promise<ReconcileResult> {
    const whole = !opts.scope;
    const switchId = whole && this.soleWriter ? await this.switchIdentity() : '';
    if (whole && this.installed && switchId !== this.installedSwitch) {
      log.warn('the bridge was re-created (vswitchd restarted?): dumping its flows again');
      this.forget();
    }
    // Groups (when given) go in the same atomic bundle as the flows.
    const groups = opts.groups ? await this.planGroups(opts.groups) : emptyGroupChanges();
    const mirror = whole ? this.installed : undefined;
    // The mirror is as the last whole reconcile left it: plan only the flows that changed since.
    const memo = mirror && this.memo?.mirror === mirror && this.memo.writes === this.writes ? this.memo : undefined;
    const delta = memo?.delta(desired, (f) => this.canonical.cached(toOvsFlow(f, this.tables)), Math.max(MIN_DELTA, desired.length >> 3));
    if (memo && delta) return this.reconcileDelta(memo, delta, groups, opts.phases);
    this.memo = undefined;
    const dump = mirror ? undefined : this.dumpFlows({ cookie: opts.scope });
    const want = desired.map((f) => toOvsFlow(f, this.tables));
    const installed = mirror ?? (whole ? this.trust(await dump!, switchId) : new FlowIndex(await dump!));
    const { plan, want: planned } = await this.planFinal(installed, want, true);
    opts.phases?.mark('plan');
    const before = this.writes;
    await this.apply(plan, groups);
    opts.phases?.mark('bundle');
    if (this.installed && this.installed === installed && this.writes === before + wrote(plan, groups)) {
      this.memo = DesiredMemo.whole(desired, planned, this.installed, this.writes);
    }
    return resultOf(plan);
  }

  /** reconcile() of the touched keys only: the same plan as a whole one, restricted to what differs. */
  private async reconcileDelta(memo: DesiredMemo, delta: Delta, groups: GroupChanges, phases?: PhaseSpan): Promise<ReconcileResult> {
    const mirror = memo.mirror as InstalledFlows;
    const { plan, want } = await this.planFinal(new FlowIndex(delta.installed), delta.want, true, undefined, (f) => !mirror.isLoose(f));
    const final = new Map(delta.want.map((w, i) => [w, want[i]!]));
    phases?.mark('plan');
    const before = this.writes;
    await this.apply(plan, groups);
    phases?.mark('bundle');
    if (this.installed === mirror && this.writes === before + wrote(plan, groups)) memo.commit(delta, (w) => final.get(w) ?? w, this.writes);
    else this.memo = undefined;
    const result = resultOf(plan);
    // Every desired flow the plan did not look at is unchanged (adopted counts only those it looked at).
    return { ...result, unchanged: result.unchanged + delta.untouched };
  }

  /**
   * @internal plan against installed flows. A desired flow that met no installed flow by text
   * may still be one in other words: it is looked up by its encoding among the installed flows
   * nobody claimed (canonical.ts), and the plan redone with the installed text.
   */
  async plan(installed: readonly OvsFlow[] | FlowIndex, desired: OvsFlow[], deleteStale: boolean, leftovers?: number): Promise<FlowPlan> {
    return (await this.planFinal(installed, desired, deleteStale, leftovers)).plan;
  }

  /** plan(), and the desired flows as finally planned (in OVS's text where resolved), in the order given. */
  private async planFinal(installed: readonly OvsFlow[] | FlowIndex, desired: OvsFlow[], deleteStale: boolean, leftovers?: number, fromOvs?: (f: OvsFlow) => boolean): Promise<{ plan: FlowPlan; want: OvsFlow[] }> {
    const index = installed instanceof FlowIndex ? installed : new FlowIndex(installed);
    let want = desired.map((f) => this.canonical.cached(f));
    let plan = planFlowChanges(index, want, { deleteStale });
    const unknown = plan.inexact.filter((f) => !this.canonical.known(f));
    // From an empty table (or with every installed flow claimed) an inexact flow is a plain add.
    if (unknown.length && ((leftovers ?? plan.stale.length) > 0 || unknown.some((f) => index.get(f)))) {
      fromOvs ??= index instanceof InstalledFlows ? (f: OvsFlow) => !index.isLoose(f) : () => true;
      const rewritten = this.canonical.resolve(unknown, plan.stale, (f) => index.get(f), fromOvs);
      if (rewritten.size) {
        want = want.map((f) => rewritten.get(f) ?? f);
        plan = planFlowChanges(index, want, { deleteStale });
      }
    }
    if (plan.inexact.length) log.debug({ add: plan.add.length, modify: plan.modify.length + plan.replace.length, delete: plan.delete.length }, 'flow plan');
    return { plan, want };
  }

  /** Deletes every flow whose cookie matches (e.g. a module's flows, or an old round's). */
  async deleteFlows(scope: CookieFilter): Promise<void> {
    this.writes++;
    this.installed = undefined; // which flows matched is known only to OVS
    await this.deleteByCookie(scope);
  }

  /**
   * Deletes flows OVS learned (the `foreign` ones, e.g. Service affinities) whose cookie
   * matches; the mirror stays valid, since it never holds them.
   */
  async deleteForeignFlows(scope: CookieFilter): Promise<void> {
    if (!this.foreign || (scope.mask & this.foreign.mask) !== this.foreign.mask || (scope.value & this.foreign.mask) !== this.foreign.value) {
      throw new Error('deleteForeignFlows: the scope must lie inside the foreign cookies');
    }
    await this.deleteByCookie(scope);
  }

  /** One non-strict delete over every table (one flow mod: atomic by itself). */
  private async deleteByCookie(scope: CookieFilter): Promise<void> {
    const msg = encodeFlowMod({ command: 'delete', tableId: 0xff, priority: 0x8000, match: '', cookie: scope.value, cookieMask: scope.mask }, 0);
    await (await this.connection()).send(OFPT.FLOW_MOD, msg.subarray(8), { what: `delete flows ${formatCookieFilter(scope)}` });
  }

  /** Injects a frame as if received on inPort; `resubmit(,0)` runs it through the pipeline. */
  async packetOut(p: PacketOut): Promise<void> {
    const msg = encodePacketOutMessage(p); // bad input throws before anything is sent
    await (await this.connection()).send(OFPT.PACKET_OUT, msg, { what: `packet-out in_port=${p.inPort} actions=${p.actions.join(',')}` });
  }

  private ofctl(args: string[]) {
    return run('ovs-ofctl', args, { env: this.env });
  }
}

export function resultOf(plan: FlowPlan): ReconcileResult {
  return {
    added: plan.add.length,
    modified: plan.modify.length + plan.replace.length,
    deleted: plan.delete.length,
    unchanged: plan.unchanged,
    adopted: plan.adopted,
  };
}

/** How many writes apply() counts for this plan: one bundle, or none when there is nothing in it. */
const wrote = (plan: FlowChanges, groups: GroupChanges): number => (changeCount(plan) || groupChangeCount(groups) ? 1 : 0);
