// The updater's files under update.stateDir, each written durably (src/lib/files.ts: temp file,
// fsync, rename, fsync of the directory), so a power cut leaves the old or the new content:
//   pending.json  a switch asked of the launcher / on trial (the launcher counts starts in it and
//                 records why it rolled back)
//   outcome.json  the last update's result, reported until the next one
//   refused.json  manifests (by digest) refused or rolled back here, never tried again
// A file that does not parse anyway (a disk that lied, a hand edit) is as good as none, with a
// warning: "no update in progress" is always a safe state, a crash at every start is not.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import { OutcomeSchema, PendingSwitchSchema, RefusedManifestsSchema, type Outcome, type PendingSwitch } from '../../api/release.js';
import { removeFileDurable, writeFileDurable } from '../../lib/files.js';
import { createLogger } from '../../lib/log.js';

export type { PendingSwitch } from '../../api/release.js';

const log = createLogger('agent.update');

export class UpdateStateFiles {
  constructor(readonly dir: string) {}

  get downloadsDir(): string {
    return path.join(this.dir, 'downloads');
  }

  readPending(): Promise<PendingSwitch | undefined> {
    return this.read('pending.json', PendingSwitchSchema);
  }

  writePending(p: PendingSwitch): Promise<void> {
    return this.write('pending.json', p);
  }

  async clearPending(): Promise<void> {
    await removeFileDurable(path.join(this.dir, 'pending.json'));
  }

  readOutcome(): Promise<Outcome | undefined> {
    return this.read('outcome.json', OutcomeSchema);
  }

  writeOutcome(o: Outcome): Promise<void> {
    return this.write('outcome.json', o);
  }

  /** manifest digest → why it was refused or rolled back. */
  async refused(): Promise<Record<string, string>> {
    return (await this.read('refused.json', RefusedManifestsSchema)) ?? {};
  }

  async addRefused(digest: string, reason: string): Promise<void> {
    await this.write('refused.json', { ...(await this.refused()), [digest]: reason });
  }

  private async read<T>(name: string, schema: z.ZodType<T>): Promise<T | undefined> {
    const file = path.join(this.dir, name);
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      log.warn({ file, bytes: text.length, err: (err as Error).message }, 'update state file does not parse: taken as absent');
      return undefined;
    }
    const r = schema.safeParse(value);
    if (!r.success) log.warn({ file, issues: r.error.issues.slice(0, 3) }, 'update state file is not valid: taken as absent');
    return r.success ? r.data : undefined;
  }

  private async write(name: string, value: unknown): Promise<void> {
    await writeFileDurable(path.join(this.dir, name), JSON.stringify(value));
  }
}
