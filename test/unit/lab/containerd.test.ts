// The containerd runtime's files: the CRI plugin config the lab writes for a box, the sandbox
// image archive it builds from busybox-static, and the clear error when packages are missing.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { checkContainerdInstalled, containerdConfig, containerdFiles, runtimeLabFiles } from '../../../src/lab/containerd-process.js';
import { buildSandboxImage, BUSYBOX, SANDBOX_IMAGE } from '../../../src/lab/sandbox-image.js';
import type { BoxState } from '../../../src/lab/state.js';
import { run } from '../../../src/lib/exec.js';

describe('lab containerd runtime files', () => {
  it('configures the CRI plugin with the box agent\'s conf dir, the lab\'s CNI bin dir and the local sandbox image', () => {
    const box = { name: 'box1', ovsDir: '/tmp/lab/boxes/box1' } as BoxState;
    const toml = containerdConfig(box, '/tmp/lab');
    const f = containerdFiles(box);
    for (const line of [
      'version = 2',
      `root = "${f.root}"`,
      `state = "${f.state}"`,
      `  address = "${f.socket}"`,
      `  sandbox_image = "${SANDBOX_IMAGE}"`,
      `  bin_dir = "${runtimeLabFiles('/tmp/lab').cniBinDir}"`,
      '  conf_dir = "/tmp/lab/boxes/box1/net.d"',
      '  restrict_oom_score_adj = true',
      '  runtime_type = "io.containerd.runc.v2"',
    ]) assert.ok(toml.split('\n').includes(line), `missing: ${line}\n${toml}`);
    assert.equal(f.socket, '/tmp/lab/boxes/box1/cri.sock');
  });

  it('names the Debian package of each missing program', () => {
    const saved = process.env.PATH;
    process.env.PATH = '/nonexistent'; // /usr/bin (containerd, ctr) is then out of reach; runc in /usr/sbin is not
    try {
      assert.throws(() => checkContainerdInstalled(), /--runtime containerd needs containerd, containerd-shim-runc-v2, ctr.*: apt-get install containerd/);
    } finally {
      process.env.PATH = saved;
    }
  });

  it('builds a one-layer OCI archive whose digests match its blobs and whose entrypoint is a long sleep', async function () {
    if (!existsSync(BUSYBOX)) throw new Error('needs busybox-static: apt-get install busybox-static');
    const dir = await mkdtemp('/tmp/seine-img-');
    try {
      const file = await buildSandboxImage(path.join(dir, 'image.tar'));
      const out = path.join(dir, 'x');
      await run('mkdir', [out]);
      await run('tar', ['-C', out, '-xf', file]);
      const index = JSON.parse(await readFile(path.join(out, 'index.json'), 'utf8'));
      assert.equal(index.manifests[0].annotations['io.containerd.image.name'], SANDBOX_IMAGE);
      const blob = async (d: string) => {
        const b = await readFile(path.join(out, 'blobs/sha256', d.replace('sha256:', '')));
        assert.equal(`sha256:${createHash('sha256').update(b).digest('hex')}`, d, 'blob named by its digest');
        return b;
      };
      const manifest = JSON.parse((await blob(index.manifests[0].digest)).toString());
      const config = JSON.parse((await blob(manifest.config.digest)).toString());
      const layer = await blob(manifest.layers[0].digest);
      assert.equal(manifest.layers[0].size, layer.length);
      assert.deepEqual(config.rootfs.diff_ids, [manifest.layers[0].digest], 'uncompressed layer: diff id = digest');
      assert.deepEqual(config.config.Entrypoint, ['/bin/sleep', '2147483647']);
      const listing = (await run('tar', ['-tvf', path.join(out, 'blobs/sha256', manifest.layers[0].digest.replace('sha256:', ''))])).stdout;
      assert.match(listing, /bin\/busybox/);
      assert.match(listing, /bin\/sleep -> busybox/);
      assert.equal(await buildSandboxImage(file), file, 'an existing archive is reused');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('is built safely by several boxes at once (a lab starts its containerds together)', async function () {
    if (!existsSync(BUSYBOX)) throw new Error('needs busybox-static: apt-get install busybox-static');
    const dir = await mkdtemp('/tmp/seine-img-');
    try {
      const file = path.join(dir, 'image.tar');
      const built = await Promise.all([1, 2, 3, 4].map(() => buildSandboxImage(file)));
      assert.deepEqual(built, [file, file, file, file]);
      assert.match((await run('tar', ['-tf', file])).stdout, /index\.json/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
