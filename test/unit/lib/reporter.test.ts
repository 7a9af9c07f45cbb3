// The closing line CI reads must count the tests a failed hook kept from running.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');

describe('test reporter closing line', () => {
  it('counts tests under a failed before() and a failed after() as failed', async () => {
    const out = await new Promise<string>((resolve) => {
      execFile(process.execPath, [path.join(root, 'node_modules/mocha/bin/mocha.js'), '--no-config', '--reporter', path.join(root, 'test/helpers/reporter.cjs'), path.join(root, 'test/fixtures/reporter/hooks.cjs')],
        { cwd: root }, (_err, stdout) => resolve(stdout));
    });
    // ok: a passes, s skipped; broken before: b1-b3 never run; broken after: c passes, its hook fails.
    assert.match(out, /^2 passed, 4 failed, 1 skipped$/m);
  });
});
