// seinectl for releases and rollouts:
//   seinectl release upload MANIFEST [--bundle FILE]
//   seinectl rollout create RELEASE --canary 5% --waves 25%,100% [--max-failures N] [--name N]
//   seinectl rollout status|pause|resume|abort [NAME]     (default: the newest rollout)
//   seinectl get rollouts [NAME] | get releases
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Command } from 'commander';
import { stringify } from 'yaml';
import type { Rollout, RolloutCreate, StoredRelease } from '../api/release.js';
import { RolloutCreateSchema } from '../api/release.js';
import { describeZodError } from '../api/issues.js';
import type { RestClient } from '../controller/client/rest-client.js';
import { table } from '../lib/table.js';
import { UserError } from '../lib/errors.js';
import { readUserFile } from '../lib/files.js';
import { parseSignedManifest, ReleaseRefused } from '../release/verify.js';

type Format = 'table' | 'wide' | 'json' | 'yaml';

function percent(flag: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)%?$/.exec(v.trim());
  if (!m) throw new UserError(`${flag} ${JSON.stringify(v)}: expected a percentage such as 5%`);
  return Number(m[1]);
}

export function releaseCommand(client: () => RestClient): Command {
  const cmd = new Command('release').description('agent releases stored by the controller');
  cmd.command('upload <manifest>').description('upload a signed release (its .manifest.json and the bundle beside it)')
    .option('--bundle <file>', 'the bundle (default: the manifest\'s bundle.file next to it)')
    .action(async (manifestFile: string, o: { bundle?: string }) => {
      const text = await readUserFile(manifestFile);
      let signed;
      try {
        signed = parseSignedManifest(text, manifestFile);
      } catch (err) {
        throw err instanceof ReleaseRefused ? new UserError(err.message) : err;
      }
      const m = signed.manifest;
      const bundleFile = o.bundle ?? path.join(path.dirname(manifestFile), m.bundle.file);
      const bundle = await readFile(bundleFile).catch(() => {
        throw new UserError(`cannot read the bundle ${bundleFile} (--bundle)`);
      });
      const r = await client().request<StoredRelease>('PUT', `/api/v1/releases/${m.version}/${m.arch}`, bundle, {
        'content-type': 'application/gzip',
        'x-seine-manifest': Buffer.from(text).toString('base64'),
      });
      process.stdout.write(`release ${r.version} (${r.arch}) stored: ${r.size} bytes, sha256 ${r.sha256}, key ${r.keyId}\n`);
    });
  return cmd;
}

export function rolloutCommand(client: () => RestClient): Command {
  const cmd = new Command('rollout').description('staged rollouts of a release: canary, waves, pause on failures');
  cmd.command('create <release>').description('roll a release out: the canary first, then each wave once every box of the previous one is healthy on it')
    .requiredOption('--canary <percent>', 'share of boxes in the canary wave (at least one box)')
    .requiredOption('--waves <percents>', 'cumulative shares of the following waves, the last 100%, e.g. 25%,100%')
    .option('--max-failures <n>', 'pause when this many boxes failed (refused or rolled back)', '1')
    .option('--name <name>', 'the rollout\'s name (default: <release>-<time>)')
    .action(async (release: string, o: { canary: string; waves: string; maxFailures: string; name?: string }) => {
      const input: RolloutCreate = {
        release, canaryPercent: percent('--canary', o.canary), wavePercents: o.waves.split(',').map((w) => percent('--waves', w)),
        maxFailures: Number(o.maxFailures), ...(o.name ? { name: o.name } : {}),
      };
      const check = RolloutCreateSchema.safeParse(input);
      if (!check.success) throw new UserError(describeZodError(check.error));
      const r = await client().request<Rollout>('POST', '/api/v1/rollouts', JSON.stringify(input), { 'content-type': 'application/json' });
      process.stdout.write(`rollout ${r.name} created: ${r.waves.map((w, i) => `${waveName(i)} ${w.length ? w.join(',') : '(empty)'}`).join('; ')}\n`);
    });
  cmd.command('status [name]').description('phase, current wave, every box\'s state and why the rollout paused')
    .option('-o, --output <format>', 'text, json or yaml', 'text')
    .action(async (name: string | undefined, o: { output: string }) => {
      const r = await pick(client(), name);
      process.stdout.write(o.output === 'json' ? `${JSON.stringify(r, null, 2)}\n` : o.output === 'yaml' ? stringify(r) : printRolloutStatus(r));
    });
  for (const action of ['pause', 'resume', 'abort'] as const) {
    const help = { pause: 'start no new wave (boxes already told keep their target)', resume: 'go on; failures so far are accepted', abort: 'withdraw the release from every box (none is downgraded)' }[action];
    cmd.command(`${action} [name]`).description(help).action(async (name?: string) => {
      const r = await pick(client(), name);
      const after = await client().request<Rollout>('POST', `/api/v1/rollouts/${encodeURIComponent(r.name)}/${action}`);
      process.stdout.write(`rollout ${after.name}: ${after.phase}${after.reason ? ` (${after.reason})` : ''}\n`);
    });
  }
  return cmd;
}

async function pick(c: RestClient, name: string | undefined): Promise<Rollout> {
  if (name) return c.request<Rollout>('GET', `/api/v1/rollouts/${encodeURIComponent(name)}`);
  const { items } = await c.request<{ items: Rollout[] }>('GET', '/api/v1/rollouts');
  if (!items.length) throw new UserError('no rollouts (seinectl rollout create)');
  return items[0]!;
}

const waveName = (i: number) => (i === 0 ? 'canary' : `wave ${i}`);

export function printRolloutStatus(r: Rollout): string {
  const lines = [
    `Rollout:  ${r.name}`,
    `Release:  ${r.release}`,
    `Phase:    ${r.phase}${r.phase === 'Running' || r.phase === 'Paused' ? ` (${waveName(r.wave)} of ${r.waves.length - 1} waves after the canary)` : ''}`,
    ...(r.reason ? [`Reason:   ${r.reason}`] : []),
    `Plan:     canary ${r.canaryPercent}%, waves ${r.wavePercents.map((p) => `${p}%`).join(',')}, max failures ${r.maxFailures}`,
    '',
  ];
  const rows = [['NODE', 'WAVE', 'STATE', 'VERSION', 'UPDATER', 'REASON']];
  r.waves.forEach((nodes, i) => {
    for (const n of nodes) {
      const s = r.nodes[n];
      rows.push([n, waveName(i), s ? `${s.state}${s.acknowledged ? ' (accepted)' : ''}` : 'waiting', s?.version ?? '-', s?.updateState ?? '-', s?.reason ?? '']);
    }
  });
  return `${lines.join('\n')}\n${table(rows)}`;
}

export function printRollouts(items: Rollout[], format: Format): string {
  if (format === 'json') return `${JSON.stringify(items, null, 2)}\n`;
  if (format === 'yaml') return stringify(items);
  const count = (r: Rollout, s: string) => Object.values(r.nodes).filter((n) => n.state === s).length;
  return table([
    ['NAME', 'RELEASE', 'PHASE', 'WAVE', 'HEALTHY', 'FAILED', 'NODES', ...(format === 'wide' ? ['REASON'] : [])],
    ...items.map((r) => [r.name, r.release, r.phase, waveName(r.wave), String(count(r, 'healthy')), String(count(r, 'failed')), String(r.waves.flat().length), ...(format === 'wide' ? [r.reason ?? ''] : [])]),
  ]);
}

export function printReleases(items: StoredRelease[], format: Format): string {
  if (format === 'json') return `${JSON.stringify(items, null, 2)}\n`;
  if (format === 'yaml') return stringify(items);
  return table([['VERSION', 'ARCH', 'SIZE', 'KEY', 'UPLOADED'], ...items.map((r) => [r.version, r.arch, String(r.size), r.keyId, r.uploaded])]);
}

/** `seinectl get rollouts|releases` (undefined: not one of these resources). */
export async function getReleaseResource(c: RestClient, resource: string, name: string | undefined, format: Format): Promise<string | undefined> {
  const r = resource.toLowerCase();
  if (['rollouts', 'rollout', 'ro'].includes(r)) {
    const items = name ? [await c.request<Rollout>('GET', `/api/v1/rollouts/${encodeURIComponent(name)}`)] : (await c.request<{ items: Rollout[] }>('GET', '/api/v1/rollouts')).items;
    return printRollouts(items, format);
  }
  if (['releases', 'release', 'rel'].includes(r)) return printReleases((await c.request<{ items: StoredRelease[] }>('GET', '/api/v1/releases')).items, format);
  return undefined;
}
