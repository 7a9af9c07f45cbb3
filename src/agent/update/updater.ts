// The agent's updater: follows the release target in the node's desired document.
//   install: manifest rules (signature, architecture, no downgrade, minimum version) before
//   anything is written; resumable download; size + sha256; unpack beside the running version;
//   a pending-switch record asking the launcher to switch; exit RESTART_EXIT_CODE.
//   The launcher (src/launcher/launcher.ts), not this code, switches `current`, counts the new
//   version's starts and rolls it back when it crashes, hangs or asks to: a release that cannot
//   even load is rolled back without running.
//   confirm: the new version, once started (reconcilers up) and connected to the broker, removes
//   the `previous` link (the commit point); unhealthy, it records why in pending.json and exits,
//   and the launcher switches back. The previous version reports the rollback. A signed manifest
//   refused or rolled back here is never tried again (by digest: a corrected upload of the same
//   version is). The previous `keepPrevious` versions stay on disk. Trusted keys: those the
//   running release ships in `release-keys/` (key rotation), else the configured ones.
import type { KeyObject } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { access, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { UpdateConfig } from '../../api/config.js';
import type { ReleaseArch, ReleaseTarget, UpdateState, UpdateStatus } from '../../api/release.js';
import { errorMessage } from '../../lib/errors.js';
import { fsyncDir } from '../../lib/files.js';
import { createLogger } from '../../lib/log.js';
import { sleep } from '../../lib/process.js';
import { RELEASE_KEYS_DIR, unpackBundle } from '../../release/bundle.js';
import { checkBundle, checkInstallable, manifestDigest, readPublicKeyDir, readPublicKeyFiles, ReleaseRefused } from '../../release/verify.js';
import { downloadResumable } from './download.js';
import { ReleaseLayout } from './layout.js';
import { UpdateStateFiles, type PendingSwitch } from './state.js';

const log = createLogger('agent.update');

/** EX_TEMPFAIL: "start me again" — the launcher (under systemd or the lab) starts `current` again, switching first when asked. */
export const RESTART_EXIT_CODE = 75;
const RETRY_MS = 30_000;
/** Given up this long before the launcher's deadline: the reason is written before it stops us. */
const TRIAL_MARGIN_MS = 1500;

export interface UpdaterContext {
  cfg: UpdateConfig;
  /** The version this process runs (its package.json). */
  running: string;
  arch: ReleaseArch;
  /** Where bundles come from: `<server>/api/v1/releases/<version>/<arch>/bundle`. */
  server: string | undefined;
  /**
   * Started by the launcher (it sets SEINE_LAUNCHER). Without one — a box whose image predates it —
   * the updater makes the switch itself, and a new version that cannot start is not rolled back.
   */
  underLauncher: boolean;
  /** When the launcher stops this version if it has not confirmed (epoch ms); it gives up just before, with its own reason. */
  trialDeadline?: number | undefined;
  /** Stops the agent and exits with RESTART_EXIT_CODE (the launcher then starts `current`, switching first when asked). */
  restart: () => Promise<void>;
  /**
   * The node certificate of an enrolled box (renewals change it): downloads then go to the
   * node-scoped `<server>/api/v1/node/releases/…` with it, trusting its CA, and no token is used.
   */
  nodeTls?: () => { ca?: Buffer | undefined; cert?: Buffer | undefined; key?: Buffer | undefined } | undefined;
}

export class Updater {
  readonly layout: ReleaseLayout;
  readonly files: UpdateStateFiles;
  private report: (s: UpdateStatus) => Promise<void> = async () => {};
  private current: Omit<UpdateStatus, 'arch' | 'running' | 'previous'> = { state: 'idle', ts: Date.now() };
  private previous: string[] = [];
  private busy = false;
  private next?: ReleaseTarget;
  private retryTimer?: NodeJS.Timeout;
  private stopped = false;

  constructor(readonly ctx: UpdaterContext) {
    this.layout = new ReleaseLayout(ctx.cfg.root);
    this.files = new UpdateStateFiles(ctx.cfg.stateDir);
  }

  status(): UpdateStatus {
    return { arch: this.ctx.arch, running: this.ctx.running, previous: this.previous, ...this.current };
  }

  /**
   * Before the agent starts: reports what the launcher did with a pending switch. 'restart' means
   * the caller must exit with RESTART_EXIT_CODE at once (this version already gave up its trial).
   */
  async beforeStart(): Promise<'run' | 'restart'> {
    const p = await this.files.readPending();
    this.previous = (await this.layout.installed()).filter((v) => v !== this.ctx.running);
    const outcome = await this.files.readOutcome();
    if (outcome) this.current = { ...outcome };
    const { running } = this.ctx;
    const trialFrom = await this.layout.trialFrom(running);
    if (trialFrom) {
      if (p?.to === running && p.failure) {
        // The launcher rolls back at the next start; without one, this version does it itself.
        if (!this.ctx.underLauncher) await this.layout.rollBackWithoutLauncher(trialFrom);
        return 'restart';
      }
      const target = p?.to === running ? p : undefined;
      this.current = { state: 'confirming', target: running, ...(target?.rollout ? { rollout: target.rollout } : {}), ts: Date.now() };
      return 'run';
    }
    if (!p) return 'run';
    if (running === p.to) return 'run'; // confirmed, its bookkeeping interrupted: afterStart finishes it
    if (running === p.from && !p.failure && (await this.layout.currentVersion()) === p.from) {
      // The launcher did not switch (not started by one, or `to` is not runnable): nothing was
      // tried; the target is taken again.
      log.warn({ pending: p }, 'a pending switch was not made: dropped');
      await this.files.clearPending();
      return 'run';
    }
    if (running === p.from) {
      const reason = p.failure ?? `${p.to} did not take over after the switch`;
      log.warn({ from: p.to, to: running, reason }, 'rolled back');
      // The digest from the record, else from the release tree (a record rebuilt by the launcher
      // after a power cut has none): keyed by version, the same manifest would be tried again.
      await this.files.addRefused(p.digest ?? (await this.layout.digestOf(p.to)) ?? p.to, reason);
      await rm(this.layout.releaseDir(p.to), { recursive: true, force: true });
      this.current = { state: 'rolledBack', target: p.to, ...(p.rollout ? { rollout: p.rollout } : {}), reason, ts: Date.now() };
      await this.files.writeOutcome(this.current);
      await this.files.clearPending();
      this.previous = (await this.layout.installed()).filter((v) => v !== running);
      return 'run';
    }
    log.warn({ pending: p, running }, 'a pending switch for other versions: dropped');
    await this.files.clearPending();
    return 'run';
  }

  /**
   * After the agent started (its reconcilers are up): reports through `report`, confirms a
   * pending switch with `health` (undefined when healthy, else why not), then follows targets.
   */
  async afterStart(report: (s: UpdateStatus) => Promise<void>, health: () => string | undefined): Promise<'run' | 'restart'> {
    this.report = report;
    await this.publish();
    const { running } = this.ctx;
    const trialFrom = await this.layout.trialFrom(running);
    let p = await this.files.readPending();
    if (p && p.to !== running) p = undefined;
    if (!trialFrom && !p) return 'run';
    if (trialFrom) {
      // Waited for from this start on; the launcher holds the whole trial to its deadline.
      const started = Date.now();
      const until = Math.min(Date.now() + this.ctx.cfg.healthDeadlineSeconds * 1000, (this.ctx.trialDeadline ?? Infinity) - TRIAL_MARGIN_MS);
      let why: string | undefined;
      await this.haltAt('confirming');
      if (this.ctx.cfg.failHealthCheck) {
        why = 'health check failed: forced by update.failHealthCheck (test/diagnostic setting)';
      } else {
        for (;;) {
          why = health();
          if (!why || Date.now() > until || this.stopped) break;
          await sleep(200);
        }
        if (why) why = `health check failed within ${Math.round((Date.now() - started) / 1000)} s of the start: ${why}`;
      }
      if (why) {
        const now = Date.now();
        return this.rollBack(p ?? { from: trialFrom, to: running, switchedAt: now, deadline: now, boots: 1 }, why);
      }
      await this.layout.confirm();
    }
    await this.files.clearPending();
    const gone = await this.layout.prune(running, this.ctx.cfg.keepPrevious);
    this.previous = (await this.layout.installed()).filter((v) => v !== running);
    log.info({ version: running, from: p?.from ?? trialFrom, pruned: gone }, 'update committed');
    await this.setState({ state: 'committed', target: running, ...(p?.rollout ? { rollout: p.rollout } : {}) });
    await this.files.writeOutcome(this.current);
    return 'run';
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
  }

  /** The desired document's release target (undefined: none); installs are one at a time, newest target wins. */
  onTarget(target: ReleaseTarget | undefined): void {
    if (!target || this.stopped) return;
    if (this.busy) {
      this.next = target;
      return;
    }
    this.busy = true;
    void this.follow(target).finally(() => {
      this.busy = false;
      const next = this.next;
      this.next = undefined;
      if (next) this.onTarget(next);
    });
  }

  private async follow(target: ReleaseTarget): Promise<void> {
    const m = target.release.manifest;
    if (m.version === this.ctx.running) return;
    const digest = manifestDigest(target.release);
    const refused = (await this.files.refused())[digest];
    if (refused) {
      // Said once per rollout: the controller already has the reason from the refusal or rollback.
      if (this.current.target !== m.version || this.current.rollout !== target.rollout) await this.setState({ state: 'refused', target: m.version, rollout: target.rollout, reason: `refused earlier: ${refused}` });
      return;
    }
    try {
      await this.install(target);
    } catch (err) {
      if (err instanceof ReleaseRefused) {
        log.warn({ version: m.version, reason: err.reason, detail: err.message }, 'release refused');
        await this.files.addRefused(digest, err.message);
        await this.setState({ state: 'refused', target: m.version, rollout: target.rollout, reason: err.message });
        await this.files.writeOutcome(this.current);
        return;
      }
      const reason = `${errorMessage(err)}; retrying in ${RETRY_MS / 1000} s`;
      log.warn({ version: m.version, reason }, 'update attempt failed');
      await this.setState({ state: 'idle', target: m.version, rollout: target.rollout, reason });
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.onTarget(target), RETRY_MS);
      this.retryTimer.unref();
    }
  }

  private async install(target: ReleaseTarget): Promise<void> {
    const signed = target.release;
    const m = signed.manifest;
    const at = { target: m.version, rollout: target.rollout };
    // Every manifest rule before a byte is downloaded or written.
    checkInstallable(signed, { publicKeys: await this.publicKeys(), arch: this.ctx.arch, running: this.ctx.running });
    if (!this.ctx.server) throw new Error('no release server: set update.server (or controller.url) in the agent config');
    await this.setState({ state: 'downloading', ...at });
    const bundle = path.join(this.files.downloadsDir, m.bundle.file);
    const node = this.ctx.nodeTls?.();
    const clientTls = node?.cert && node.key ? { cert: node.cert, key: node.key } : undefined;
    const url = `${this.ctx.server.replace(/\/$/, '')}/api/v1/${clientTls ? 'node/' : ''}releases/${m.version}/${m.arch}/bundle`;
    const ca = this.ctx.cfg.caFile ? await readFile(this.ctx.cfg.caFile) : node?.ca;
    const got = await downloadResumable({ url, socketPath: this.ctx.cfg.serverSocket, ...(clientTls ? { clientTls } : { token: this.ctx.cfg.token }), ca, dest: bundle, size: m.bundle.size });
    log.info({ version: m.version, bytes: got.fetched, resumedFrom: got.resumedFrom }, 'bundle downloaded');
    await this.haltAt('downloaded');
    try {
      await checkBundle(signed, bundle);
    } catch (err) {
      await rm(bundle, { force: true }); // a bad download is not kept for a resume
      throw err;
    }
    await this.setState({ state: 'installing', ...at });
    const dir = this.layout.releaseDir(m.version);
    const tmp = path.join(this.layout.releasesDir, `.unpack-${m.version}-${randomBytes(4).toString('hex')}`);
    try {
      await unpackBundle(bundle, tmp);
      const pkg = JSON.parse(await readFile(path.join(tmp, 'package.json'), 'utf8')) as { version?: string };
      if (pkg.version !== m.version) throw new ReleaseRefused('malformed', `bundle of ${m.version} holds package.json version ${pkg.version}`);
      await access(path.join(tmp, 'dist', 'cli', 'seine.js')).catch(() => {
        throw new ReleaseRefused('malformed', `bundle of ${m.version} has no dist/cli/seine.js`);
      });
      await this.layout.writeDigest(tmp, manifestDigest(signed));
      await rm(dir, { recursive: true, force: true }); // a leftover of an earlier attempt (never the running version)
      await rename(tmp, dir);
    } finally {
      await rm(tmp, { recursive: true, force: true });
      await rm(bundle, { force: true });
    }
    await fsyncDir(this.layout.releasesDir); // the rename above survives a power cut
    await this.haltAt('unpacked');
    const now = Date.now();
    const pending: PendingSwitch = { from: this.ctx.running, to: m.version, rollout: target.rollout, switchedAt: now, deadline: now + this.ctx.cfg.healthDeadlineSeconds * 1000, boots: 0, digest: manifestDigest(signed) };
    // The request: the launcher switches `current` at the restart and holds the new version to the deadline.
    await this.files.writePending(pending);
    if (!this.ctx.underLauncher) {
      log.warn({ from: this.ctx.running, to: m.version }, 'not started by the launcher: switching current here; a new version that cannot start will not be rolled back (install the launcher: see the image)');
      await this.layout.switchWithoutLauncher(this.ctx.running, m.version);
    }
    log.info({ from: this.ctx.running, to: m.version }, 'switch asked of the launcher; restarting into the new version');
    await this.setState({ state: 'restarting', ...at });
    await this.ctx.restart();
  }

  /** Gives up the trial: the reason goes into pending.json, and the launcher switches back at the restart. */
  private async rollBack(p: PendingSwitch, reason: string): Promise<'restart'> {
    log.error({ version: this.ctx.running, back: p.from, reason }, 'health not confirmed: asking the launcher to roll back');
    await this.files.writePending({ ...p, failure: reason });
    if (!this.ctx.underLauncher) await this.layout.rollBackWithoutLauncher(p.from);
    await this.setState({ state: 'rolledBack', target: p.to, ...(p.rollout ? { rollout: p.rollout } : {}), reason });
    return 'restart';
  }

  /** update.testHaltAt: stops here for good (a test cuts the power now). */
  private async haltAt(step: NonNullable<UpdateConfig['testHaltAt']>): Promise<void> {
    if (this.ctx.cfg.testHaltAt !== step) return;
    log.warn({ step }, 'update halted here (update.testHaltAt)');
    await new Promise<never>(() => {});
  }

  /**
   * The trusted release keys. A release may ship its successors' keys (`release-keys/*.pub`, see
   * `seine release build --trust-key`): then those are the set, so a key rotation travels in
   * releases. Otherwise update.publicKey (skipped when missing and publicKeys names others) and
   * update.publicKeys. A missing or bad key file is an error (retried), not a refusal.
   */
  private async publicKeys(): Promise<KeyObject[]> {
    const shipped = await readPublicKeyDir(path.join(this.layout.releaseDir(this.ctx.running), RELEASE_KEYS_DIR));
    if (shipped.length) return shipped;
    const { publicKey, publicKeys } = this.ctx.cfg;
    const files = publicKeys.length && !(await exists(publicKey)) ? publicKeys : [publicKey, ...publicKeys];
    return readPublicKeyFiles(files).catch((err: Error) => {
      throw new Error(`no trusted release key (update.publicKey, update.publicKeys): ${err.message}`);
    });
  }

  private async setState(s: { state: UpdateState; target?: string; rollout?: string | undefined; reason?: string }): Promise<void> {
    this.current = { state: s.state, ...(s.target ? { target: s.target } : {}), ...(s.rollout ? { rollout: s.rollout } : {}), ...(s.reason ? { reason: s.reason } : {}), ts: Date.now() };
    await this.publish();
  }

  private async publish(): Promise<void> {
    await this.report(this.status()).catch((err) => log.warn({ err: errorMessage(err) }, 'update status not reported'));
  }
}

export async function exists(file: string): Promise<boolean> {
  return access(file).then(() => true, () => false);
}
