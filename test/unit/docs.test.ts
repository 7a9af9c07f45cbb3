// The docs stay true as the code moves: every relative link in README.md and docs/ resolves (and
// its #anchor names a heading of the target page), and every `npx seine …` / `npx seinectl …`
// command the README shows exists, with its options, in the built CLI's --help. Needs
// `npm run build` (the CLIs run from dist/).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const README = join(ROOT, 'README.md');

function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return markdownFiles(p);
    return e.name.endsWith('.md') ? [p] : [];
  });
}

/** Lines outside fenced code blocks, with inline code spans blanked (links there are not links). */
function proseLines(text: string): string[] {
  let fenced = false;
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (/^\s*```/.test(line)) {
      fenced = !fenced;
      continue;
    }
    if (!fenced) out.push(line.replace(/`[^`]*`/g, (s) => ' '.repeat(s.length)));
  }
  return out;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes, -1/-2 for repeats. */
export function headingAnchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of text.split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    const m = !fenced && /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = m[1]!
      .replace(/`/g, '')
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

interface Link { file: string; line: number; target: string }

function relativeLinks(file: string): Link[] {
  const links: Link[] = [];
  proseLines(readFileSync(file, 'utf8')).forEach((line, i) => {
    for (const m of line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      const target = m[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: …
      links.push({ file, line: i + 1, target });
    }
  });
  return links;
}

/** Why a link does not resolve, or undefined when it does. */
function brokenReason(link: Link): string | undefined {
  const [path, anchor] = link.target.split('#', 2) as [string, string | undefined];
  const dest = path === '' ? link.file : resolve(dirname(link.file), decodeURIComponent(path));
  if (!existsSync(dest)) return `${relative(ROOT, dest)} does not exist`;
  if (anchor === undefined || !dest.endsWith('.md') || statSync(dest).isDirectory()) return undefined;
  if (!headingAnchors(readFileSync(dest, 'utf8')).has(anchor.toLowerCase())) return `no heading #${anchor} in ${relative(ROOT, dest)}`;
  return undefined;
}

/** `npx seine …` / `npx seinectl …` / `npm …` lines of the README's shell blocks, comments cut. */
export function shownCommands(text: string): string[] {
  const commands: string[] = [];
  let block: string | undefined;
  for (const line of text.split('\n')) {
    const fence = /^\s*```(\S*)/.exec(line);
    if (fence) {
      block = block === undefined ? fence[1]! : undefined;
      continue;
    }
    if (block !== 'sh') continue;
    const cmd = line.replace(/\s#.*$/, '').replace(/^\s*sudo\s+/, '').trim();
    if (/^(npx seine|npx seinectl|npm) /.test(cmd)) commands.push(cmd);
  }
  return commands;
}

interface Help { commands: Set<string>; options: Set<string> }

const helpCache = new Map<string, Help>();

/** Parse commander's --help: the subcommand names (with aliases) and every option spelling. */
function help(bin: string, path: string[]): Help {
  const key = [bin, ...path].join(' ');
  const cached = helpCache.get(key);
  if (cached) return cached;
  const out = execFileSync(process.execPath, [join(ROOT, 'dist/cli', `${bin}.js`), ...path, '--help'], { encoding: 'utf8' });
  const commands = new Set<string>();
  const options = new Set<string>();
  let section = '';
  for (const line of out.split('\n')) {
    const head = /^(\w[\w ]*):\s*$/.exec(line);
    if (head) {
      section = head[1]!;
      continue;
    }
    const entry = /^\s{2}(\S.*?)(?:\s{2,}|$)/.exec(line);
    if (!entry) continue;
    if (section === 'Commands') for (const name of entry[1]!.split(/\s/)[0]!.split('|')) commands.add(name);
    if (section === 'Options') for (const m of entry[1]!.matchAll(/(--?[\w-]+)/g)) options.add(m[1]!);
  }
  const h = { commands, options };
  helpCache.set(key, h);
  return h;
}

/** Why a shown command is not what the CLI offers, or undefined when it is. */
function commandProblem(cmd: string, scripts: Record<string, string>): string | undefined {
  const words = cmd.split(/\s+/);
  if (words[0] === 'npm') {
    const script = words[1] === 'run' ? words[2]! : words[1]!;
    return script in scripts ? undefined : `package.json has no script "${script}"`;
  }
  const bin = words[1]!;
  const path: string[] = [];
  const options = new Set(help(bin, path).options);
  let i = 2;
  for (; i < words.length && !words[i]!.startsWith('-'); i++) {
    const h = help(bin, path);
    if (!h.commands.has(words[i]!)) break;
    path.push(words[i]!);
    for (const o of help(bin, path).options) options.add(o);
  }
  const leaf = help(bin, path);
  if (path.length === 0 || (leaf.commands.size > 0 && words.length > i && !words[i]!.startsWith('-'))) {
    return `${bin} ${path.join(' ')}: no subcommand "${words[i] ?? ''}" in --help (has ${[...leaf.commands].join(', ')})`;
  }
  for (const w of words.slice(i)) {
    const opt = /^(--?[\w-]+)/.exec(w)?.[1];
    if (w === '--') break; // what follows runs in the pod
    if (opt && !options.has(opt)) return `${bin} ${path.join(' ')}: no option ${opt} in --help`;
  }
  return undefined;
}

describe('docs', () => {
  const files = [README, ...markdownFiles(join(ROOT, 'docs'))];

  it('README.md fits in a head (under 12 KB) and docs/ holds the reference pages', () => {
    assert.ok(statSync(README).size < 12 * 1024, `README.md is ${statSync(README).size} bytes`);
    for (const page of ['lab', 'agent', 'policy', 'flows', 'controller', 'services', 'traceflow', 'egress', 'releases', 'nodered', 'seinectl', 'images', 'architecture', 'testing', 'security']) {
      assert.ok(existsSync(join(ROOT, 'docs', `${page}.md`)), `docs/${page}.md`);
    }
  });

  it('finds links and anchors the way GitHub renders them', () => {
    assert.deepEqual([...headingAnchors('# The controller\n## TLS\n```\n# not a heading\n```\n## Enrollment, renewal and revocation\n## TLS\n')],
      ['the-controller', 'tls', 'enrollment-renewal-and-revocation', 'tls-1']);
    const links = relativeLinks(join(ROOT, 'docs/seinectl.md'));
    assert.ok(links.some((l) => l.target === 'controller.md#tls'), 'docs/seinectl.md links the controller page');
    assert.equal(brokenReason({ file: README, line: 1, target: 'docs/nope.md' }), 'docs/nope.md does not exist');
    assert.equal(brokenReason({ file: README, line: 1, target: 'docs/controller.md#nope' }), 'no heading #nope in docs/controller.md');
  });

  it('every relative link in README.md and docs/**/*.md resolves, anchors included', () => {
    const links = files.flatMap(relativeLinks);
    assert.ok(links.length >= 20, `only ${links.length} links found`);
    const broken = links.flatMap((l) => {
      const why = brokenReason(l);
      return why ? [`${relative(ROOT, l.file)}:${l.line}: (${l.target}) ${why}`] : [];
    });
    assert.deepEqual(broken, []);
  });

  it("every command the README shows exists in the CLI's --help, with its options", function () {
    this.timeout(120_000);
    const cli = join(ROOT, 'dist/cli/seinectl.js');
    assert.ok(existsSync(cli), 'dist/cli/seinectl.js is missing: run `npm run build` first');
    const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    const commands = shownCommands(readFileSync(README, 'utf8'));
    for (const c of ['npx seinectl apply', 'npx seinectl traceflow', 'npx seinectl flows', 'npx seine lab status']) {
      assert.ok(commands.some((x) => x.startsWith(c)), `the tour shows ${c}`);
    }
    const problems = commands.flatMap((c) => {
      const why = commandProblem(c, scripts);
      return why ? [`${c}\n    ${why}`] : [];
    });
    assert.deepEqual(problems, []);
    // The check can fail: a made-up subcommand and option are caught.
    assert.match(commandProblem('npx seinectl frobnicate acnp', scripts) ?? '', /no subcommand "frobnicate"/);
    assert.match(commandProblem('npx seinectl get acnp --frob', scripts) ?? '', /no option --frob/);
    assert.match(commandProblem('npm run nope', scripts) ?? '', /no script "nope"/);
  });

  it('the files the README tour applies exist and pass `seinectl validate`', () => {
    const applied = shownCommands(readFileSync(README, 'utf8')).flatMap((c) => /seinectl apply -f (\S+)/.exec(c)?.[1] ?? []);
    assert.ok(applied.length > 0);
    for (const f of applied) {
      execFileSync(process.execPath, [join(ROOT, 'dist/cli/seinectl.js'), 'validate', '-f', join(ROOT, f)], { encoding: 'utf8' });
    }
  });
});
