// The code's layers, in one place. Every import of every .ts file under src/ and nodes/ (static,
// `export … from`, `import type`, dynamic `import()`) is read with TypeScript's own scanner and
// checked against this table; a new import that breaks it fails here, naming the file and the
// import. Type-only imports count: they tie the modules together as much as value imports do.
//
//   layer (src/…)   may import, besides itself
//   lib             nothing of the project (project-agnostic helpers)
//   launcher        nothing of the project (installed outside the release tree; nothing imports it)
//   api             lib                          (the contract: schemas, types, paths, status)
//   policy          api, lib                     (policy computation, shared by agent and controller)
//   release         api, lib                     (release bundles and their signatures)
//   cni             api, lib                     (the CNI plugin binary; nothing imports it)
//   agent           policy, release, api, lib
//   controller      policy, release, api, lib    (so agent and controller never import each other)
//   lab             agent, controller, policy, release, api, lib
//   cli             lab, agent, controller, policy, release, api, lib
//   nodes/          cli, lab, agent, controller, policy, release, api, lib (the Node-RED nodes;
//                   nothing under src imports them)
//
// And no import cycle between files, whatever their layers: each cycle is named file by file.
// A new directory under src/ needs its row here before it can import or be imported.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const LAYERS: Record<string, readonly string[]> = {
  'src/lib': [],
  'src/launcher': [],
  'src/api': ['src/lib'],
  'src/policy': ['src/api', 'src/lib'],
  'src/release': ['src/api', 'src/lib'],
  'src/cni': ['src/api', 'src/lib'],
  'src/agent': ['src/policy', 'src/release', 'src/api', 'src/lib'],
  'src/controller': ['src/policy', 'src/release', 'src/api', 'src/lib'],
  'src/lab': ['src/agent', 'src/controller', 'src/policy', 'src/release', 'src/api', 'src/lib'],
  'src/cli': ['src/lab', 'src/agent', 'src/controller', 'src/policy', 'src/release', 'src/api', 'src/lib'],
  nodes: ['src/cli', 'src/lab', 'src/agent', 'src/controller', 'src/policy', 'src/release', 'src/api', 'src/lib'],
};

const ROOT = path.resolve(import.meta.dirname, '../..');

/** file (repo-relative, posix) → the relative specifiers it imports. */
type Sources = Map<string, string[]>;

function tsFiles(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'dist' ? [] : tsFiles(rel);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [rel] : [];
  });
}

function readSources(): Sources {
  const sources: Sources = new Map();
  for (const file of [...tsFiles('src'), ...tsFiles('nodes')]) {
    const { importedFiles } = ts.preProcessFile(readFileSync(path.join(ROOT, file), 'utf8'), true, true);
    sources.set(file, importedFiles.map((i) => i.fileName).filter((s) => s.startsWith('.')));
  }
  return sources;
}

/** The repo-relative file a specifier names (`.js` → the `.ts` it is compiled from). */
function resolve(from: string, spec: string): string {
  return path.posix.join(path.posix.dirname(from), spec).replace(/\.js$/, '.ts');
}

function layerOf(file: string): string {
  if (file.startsWith('nodes/')) return 'nodes';
  const [top, dir] = file.split('/');
  return top === 'src' && dir !== undefined && file !== `src/${dir}` ? `src/${dir}` : file;
}

function layerViolations(sources: Sources): string[] {
  const out: string[] = [];
  for (const [file, specs] of sources) {
    const from = layerOf(file);
    const allowed = LAYERS[from];
    if (!allowed) {
      out.push(`${file}: ${from} has no row in the layer table (test/unit/layers.test.ts)`);
      continue;
    }
    for (const spec of specs) {
      const to = layerOf(resolve(file, spec));
      if (to === from || allowed.includes(to)) continue;
      out.push(`${file} imports '${spec}' (${to}): ${from} may import only ${allowed.length ? allowed.join(', ') : 'itself'}`);
    }
  }
  return out;
}

/** One cycle per strongly connected component of the file graph (Tarjan), each as a closed path. */
function importCycles(sources: Sources): string[][] {
  const edges = new Map<string, string[]>();
  for (const [file, specs] of sources) edges.set(file, [...new Set(specs.map((s) => resolve(file, s)))].filter((t) => sources.has(t)).sort());
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v)!) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || edges.get(v)!.includes(v)) components.push(component);
  };
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) visit(v);
  // Name a concrete cycle in each component: the shortest way from its first file back to it.
  return components.map((component) => {
    const inside = new Set(component);
    const start = [...component].sort()[0]!;
    const previous = new Map<string, string>();
    const queue = [start];
    while (queue.length) {
      const v = queue.shift()!;
      for (const w of edges.get(v)!) {
        if (!inside.has(w) || previous.has(w)) continue;
        previous.set(w, v);
        if (w === start) queue.length = 0;
        else queue.push(w);
      }
    }
    const cycle = [start];
    for (let v = previous.get(start)!; v !== start; v = previous.get(v)!) cycle.unshift(v);
    return [start, ...cycle];
  });
}

describe('layers', () => {
  const sources = readSources();

  it('reads the imports of every source file', () => {
    assert.ok(sources.size > 200, `only ${sources.size} files under src/ and nodes/`);
    for (const layer of Object.keys(LAYERS)) assert.ok([...sources.keys()].some((f) => layerOf(f) === layer), `no file in ${layer}`);
    const edges = [...sources.values()].reduce((n, specs) => n + specs.length, 0);
    assert.ok(edges > 800, `only ${edges} relative imports`);
  });

  it('imports only downward: agent and controller never import each other, lib and api stand alone', () => {
    assert.deepEqual(layerViolations(sources), []);
  });

  // The agent's steady state is held to no ovs-ofctl/ip/nsenter/conntrack process by counting what
  // lib/exec starts (test/integration/agent-steady-state.test.ts); a module that spawned on its own
  // would escape that count. The lab, the CLI and the dependency-free launcher run programs by design.
  it('starts processes only through lib/exec (outside the lab, the CLI and the launcher)', () => {
    const mayImport = (file: string) => file === 'src/lib/exec.ts' || /^src\/(lab|cli|launcher)\//.test(file);
    const offenders = [...tsFiles('src'), ...tsFiles('nodes')].filter((file) => {
      const { importedFiles } = ts.preProcessFile(readFileSync(path.join(ROOT, file), 'utf8'), true, true);
      return importedFiles.some((i) => i.fileName === 'node:child_process' || i.fileName === 'child_process') && !mayImport(file);
    });
    assert.deepEqual(offenders, [], 'these import child_process: use run()/spawnCounted() from src/lib/exec.ts');
  });

  it('has no import cycle', () => {
    assert.deepEqual(importCycles(sources).map((c) => c.join(' → ')), []);
  });

  describe('the checker', () => {
    const fake = (files: Record<string, string[]>): Sources => new Map(Object.entries(files));

    it('names an import between agent and controller, either way', () => {
      assert.deepEqual(layerViolations(fake({ 'src/agent/a.ts': ['../controller/rest/http.js'], 'src/controller/b.ts': ['../agent/inventory/types.js'] })), [
        "src/agent/a.ts imports '../controller/rest/http.js' (src/controller): src/agent may import only src/policy, src/release, src/api, src/lib",
        "src/controller/b.ts imports '../agent/inventory/types.js' (src/agent): src/controller may import only src/policy, src/release, src/api, src/lib",
      ]);
    });

    it('names lib importing the project and api importing above lib', () => {
      const found = layerViolations(fake({
        'src/lib/x.ts': ['../api/meta.js', './ok.js', '../../package.json'],
        'src/api/y.ts': ['../lib/errors.js', './kinds.js', '../policy/compute/types.js'],
      }));
      assert.deepEqual(found, [
        "src/lib/x.ts imports '../api/meta.js' (src/api): src/lib may import only itself",
        "src/lib/x.ts imports '../../package.json' (package.json): src/lib may import only itself",
        "src/api/y.ts imports '../policy/compute/types.js' (src/policy): src/api may import only src/lib",
      ]);
    });

    it('names a directory without a row', () => {
      assert.deepEqual(layerViolations(fake({ 'src/newthing/z.ts': [] })), ['src/newthing/z.ts: src/newthing has no row in the layer table (test/unit/layers.test.ts)']);
    });

    it('names each cycle, type-only or not, file by file', () => {
      const cycles = importCycles(fake({
        'src/agent/ovs/flow.ts': ['./pipeline.js'],
        'src/agent/ovs/pipeline.ts': ['./cookie.js', './flow.js'],
        'src/agent/ovs/cookie.ts': [],
        'src/lab/a.ts': ['./b.js'],
        'src/lab/b.ts': ['./c.js'],
        'src/lab/c.ts': ['./a.js', './b.js'],
        'src/lib/self.ts': ['./self.js'],
      }));
      assert.deepEqual(cycles.map((c) => c.join(' → ')).sort(), [
        'src/agent/ovs/flow.ts → src/agent/ovs/pipeline.ts → src/agent/ovs/flow.ts',
        'src/lab/a.ts → src/lab/b.ts → src/lab/c.ts → src/lab/a.ts',
        'src/lib/self.ts → src/lib/self.ts',
      ]);
    });
  });
});
