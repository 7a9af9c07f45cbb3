// A built image, read without mounting it: partitions, files, enabled units, the architecture of
// Node and of the native module, and no secrets.
import assert from 'node:assert/strict';
import { createHash, createPublicKey } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import type { Manifest } from '../../images/build.js';
import { BOOT_LABEL } from '../../images/genimage.js';
import { ImageReader } from '../../images/inspect.js';
import { elfInfo, LAUNCHER_PATH, TARGET_RUNTIME } from '../../images/runtime.js';
import { AgentConfigSchema } from '../../src/api/config.js';
import { parseNodeFile } from '../../src/agent/first-boot/provision.js';
import { builtImage, imageArches, repo } from './built-image.js';

const sha256File = (file: string) =>
  new Promise<string>((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file).on('data', (d) => h.update(d)).on('error', reject).on('end', () => resolve(h.digest('hex')));
  });

const pkg = JSON.parse(await readFile(path.join(repo, 'package.json'), 'utf8')) as { version: string };

for (const arch of imageArches) {
  describe(`image ${arch} (inspected without mounting)`, function () {
    this.timeout(60 * 60_000);
    let img: ImageReader;
    let manifest: Manifest;
    let image: string;
    const rt = TARGET_RUNTIME[arch];
    const release = `/opt/seine/releases/${pkg.version}`;

    before(async () => {
      ({ image, manifest } = await builtImage(arch));
      img = await ImageReader.open(image);
    });
    after(() => img?.close());

    it('has an MBR with a bootable FAT boot partition and an ext4 root', async () => {
      assert.equal(img.partitions.length, 2);
      const [boot, root] = img.partitions;
      assert.equal(boot!.type, 'c');
      assert.equal(boot!.bootable, true);
      assert.equal(root!.type, '83');
      assert.equal(await img.bootLabel(), BOOT_LABEL);
      assert.ok((await img.stat('/etc/debian_version')) !== undefined, 'partition 2 is the root file system');
    });

    it('boots from kernel + initrd on the boot partition and carries an example seine-node.yaml, not a real one', async () => {
      const files = await img.bootFiles();
      for (const f of ['vmlinuz', 'initrd.img', 'extlinux/', 'dtbs/', 'cmdline.txt', 'seine-node.example.yaml']) assert.ok(files.includes(f), `${f} in ${files.join(' ')}`);
      assert.ok((await img.bootFiles('dtbs')).length > 10, 'the kernel package\'s device trees are on the boot partition');
      const extlinux = await img.bootFile('extlinux/extlinux.conf');
      for (const line of [/^\s*kernel \/vmlinuz$/m, /^\s*initrd \/initrd\.img$/m, /^\s*fdtdir \/dtbs$/m, /^\s*append root=LABEL=seine-root /m]) assert.match(extlinux, line);
      assert.ok(!files.includes('seine-node.yaml'));
      const example = parseNodeFile(await img.bootFile('seine-node.example.yaml'), 'seine-node.example.yaml', '/boot/firmware');
      assert.equal(example.nodeName, 'box-17');
      assert.match(await img.bootFile('cmdline.txt'), /root=LABEL=seine-root/);
    });

    it('installs the agent release behind /opt/seine/current, with Node and the native module built for the target', async () => {
      assert.equal(await img.readlink('/opt/seine/current'), `releases/${pkg.version}`);
      for (const f of ['bin/seine', 'bin/seinectl', 'bin/seine-cni']) assert.equal(((await img.stat(`${release}/${f}`))?.mode ?? 0) & 0o111, 0o111, `${f} executable`);
      assert.ok(await img.stat(`${release}/dist/cli/seine.js`));
      assert.ok(await img.stat(`${release}/node_modules/zod/package.json`));
      assert.equal(await img.stat(`${release}/node_modules/mocha`), undefined, 'no dev dependencies');
      assert.equal(await img.readlink('/usr/local/bin/node'), `/opt/seine/node/${rt.nodeVersion}/bin/node`);
      const node = elfInfo(await img.readBytes(`/opt/seine/node/${rt.nodeVersion}/bin/node`));
      assert.equal(node?.machine, rt.elfMachine, `node is ELF machine ${node?.machine}`);
      const sqlite = `${release}/node_modules/sqlite3/build/Release/node_sqlite3.node`;
      assert.equal(elfInfo(await img.readBytes(sqlite))?.machine, rt.elfMachine, 'sqlite3 built for the target, not the build machine');
      // sqlite3 is compiled here; others come prebuilt for the target from npm (node-red's
      // optional @node-rs/bcrypt-linux-<arch>): every one must be the target's ELF.
      assert.ok(manifest.nativeModules.some((m) => m.file === sqlite), 'sqlite3 in the manifest');
      for (const m of manifest.nativeModules) assert.equal(elfInfo(await img.readBytes(m.file))?.machine, rt.elfMachine, `${m.file} built for the target`);
      assert.ok(await img.stat('/var/lib/seine/update'), 'the updater\'s state directory');
      // The launcher systemd starts, outside every release (issue 17).
      assert.ok(await img.stat(LAUNCHER_PATH), 'the launcher');
    });

    it('enables first boot, the agent, k3s and networking for multi-user.target', async () => {
      const wants = await img.ls('/etc/systemd/system/multi-user.target.wants');
      for (const unit of ['seine-first-boot.service', 'seine-agent.service', 'k3s.service', 'systemd-networkd.service', 'openvswitch-switch.service']) {
        assert.ok(wants.includes(unit), `${unit} enabled (have ${wants.join(' ')})`);
      }
      assert.equal(await img.readlink('/etc/systemd/system/multi-user.target.wants/seine-agent.service'), '/etc/systemd/system/seine-agent.service');
      assert.match(await img.cat('/etc/systemd/system/seine-agent.service'), /^Type=notify$/m);
      assert.equal(await img.readlink('/etc/systemd/system/default.target'), '/lib/systemd/system/multi-user.target');
      const k3s = await img.stat('/usr/local/bin/k3s');
      assert.equal(k3s !== undefined, manifest.k3s.included, 'k3s is in the image exactly when the manifest says so');
    });

    it('contains no secrets and no per-box identity', async () => {
      assert.equal(await img.stat('/var/lib/seine/provisioned'), undefined);
      assert.equal((await img.cat('/etc/machine-id')).trim(), '');
      assert.deepEqual((await img.ls('/etc/ssh').catch(() => [])).filter((f) => f.startsWith('ssh_host_')), []);
      const agent = AgentConfigSchema.parse(parse(await img.cat('/etc/seine/agent.yaml')));
      assert.equal(agent.controller, undefined, 'no controller credentials before first boot');
      const rootShadow = (await img.cat('/etc/shadow')).split('\n').find((l) => l.startsWith('root:'))!;
      assert.doesNotMatch(rootShadow.split(':')[1]!, /^\$/, 'root has no password hash');
      const pub = createPublicKey(await img.cat('/etc/seine/release.pub'));
      assert.equal(pub.asymmetricKeyType, 'ed25519');
      assert.equal(pub.type, 'public');
      // Private keys anywhere a box keeps configuration or state.
      for (const dir of ['/etc', '/root', '/var/lib/seine', `${release}/dist`]) {
        const local = await img.rdump(dir);
        const hits: string[] = [];
        for (const e of await readdir(local, { recursive: true, withFileTypes: true })) {
          if (!e.isFile()) continue;
          const text = await readFile(path.join(e.parentPath, e.name), 'latin1');
          if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) hits.push(path.join(e.parentPath, e.name));
        }
        assert.deepEqual(hits, [], `private keys under ${dir}`);
      }
    });

    it('has a manifest with versions, packages and the sha256 of the image', async () => {
      assert.equal(manifest.arch, arch);
      assert.equal(manifest.sha256.image, await sha256File(image));
      assert.match(manifest.debian.version, /^12\./);
      assert.equal(manifest.node.version, rt.nodeVersion);
      assert.match(manifest.openvswitch, /^3\./);
      assert.equal(manifest.seine.version, pkg.version);
      assert.ok(manifest.packages.some((p) => p.name === 'openvswitch-switch'));
      assert.ok(manifest.k3s.note.length > 0);
      assert.ok(manifest.timings.some((t) => t.stage === 'assemble'));
    });

    it('has a .xz exactly when the manifest names one (none for a --no-compress check build)', async () => {
      const xz = `${image}.xz`;
      if (manifest.compressed === null) {
        assert.equal(existsSync(xz), false, `no ${path.basename(xz)} beside a --no-compress image`);
        assert.equal(manifest.sizes.compressedBytes, null);
        assert.equal(manifest.sha256.compressed, null);
        assert.ok(!manifest.timings.some((t) => t.stage === 'compress'), 'no compress stage timed');
      } else {
        assert.equal(manifest.compressed, path.basename(xz));
        assert.equal(manifest.sizes.compressedBytes, (await stat(xz)).size);
        assert.equal(manifest.sha256.compressed, await sha256File(xz));
      }
    });
  });
}
