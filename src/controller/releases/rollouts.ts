// Rollouts: one at a time, persisted in the store (table `rollouts`), evaluated every second
// (and after each action) against the nodes' stored reports. Nodes of the waves reached so far
// get the release target — the signed manifest for their architecture — in their desired
// document (through the desired publisher).
import type { NodeReported } from '../../api/node-state.js';
import { RolloutCreateSchema, RolloutSchema, type ReleaseArch, type ReleaseTarget, type Rollout, type RolloutCreate, type SignedManifest } from '../../api/release.js';
import { createLogger } from '../../lib/log.js';
import { migrate, type SqlDatabase } from '../../lib/sqlite.js';
import type { RecentEvents } from '../events.js';
import type { NodeRegistry } from '../store/nodes.js';
import { checkNotExpired, manifestDigest, ReleaseRefused } from '../../release/verify.js';
import type { ReleaseStore } from './release-store.js';
import { rolloutEvents } from './rollout-events.js';
import { assignWaves, evaluateRollout, targetedNodes } from './rollout-plan.js';

const log = createLogger('controller.rollouts');

const MIGRATIONS = [
  `CREATE TABLE rollouts (
     name TEXT PRIMARY KEY,
     created TEXT NOT NULL,
     doc TEXT NOT NULL)`,           // the Rollout, JSON
];

export class RolloutError extends Error {
  constructor(readonly code: 404 | 409 | 422, message: string, readonly field?: string) {
    super(message);
  }
}

export interface RolloutContext {
  db: SqlDatabase;
  nodes: NodeRegistry;
  releases: ReleaseStore;
  /** Called when the set of release targets changed (the desired publisher republishes). */
  onTargetsChanged: () => void;
  evaluateEveryMs?: number;
  /** Where phase changes and node outcomes go as `rollout` events (GET /api/v1/events). */
  events?: RecentEvents;
}

export class Rollouts {
  private timer?: NodeJS.Timeout;
  private evaluating?: Promise<void>;
  /** node → target, for the desired publisher (which needs it synchronously). */
  private targets = new Map<string, ReleaseTarget>();
  private targetsKey = '';

  private constructor(private readonly ctx: RolloutContext) {}

  static async open(ctx: RolloutContext): Promise<Rollouts> {
    await migrate(ctx.db, 'controller-rollouts', MIGRATIONS);
    return new Rollouts(ctx);
  }

  async start(): Promise<void> {
    // A deleted or disabled node leaves every rollout not yet finished (its waves would wait for it forever).
    this.ctx.nodes.onChange((node, what) => what === 'removed' && void this.forgetNode(node).catch((err) => log.error({ err, node }, 'removing a node from rollouts failed')));
    await this.evaluate();
    this.timer = setInterval(() => void this.evaluate(), this.ctx.evaluateEveryMs ?? 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.evaluating;
  }

  /** The release target of one node, if a rollout asks it to run one. */
  target(node: string): ReleaseTarget | undefined {
    return this.targets.get(node);
  }

  async list(): Promise<Rollout[]> {
    const rows = await this.ctx.db.all<{ doc: string }>('SELECT doc FROM rollouts ORDER BY created DESC, name');
    return rows.map((r) => RolloutSchema.parse(JSON.parse(r.doc)));
  }

  async get(name: string): Promise<Rollout> {
    const row = await this.ctx.db.get<{ doc: string }>('SELECT doc FROM rollouts WHERE name = ?', [name]);
    if (!row) throw new RolloutError(404, `rollout ${name} not found`);
    return RolloutSchema.parse(JSON.parse(row.doc));
  }

  async create(input: RolloutCreate): Promise<Rollout> {
    const spec = RolloutCreateSchema.parse(input);
    const active = (await this.list()).find((r) => r.phase === 'Running' || r.phase === 'Paused');
    if (active) throw new RolloutError(409, `rollout ${active.name} is ${active.phase.toLowerCase()}: one rollout at a time (seinectl rollout abort ${active.name})`);
    const manifests = await this.ctx.releases.manifests(spec.release);
    if (!manifests.size) throw new RolloutError(422, `release ${spec.release} is not uploaded (seinectl release upload)`, 'release');
    // An expired release would only be refused by every box: said here, before anything starts.
    for (const m of manifests.values()) {
      try {
        checkNotExpired(m);
      } catch (err) {
        if (err instanceof ReleaseRefused) throw new RolloutError(422, err.message, 'release');
        throw err;
      }
    }
    const nodes = await this.ctx.nodes.names();
    if (!nodes.length) throw new RolloutError(422, 'no nodes registered: nothing to roll out to', 'release');
    const name = spec.name ?? `${spec.release}-${Date.now().toString(36)}`.replace(/[^a-z0-9.-]/g, '-');
    const now = new Date().toISOString();
    const rollout: Rollout = {
      name, release: spec.release, canaryPercent: spec.canaryPercent, wavePercents: spec.wavePercents, maxFailures: spec.maxFailures,
      phase: 'Running', wave: 0, waves: assignWaves(nodes, spec.canaryPercent, spec.wavePercents), nodes: {}, created: now, updated: now,
    };
    try {
      await this.ctx.db.run('INSERT INTO rollouts (name, created, doc) VALUES (?, ?, ?)', [name, now, JSON.stringify(rollout)]);
    } catch (err) {
      if (/UNIQUE|duplicate key/i.test(String(err))) throw new RolloutError(409, `rollout ${name} exists`, 'name');
      throw err;
    }
    log.info({ rollout: name, release: spec.release, waves: rollout.waves }, 'rollout created');
    this.note(undefined, rollout);
    await this.evaluate();
    return this.get(name);
  }

  /** Why a stored version must not be replaced now (undefined: it may): an active rollout of it, or nodes running it. */
  async inUse(version: string): Promise<string | undefined> {
    const active = (await this.list()).find((r) => r.release === version && (r.phase === 'Running' || r.phase === 'Paused'));
    if (active) return `rollout ${active.name} is ${active.phase.toLowerCase()} with it (seinectl rollout abort ${active.name} first)`;
    const running = [...(await this.ctx.nodes.reports())].filter(([, r]) => r.update?.running === version).map(([n]) => n).sort();
    if (running.length) return `${running.join(', ')} run${running.length === 1 ? 's' : ''} it (a corrected build needs a new version)`;
    return undefined;
  }

  /** pause: no new wave starts (nodes told already keep their target); resume: failures so far are acknowledged; abort: every target is withdrawn (no node is downgraded). */
  async act(name: string, action: 'pause' | 'resume' | 'abort'): Promise<Rollout> {
    await this.evaluating;
    const r = await this.get(name);
    const before = structuredClone(r);
    const now = new Date().toISOString();
    if (r.phase === 'Completed' || r.phase === 'Aborted') throw new RolloutError(409, `rollout ${name} is ${r.phase.toLowerCase()}`);
    if (action === 'pause') Object.assign(r, { phase: 'Paused', reason: 'paused by the operator' });
    if (action === 'abort') Object.assign(r, { phase: 'Aborted', reason: 'aborted by the operator: release targets withdrawn (nodes keep the version they run)' });
    if (action === 'resume') {
      for (const n of Object.values(r.nodes)) if (n.state === 'failed') n.acknowledged = true;
      r.phase = 'Running';
      delete r.reason;
    }
    r.updated = now;
    await this.save(r);
    this.note(before, r);
    log.info({ rollout: name, action }, 'rollout action');
    await this.evaluate();
    return this.get(name);
  }

  /** Takes the node out of the waves of every Running or Paused rollout and re-evaluates. */
  async forgetNode(node: string): Promise<void> {
    await this.evaluating;
    for (const r of await this.list()) {
      if (r.phase !== 'Running' && r.phase !== 'Paused') continue;
      if (!r.waves.some((w) => w.includes(node))) continue;
      r.waves = r.waves.map((w) => w.filter((n) => n !== node));
      delete r.nodes[node];
      r.updated = new Date().toISOString();
      await this.save(r);
      log.info({ rollout: r.name, node }, 'node left the rollout (deleted or disabled)');
    }
    await this.evaluate();
  }

  /** One pass: the active rollout against the stored reports; targets recomputed. */
  evaluate(): Promise<void> {
    if (this.evaluating) return this.evaluating;
    this.evaluating = this.evaluateOnce()
      .catch((err) => log.error({ err }, 'rollout evaluation failed'))
      .finally(() => (this.evaluating = undefined));
    return this.evaluating;
  }

  private async evaluateOnce(): Promise<void> {
    const all = await this.list();
    const reports: ReadonlyMap<string, NodeReported> = all.some((r) => r.phase === 'Running' || r.phase === 'Paused') ? await this.ctx.nodes.reports() : new Map();
    const targets = new Map<string, ReleaseTarget>();
    // Only the newest rollout that was not aborted tells nodes what to run (older ones are history).
    const newest = all.find((r) => r.phase !== 'Aborted');
    for (const r of all) {
      if (r.phase !== 'Running' && r.phase !== 'Paused' && r !== newest) continue;
      const manifests = await this.ctx.releases.manifests(r.release);
      const next = evaluateRollout(r, reports, new Set(manifests.keys()));
      if (next.updated !== r.updated) {
        await this.save(next);
        this.note(r, next);
        if (next.phase !== r.phase || next.wave !== r.wave) log.info({ rollout: next.name, phase: next.phase, wave: next.wave, reason: next.reason }, 'rollout moved');
      }
      if (r !== newest) continue;
      for (const node of targetedNodes(next)) {
        const arch = reports.get(node)?.update?.arch ?? (await this.lastArch(node));
        const release: SignedManifest | undefined = arch ? manifests.get(arch) : undefined;
        if (release) targets.set(node, { rollout: next.name, release });
      }
    }
    // The digest too: a replaced manifest of the same version is a new target.
    const key = JSON.stringify([...targets].map(([n, t]) => [n, t.rollout, manifestDigest(t.release)]));
    this.targets = targets;
    if (key !== this.targetsKey) {
      this.targetsKey = key;
      this.ctx.onTargetsChanged();
    }
  }

  private readonly arches = new Map<string, ReleaseArch>();

  /** The node's architecture from its last report (kept while a rollout is only Completed and reports are not read). */
  private async lastArch(node: string): Promise<ReleaseArch | undefined> {
    if (!this.arches.has(node)) {
      const a = (await this.ctx.nodes.reports()).get(node)?.update?.arch;
      if (a) this.arches.set(node, a);
    }
    return this.arches.get(node);
  }

  /** The stored change from `prev` to `next` as events (one place: create, act and evaluate call it after saving). */
  private note(prev: Rollout | undefined, next: Rollout): void {
    for (const e of rolloutEvents(prev, next)) this.ctx.events?.push(e);
  }

  private async save(r: Rollout): Promise<void> {
    await this.ctx.db.run('UPDATE rollouts SET doc = ? WHERE name = ?', [JSON.stringify(r), r.name]);
  }
}
