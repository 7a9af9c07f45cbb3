// seine-cni keeps its own copies of a few contract constants to start without zod; they must
// not drift from src/api/cni.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { cniCommands, cniSpecVersion, defaultAgentSocket, supportedCniVersions } from '../../../src/api/cni.js';

const source = readFileSync(new URL('../../../src/cni/main.ts', import.meta.url), 'utf8');
const constant = (name: string) => {
  const m = new RegExp(`const ${name} = (.+);`).exec(source);
  assert.ok(m, `src/cni/main.ts declares ${name}`);
  return JSON.parse(m[1].replace(/'/g, '"'));
};

describe('seine-cni binary constants', () => {
  it('match src/api/cni.ts', () => {
    assert.equal(constant('specVersion'), cniSpecVersion);
    assert.deepEqual(constant('supportedVersions'), [...supportedCniVersions]);
    assert.equal(constant('defaultAgentSocket'), defaultAgentSocket);
    assert.deepEqual(constant('commands'), [...cniCommands]);
  });

  it('starts with the shebang, imports only node built-ins, and is CommonJS', () => {
    assert.ok(source.startsWith('#!/usr/bin/env node\n'));
    const imports = [...source.matchAll(/^import (?:.* from )?'([^']+)';$/gm)].map((m) => m[1]);
    assert.ok(imports.length > 0 && imports.every((i) => i.startsWith('node:') || i === './package.json'), `imports: ${imports.join(', ')}`);
    const pkg = JSON.parse(readFileSync(new URL('../../../src/cni/package.json', import.meta.url), 'utf8'));
    assert.equal(pkg.type, 'commonjs', 'ESM loading costs the binary ~15 ms at every pod start');
  });
});
