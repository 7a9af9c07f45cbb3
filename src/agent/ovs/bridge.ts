// OpenFlow programming of one bridge through ovs-ofctl, addressed by its management socket
// (`unix:<rundir>/br-int.mgmt`; a private OVS run directory also needs OVS_RUNDIR). All
// changes of one call go in ONE `--bundle` transaction, which OVS commits atomically: a
// packet sees the old flow table or the new one, never a half-applied diff.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../../lib/exec.js';
import { createLogger } from '../../lib/log.js';
import { asFlowError, FlowCanonicalizer } from './canonical.js';
import { formatCookieFilter, matchesFilter, type CookieFilter } from './cookie.js';
import { formatFlow, formatFlowSelector, parseDumpFlows, toOvsFlow, type Flow, type OvsFlow, type TableResolver } from './flow.js';
import { changeCount, FlowIndex, planFlowChanges, type FlowChanges, type FlowPlan } from './flow-plan.js';
import { expires, InstalledFlows } from './installed-flows.js';
import { emptyGroupChanges, formatGroup, groupChangeCount, parseDumpGroups, planGroupChanges, type Group, type GroupChanges } from './group.js';
import { runStreaming } from './ofctl-stream.js';

const log = createLogger('ovs/bridge');
/** Flow lines per write to ovs-ofctl's stdin (~50 kB: under the pipe's 64 kB). */
const STREAM_CHUNK = 500;

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

export interface PacketOut {
  /** OpenFlow port the packet appears to come from (a number, or `controller`/`local`). */
  inPort: number | string;
  /** Ethernet frame as hex. */
  packetHex: string;
  actions: string[];
}

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

  constructor(opts: OpenFlowBridgeOptions) {
    this.mgmt = opts.mgmt;
    this.tables = opts.tables;
    this.soleWriter = opts.soleWriter ?? false;
    this.foreign = opts.foreign;
    const rundir = opts.rundir ?? path.dirname(opts.mgmt.replace(/^unix:/, ''));
    this.env = { ...(opts.env ?? process.env), OVS_RUNDIR: rundir };
  }

  async dumpFlows(opts: DumpOptions = {}): Promise<OvsFlow[]> {
    const flows = parseDumpFlows(await this.dumpFlowsText(opts));
    const foreign = this.foreign;
    return foreign && !opts.foreign ? flows.filter((f) => !matchesFilter(f.cookie, foreign)) : flows;
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
    await this.apply({ add: [], replace: [], modify: [], delete: [] }, undefined, changes);
  }

  /**
   * @internal a whole-table dump: with soleWriter it becomes the mirror that later bundles
   * update. `switchId` is switchIdentity() taken before the dump.
   */
  trust(dumped: readonly OvsFlow[], switchId: string): InstalledFlows {
    const index = new InstalledFlows(dumped);
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
    const st = await stat(this.mgmt.slice(5)).catch(() => undefined);
    return st ? `${st.dev}:${st.ino}:${st.ctimeMs}` : '';
  }

  /** Applies adds, replaces, strict modifies and strict deletes in one atomic bundle. */
  async apply(changes: FlowChanges, formatted?: Map<OvsFlow, string>, groups: GroupChanges = emptyGroupChanges()): Promise<void> {
    const groupCount = groupChangeCount(groups);
    if (!changeCount(changes) && !groupCount) return;
    const lines: string[] = [];
    const text = (f: OvsFlow) => formatted?.get(f) ?? formatFlow(f);
    // With groups the bundle goes through `ovs-ofctl bundle`, whose lines name their kind
    // (`flow add …`, `group modify …`); groups are added or rewritten before the flows that
    // point at them and deleted after the flows that did. Without, `add-flows`: a line
    // without a command keyword is an add.
    const [fAdd, fModify, fDelete] = groupCount ? ['flow add ', 'flow modify_strict ', 'flow delete_strict '] : ['', 'modify_strict ', 'delete_strict '];
    const before = [...groups.add.map((g) => `group add ${formatGroup(g)}`), ...groups.modify.map((g) => `group modify ${formatGroup(g)}`)];
    const after = groups.delete.map((id) => `group delete group_id=${id}`);
    const flowLine = (i: number): string => {
      let k = i;
      if (k < changes.add.length) return fAdd + text(changes.add[k]);
      k -= changes.add.length;
      if (k < changes.replace.length) return fAdd + text(changes.replace[k]);
      k -= changes.replace.length;
      if (k < changes.modify.length) return `${fModify}${formatFlow({ ...changes.modify[k], cookie: 0n })}`;
      return `${fDelete}${formatFlowSelector(changes.delete[k - changes.modify.length])}`;
    };
    const line = (i: number): string => (i < before.length ? before[i]! : i - before.length < changeCount(changes) ? flowLine(i - before.length) : after[i - before.length - changeCount(changes)]!);
    const total = changeCount(changes) + groupCount;
    // Formatted chunk by chunk while ovs-ofctl starts and parses (ofctl-stream.ts); the lines
    // are kept to name a refused one.
    function* input(): Generator<string> {
      for (let i = 0; i < total; ) {
        const start = lines.length;
        for (const end = Math.min(total, i + STREAM_CHUNK); i < end; i++) lines.push(line(i));
        yield lines.slice(start).join('\n') + '\n';
      }
    }
    try {
      // --no-names: flows name ports and tables by number only, so ovs-ofctl need not fetch
      // the switch's table features first (~30 ms of a small bundle's ~40 ms here).
      const args = groupCount ? ['bundle', this.mgmt, '-'] : ['--bundle', 'add-flows', this.mgmt, '-'];
      await runStreaming('ovs-ofctl', ['-O', 'OpenFlow15', '--no-names', ...args], input(), this.env);
    } catch (err) {
      // Refused (nothing applied) or lost midway (unknown): either way, dump next time.
      this.installed = undefined;
      this.installedGroups = undefined;
      throw asFlowError(err, lines);
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
   * Makes the installed flows (all, or those whose cookie matches `scope`) equal to `desired`,
   * touching only the difference, in one bundle. Re-running with the same set changes nothing.
   */
  async reconcile(desired: readonly Flow[], opts: { scope?: CookieFilter; groups?: readonly Group[] } = {}): Promise<ReconcileResult> {
    const whole = !opts.scope;
    const switchId = whole && this.soleWriter ? await this.switchIdentity() : '';
    if (whole && this.installed && switchId !== this.installedSwitch) {
      log.warn('the bridge was re-created (vswitchd restarted?): dumping its flows again');
      this.installed = undefined;
      this.installedGroups = undefined;
    }
    // Groups (when given) go in the same atomic bundle as the flows.
    const groups = opts.groups ? await this.planGroups(opts.groups) : emptyGroupChanges();
    const mirror = whole ? this.installed : undefined;
    const dump = mirror ? undefined : this.dumpFlows({ cookie: opts.scope });
    const want = desired.map((f) => toOvsFlow(f, this.tables));
    // While ovs-ofctl dumps, pre-format the desired flows (from an empty table they are all
    // adds). Against the mirror there is nothing to overlap with: format only the changes.
    const text = dump ? new Map(want.map((f) => [f, formatFlow(f)])) : undefined;
    const installed = mirror ?? (whole ? this.trust(await dump!, switchId) : new FlowIndex(await dump!));
    const plan = await this.plan(installed, want, true);
    await this.apply(plan, text, groups);
    return resultOf(plan);
  }

  /** @internal plan against installed flows, asking OVS for canonical text only when the answer could change the plan. */
  async plan(installed: readonly OvsFlow[] | FlowIndex, desired: OvsFlow[], deleteStale: boolean, leftovers?: number): Promise<FlowPlan> {
    const index = installed instanceof FlowIndex ? installed : new FlowIndex(installed);
    let want = desired.map((f) => this.canonical.cached(f));
    let plan = planFlowChanges(index, want, { deleteStale });
    const unknown = plan.inexact.filter((f) => !this.canonical.known(f));
    // Unclaimed mirror entries recorded in the agent's own text could be an inexact desired
    // flow in other words (installed-flows.ts): they need OVS's text too before the diff is trusted.
    const loose = plan.inexact.length && index instanceof InstalledFlows ? index.looseAmong(plan.stale) : [];
    // An inexact flow could still be an installed one in other words, if some installed flow
    // is unclaimed or shares its key. Otherwise it is a plain add (the from-empty fast path).
    if (loose.length || (unknown.length && ((leftovers ?? plan.stale.length) > 0 || unknown.some((f) => index.get(f))))) {
      const canon = await this.canonical.canonicalize([...unknown, ...loose]); // only these: exact matches are canonical already
      const byAuthored = new Map(unknown.map((f, i) => [f, canon[i]]));
      loose.forEach((f, i) => (index as InstalledFlows).settle(f, canon[unknown.length + i]));
      want = want.map((f) => byAuthored.get(f) ?? f);
      plan = planFlowChanges(index, want, { deleteStale });
    }
    if (plan.inexact.length) log.debug({ add: plan.add.length, modify: plan.modify.length + plan.replace.length, delete: plan.delete.length }, 'flow plan');
    return plan;
  }

  /** Deletes every flow whose cookie matches (e.g. a module's flows, or an old round's). */
  async deleteFlows(scope: CookieFilter): Promise<void> {
    this.installed = undefined; // which flows matched is known only to OVS
    await this.ofctl(['-O', 'OpenFlow15', '--bundle', 'del-flows', this.mgmt, formatCookieFilter(scope)]);
  }

  /**
   * Deletes flows OVS learned (the `foreign` ones, e.g. Service affinities) whose cookie
   * matches; the mirror stays valid, since it never holds them.
   */
  async deleteForeignFlows(scope: CookieFilter): Promise<void> {
    if (!this.foreign || (scope.mask & this.foreign.mask) !== this.foreign.mask || (scope.value & this.foreign.mask) !== this.foreign.value) {
      throw new Error('deleteForeignFlows: the scope must lie inside the foreign cookies');
    }
    await this.ofctl(['-O', 'OpenFlow15', 'del-flows', this.mgmt, formatCookieFilter(scope)]);
  }

  /** Injects a frame as if received on inPort; `resubmit(,0)` runs it through the pipeline. */
  async packetOut(p: PacketOut): Promise<void> {
    if (!/^([0-9a-f]{2})+$/i.test(p.packetHex)) throw new Error('packetOut: packetHex must be an even number of hex digits');
    await this.ofctl(['-O', 'OpenFlow15', 'packet-out', this.mgmt, `in_port=${p.inPort} packet=${p.packetHex} actions=${p.actions.join(',')}`]);
  }

  private ofctl(args: string[], input?: string) {
    return run('ovs-ofctl', args, { env: this.env, input });
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
