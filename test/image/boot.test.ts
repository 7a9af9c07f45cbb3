// Each image (SEINE_IMAGE_ARCHES, arm64 by default) boots in qemu (TCG) from its own disk through U-Boot, and its agent shows online in a real
// controller started here from dist/ on 127.0.0.1 (qemu user networking: the guest reaches the
// host's loopback as 10.0.2.2). The test plays the user: it writes seine-node.yaml onto a copy
// of the image's boot partition with mtools, boots, waits, then reads the partition again.
// k3s is not in the image (its releases are on GitHub, unreachable here), so the node's
// inventory comes from a file on the boot partition: the stand-in for the k3s API this box lacks.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ImageReader, readPartitions } from '../../images/inspect.js';
import { freePort } from '../../src/lib/free-port.js';
import type { Arch } from '../../images/packages.js';
import { builtImage, imageArches, repo } from './built-image.js';

const exec = promisify(execFile);
const NODE = 'qemu-box';
const GROWN_BY_MIB = 1024;
/** The ROM qemu loads for -nic model=virtio-net-pci (Debian: ipxe-qemu's /usr/lib/ipxe/qemu). */
const VIRTIO_NET_ROM = 'efi-virtio.rom';
/** qemu's `virt` board per architecture, with Debian's U-Boot for it as the firmware. */
const MACHINE: Record<Arch, { qemu: string; cpu: string; uboot: string }> = {
  arm64: { qemu: 'qemu-system-aarch64', cpu: 'cortex-a57', uboot: '/usr/lib/u-boot/qemu_arm64/u-boot.bin' },
  armhf: { qemu: 'qemu-system-arm', cpu: 'cortex-a15', uboot: '/usr/lib/u-boot/qemu_arm/u-boot.bin' },
};

for (const arch of imageArches) describe(`image ${arch} boots in qemu and comes online`, function () {
  this.timeout(45 * 60_000);
  const machine = MACHINE[arch];
  let dir: string;
  let controller: ChildProcess | undefined;
  let qemu: ChildProcess | undefined;
  let consoleLog: string;

  before(async () => {
    const missing = [machine.qemu, 'mcopy', 'sfdisk'].filter((b) => !hasBin(b));
    if (!existsSync(machine.uboot)) missing.push(`${machine.uboot} (Debian u-boot-qemu)`);
    // The virtio-net-pci NIC's option ROM: without it qemu exits at start ("failed to find romfile").
    if (missing.length === 0 && !(await firmwareDirs(machine.qemu)).some((d) => existsSync(path.join(d, VIRTIO_NET_ROM)))) {
      missing.push(`${VIRTIO_NET_ROM} in ${machine.qemu}'s firmware path (Debian ipxe-qemu)`);
    }
    if (missing.length) throw new Error(`needs ${missing.join(', ')}: run images/install-prereqs.sh`);
    dir = await mkdtemp(path.join(tmpdir(), 'seine-boot-'));
    consoleLog = path.join(dir, 'console.log');
  });

  after(async () => {
    for (const p of [qemu, controller]) if (p?.pid && p.exitCode === null) p.kill('SIGKILL');
    if (dir && !process.env.SEINE_KEEP_BOOT_DIR) await rm(dir, { recursive: true, force: true });
  });

  it('provisions from seine-node.yaml, starts the agent (READY=1) and reports online to the controller', async () => {
    const { image } = await builtImage(arch);
    const rest = await freePort();
    const mqtt = await freePort();
    // Plain for now: first boot still provisions with a node password (enrollment with join tokens replaces it).
    await writeFile(path.join(dir, 'controller.yaml'), `listen: 127.0.0.1:${rest}\nbrokerListen: 127.0.0.1:${mqtt}\nstorePath: ${dir}/controller.db\ninsecure: true\n`);
    controller = spawn(process.execPath, [path.join(repo, 'dist/cli/seine.js'), 'controller', '--config', path.join(dir, 'controller.yaml')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let controllerErr = '';
    controller.stderr!.on('data', (d: Buffer) => (controllerErr += d.toString()));
    const api = `http://127.0.0.1:${rest}`;
    await eventually(async () => (await fetch(`${api}/healthz`)).ok, 60_000, () => `controller did not start: ${controllerErr}`);
    const cred = (await (await fetch(`${api}/api/v1/nodes/${NODE}/credentials`, { method: 'POST' })).json()) as { password: string };

    // The user's part: copy the image, drop seine-node.yaml (and here the inventory) on its boot partition.
    const disk = path.join(dir, 'disk.img');
    await exec('cp', ['--sparse=always', image, disk]);
    // Flashed onto a card bigger than the image: first boot grows root to the end of it.
    await exec('truncate', ['-s', `+${GROWN_BY_MIB}M`, disk]);
    const boot = `${disk}@@${(await readPartitions(disk))[0]!.start}`;
    await writeFile(
      path.join(dir, 'seine-node.yaml'),
      `controllerUrl: mqtt://10.0.2.2:${mqtt}\nnodeName: ${NODE}\ninsecure: true\ncredentials:\n  username: ${NODE}\n  password: ${cred.password}\n` +
        `agent:\n  podCIDR: 10.42.9.0/24\n  inventory: { source: file, path: /boot/firmware/inventory.json }\n`,
    );
    await writeFile(path.join(dir, 'inventory.json'), JSON.stringify(inventory()));
    await exec('mcopy', ['-i', boot, path.join(dir, 'seine-node.yaml'), path.join(dir, 'inventory.json'), '::/']);
    // The journal on the console too, so a failure's tail shows the agent's own log.
    const extlinux = (await exec('mtype', ['-i', boot, '::/extlinux/extlinux.conf'])).stdout;
    assert.match(extlinux, /^\s*append root=LABEL=seine-root/m);
    await writeFile(path.join(dir, 'extlinux.conf'), extlinux.replace(/^(\s*append .*)$/m, '$1 systemd.show_status=1 systemd.journald.forward_to_console=1'));
    await exec('mcopy', ['-o', '-i', boot, path.join(dir, 'extlinux.conf'), '::/extlinux/extlinux.conf']);

    const t0 = Date.now();
    // Firmware, not -kernel: U-Boot finds extlinux.conf on the image's bootable partition and
    // boots the kernel, initrd and command line the image carries, as a board would.
    qemu = spawn(machine.qemu, [
      '-M', 'virt', '-cpu', machine.cpu, '-smp', '2', '-m', '1024',
      '-bios', machine.uboot,
      '-drive', `file=${disk},format=raw,if=virtio`,
      '-nic', 'user,model=virtio-net-pci',
      '-display', 'none', '-monitor', 'none', '-serial', `file:${consoleLog}`,
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    let qemuErr = '';
    qemu.stderr!.on('data', (d: Buffer) => (qemuErr += d.toString()));
    const tail = async () => `qemu: ${qemuErr.trim()}\n--- console (last 40 lines) ---\n${(await readFile(consoleLog, 'utf8').catch(() => '')).split('\n').slice(-40).join('\n')}`;

    await eventually(
      async () => {
        if (qemu!.exitCode !== null) throw new Error(`qemu exited ${qemu!.exitCode}`);
        const nodes = (await (await fetch(`${api}/api/v1/nodes`)).json()) as { name: string; online: boolean; agentVersion: string | null }[];
        return nodes.some((n) => n.name === NODE && n.online);
      },
      40 * 60_000,
      tail,
    );
    const onlineAfter = (Date.now() - t0) / 1000;
    process.stderr.write(`      ${arch} boot → online: ${onlineAfter.toFixed(0)} s\n`);

    const consoleText = await readFile(consoleLog, 'utf8');
    assert.match(consoleText, /seine first-boot: provisioned node qemu-box/);
    assert.match(consoleText, new RegExp(`seine first-boot: root file system grown by ${GROWN_BY_MIB} MiB`));
    // systemd logs "Started" for a Type=notify unit only after READY=1 (the console abbreviates
    // the unit name; the journal line carries it whole).
    await eventually(async () => /Started .*seine-agent\.serv/.test(await readFile(consoleLog, 'utf8')), 240_000, tail);
    // systemd reports unit file mistakes (an unknown key, a key in the wrong section) at boot.
    const unitWarnings = (await readFile(consoleLog, 'utf8')).split('\n').filter((l) => /\/etc\/systemd\/system\/[\w-]+\.service:\d+: /.test(l));
    assert.deepEqual(unitWarnings, [], 'systemd found mistakes in our unit files');

    // Power off, then look at the boot partition as the user would: no secrets left.
    qemu.kill('SIGKILL');
    await new Promise((r) => qemu!.once('close', r));
    const { stdout } = await exec('mdir', ['-b', '-i', boot, '::/']);
    assert.doesNotMatch(stdout, /::\/seine-node\.yaml$/m);
    assert.match(stdout, /seine-node\.provisioned\.yaml/);
    const left = (await exec('mtype', ['-i', boot, '::/seine-node.provisioned.yaml'])).stdout;
    assert.ok(!left.includes(cred.password), 'the password left the boot partition');

    // The root partition now ends at the disk's end, and its ext4 file system fills it.
    const grown = await ImageReader.open(disk);
    try {
      const root = grown.partitions[1]!;
      const { size: diskBytes } = await stat(disk);
      assert.equal(root.start + root.size, diskBytes, 'root partition reaches the end of the disk');
      const stats = await grown.fsStats();
      const fsBytes = Number(stats.match(/Block count:\s+(\d+)/)?.[1]) * Number(stats.match(/Block size:\s+(\d+)/)?.[1]);
      // resize2fs may leave off a last block group too small to be worth its metadata (< 8 MiB).
      assert.ok(fsBytes <= root.size && fsBytes > root.size - 8 * 2 ** 20, `ext4 ${fsBytes} bytes in a ${root.size}-byte partition`);
    } finally {
      await grown.close();
    }
  });
});

function inventory(): object {
  return {
    apiVersion: 'v1',
    kind: 'List',
    metadata: { resourceVersion: '' },
    items: [
      {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: NODE, uid: '00000000-0000-4000-8000-000000000001', labels: { 'kubernetes.io/hostname': NODE } },
        spec: { podCIDR: '10.42.9.0/24', podCIDRs: ['10.42.9.0/24'] },
        status: { addresses: [{ type: 'InternalIP', address: '10.0.2.15' }, { type: 'Hostname', address: NODE }] },
      },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default', uid: '00000000-0000-4000-8000-000000000002', labels: {} }, status: { phase: 'Active' } },
    ],
  };
}

/** The directories qemu searches for firmware and ROMs, as it reports them (`-L help`). */
async function firmwareDirs(qemuBin: string): Promise<string[]> {
  return (await exec(qemuBin, ['-L', 'help'])).stdout.split('\n').map((l) => l.trim()).filter(Boolean);
}

function hasBin(bin: string): boolean {
  return [process.env.PATH ?? '', '/usr/sbin', '/sbin'].join(':').split(':').some((d) => {
    try {
      return existsSync(path.join(d, bin));
    } catch {
      return false;
    }
  });
}

async function eventually(check: () => Promise<boolean>, timeoutMs: number, why: () => string | Promise<string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      if (Date.now() > deadline || /qemu exited/.test((err as Error).message)) throw new Error(`${(err as Error).message}\n${await why()}`);
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s\n${await why()}`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}
