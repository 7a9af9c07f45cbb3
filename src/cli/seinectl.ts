#!/usr/bin/env node
// seinectl: the operator CLI. Today it validates manifests offline with the same schemas the
// controller and agents use; apply/get/describe/delete arrive with the controller.
import { Command } from 'commander';
import { loadManifestFile, parseManifests } from '../api/manifest.js';
import { setLogLevel } from '../lib/log.js';
import { runCli } from './run.js';

setLogLevel(process.env.SEINE_LOG_LEVEL ?? 'warn');
const program = new Command('seinectl').description('operate a Seine fleet').showSuggestionAfterError();

program
  .command('validate')
  .description('check manifests (YAML/JSON, multi-document, kind: List) against the Seine/Antrea schemas')
  .requiredOption('-f, --filename <file...>', 'manifest files, or - for standard input')
  .action(async (opts: { filename: string[] }) => {
    for (const file of opts.filename) {
      const objects = file === '-' ? parseManifests(await readStdin(), 'stdin') : await loadManifestFile(file);
      for (const o of objects) {
        const ns = (o.metadata as { namespace?: string }).namespace;
        process.stdout.write(`${o.kind} ${ns ? `${ns}/` : ''}${o.metadata.name}: valid\n`);
      }
    }
  });

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

await runCli(program);
