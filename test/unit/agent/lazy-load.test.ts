// What the agent's process loads at start (docs/agent.md, Footprint): `seine agent` imports the
// agent and its updater, and nothing of the controller, the lab, first boot, the metrics
// registry or the flow exporter until a feature needs it. A child Node process imports the
// modules `seine agent` imports before Agent.start, then the `seine` command itself (every
// subcommand's file, as `seine agent` parses them; `--version` ends it there), with a
// module-load hook recording every URL.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

const SRC = new URL('../../../src/', import.meta.url).href;

// Records every module the ESM loader loads (package entries included, CommonJS ones too).
const HOOKS = `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) { appendFileSync(process.env.LOADED_FILE, url + '\\n'); return next(url, context); }`;
const REGISTER = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOKS)}`)});`;

async function loadedBy(modules: string[], cli: string): Promise<string[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'seine-lazy-'));
  const file = path.join(dir, 'loaded');
  try {
    const script = [...modules.map((m) => `await import(${JSON.stringify(SRC + m)});`), `process.argv = [process.execPath, 'seine', '--version']; await import(${JSON.stringify(SRC + cli)});`].join('\n');
    execFileSync(process.execPath, ['--import', 'tsx', '--import', `data:text/javascript,${encodeURIComponent(REGISTER)}`, '--input-type=module', '-e', script], {
      env: { ...process.env, LOADED_FILE: file },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    return (await readFile(file, 'utf8')).split('\n').filter(Boolean);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('the agent loads features when it uses them', function () {
  this.timeout(60_000);
  let loaded: string[] = [];
  const has = (part: string) => loaded.some((u) => u.includes(part));

  before(async () => {
    loaded = await loadedBy(['cli/agent-command.ts', 'agent/agent.ts', 'agent/update/index.ts'], 'cli/seine.ts');
  });

  it('records what it loads (the hook sees the agent, its sync and its schemas)', () => {
    for (const m of ['/src/cli/seine.ts', '/src/cli/controller-command.ts', '/src/agent/agent.ts', '/src/agent/sync/agent-sync.ts', '/src/api/config.ts', '/node_modules/zod/', '/node_modules/mqtt/']) assert.ok(has(m), `${m} loaded`);
  });

  // The lab's command line parses its flags with a few small lab modules (names, labels, encaps); the lab itself stays out.
  it('loads nothing of the controller, the lab or first boot', () => {
    for (const m of ['/src/controller/', '/src/lab/lab.ts', '/src/lab/box.ts', '/src/agent/first-boot/', '/node_modules/aedes/', '/node_modules/pg/']) {
      assert.ok(!has(m), `${m} is not loaded: ${loaded.filter((u) => u.includes(m)).slice(0, 3).join(', ')}`);
    }
  });

  it('loads the metrics registry (prom-client, systeminformation) on the first scrape, not at start', () => {
    for (const m of ['/src/agent/metrics.ts', '/node_modules/prom-client/', '/node_modules/systeminformation/']) assert.ok(!has(m), `${m} is not loaded at start`);
  });

  it('loads the flow exporter, its store, IPFIX and the impact preview on its records only with flowExporter.enable', () => {
    for (const m of ['/src/agent/flows/index.ts', '/src/agent/flows/exporter.ts', '/src/agent/flows/store.ts', '/src/lib/ipfix/', '/src/agent/flows/impact-rpc.ts', '/src/policy/impact.ts']) assert.ok(!has(m), `${m} is not loaded at start`);
  });
});
