// The updater's files under update.stateDir, each written atomically (temp file + rename):
//   pending.json  a switch waiting for the new version's health confirmation
//   outcome.json  the last update's result, reported until the next one
//   refused.json  manifests (by digest) refused or rolled back here, never tried again
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import { OutcomeSchema, PendingSwitchSchema, RefusedManifestsSchema, type Outcome, type PendingSwitch } from '../../api/release.js';

export type { PendingSwitch } from '../../api/release.js';

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
    await rm(path.join(this.dir, 'pending.json'), { force: true });
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
    const text = await readFile(path.join(this.dir, name), 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    const r = schema.safeParse(JSON.parse(text));
    return r.success ? r.data : undefined; // a corrupt file is as good as none
  }

  private async write(name: string, value: unknown): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const file = path.join(this.dir, name);
    await writeFile(`${file}.tmp`, JSON.stringify(value));
    await rename(`${file}.tmp`, file);
  }
}
