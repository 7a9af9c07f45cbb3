// The image recipe's pure parts: partition layout, bootstrap plan and cache key, mirror failure
// messages, ELF architecture checks. The real build runs in `npm run test:image`.
import assert from 'node:assert/strict';
import { aptSources, bootstrapPlan, failingSuite } from '../../images/bootstrap.js';
import { defaultLayout, genimageConfig } from '../../images/genimage.js';
import { packagesFor } from '../../images/packages.js';
import { elfInfo, TARGET_RUNTIME } from '../../images/runtime.js';

describe('image recipe', () => {
  it('lays out an MBR image with a bootable FAT boot partition and an ext4 root, without copying root into FAT', () => {
    const cfg = genimageConfig(defaultLayout('arm64'));
    assert.match(cfg, /image boot\.vfat \{\s+#[^\n]*\n\s+mountpoint = "\/boot\/firmware"/);
    assert.match(cfg, /label = "BOOT"/);
    assert.match(cfg, /use-mke2fs = true\s+label = "seine-root"/);
    assert.match(cfg, /image seine-arm64\.img \{\s+hdimage \{\s+partition-table-type = "mbr"/);
    assert.match(cfg, /partition boot \{\s+partition-type = 0xC\s+bootable = "true"\s+image = "boot\.vfat"/);
    assert.match(cfg, /partition root \{\s+partition-type = 0x83\s+image = "root\.ext4"/);
  });

  it('bootstraps each architecture with its kernel and a cache key that follows the package list and suites', () => {
    assert.ok(packagesFor('arm64').includes('linux-image-arm64'));
    assert.ok(packagesFor('armhf').includes('linux-image-armmp'));
    for (const p of ['openvswitch-switch', 'systemd-sysv', 'conntrack', 'iproute2']) assert.ok(packagesFor('arm64').includes(p), p);
    const initramfsConfig = new URL('../../rootfs/etc/initramfs-tools', import.meta.url).pathname;
    const a = bootstrapPlan('arm64', '/c', { security: true, initramfsConfig });
    assert.equal(a.tarball, bootstrapPlan('arm64', '/c', { security: true, initramfsConfig }).tarball, 'stable key');
    assert.notEqual(a.tarball, bootstrapPlan('arm64', '/c', { security: false, initramfsConfig }).tarball);
    assert.notEqual(a.tarball, bootstrapPlan('armhf', '/c', { security: true, initramfsConfig }).tarball);
    // The initrd is made once at the end (a no-op update-initramfs while packages install).
    assert.ok(a.argv.some((x) => x.startsWith('--essential-hook=') && x.includes('dpkg-divert') && x.includes('--add /usr/sbin/update-initramfs')));
    assert.ok(a.argv.some((x) => x.startsWith('--customize-hook=') && x.includes('--remove /usr/sbin/update-initramfs') && x.endsWith('update-initramfs -c -k all')));
    assert.ok(a.argv.includes('--arch=arm64'));
    assert.ok(a.argv.includes('deb http://deb.debian.org/debian-security bookworm-security main'));
    assert.deepEqual(aptSources({ security: false }).map((s) => s.suite), ['bookworm', 'bookworm-updates']);
  });

  it('names the suite whose index failed to download', () => {
    const sources = aptSources({ security: true });
    const log = [
      'Get:1 http://deb.debian.org/debian bookworm InRelease',
      'Err:5 http://deb.debian.org/debian-security bookworm-security/main armhf Packages',
      '  File has unexpected size (123 != 456). Mirror sync in progress? [IP: 10.0.0.1 80]',
      'E: Failed to fetch http://deb.debian.org/debian-security/dists/bookworm-security/main/binary-armhf/Packages.xz  File has unexpected size',
    ].join('\n');
    assert.equal(failingSuite(log, sources), 'bookworm-security');
    assert.equal(failingSuite('E: Failed to fetch http://deb.debian.org/debian/dists/bookworm-updates/main/binary-armhf/Packages.xz  Hash Sum mismatch', sources), 'bookworm-updates');
    assert.equal(failingSuite('E: Failed to fetch http://deb.debian.org/debian/dists/bookworm/main/binary-armhf/Packages.xz  404', sources), 'bookworm');
    assert.equal(failingSuite('E: Unable to locate package nope', sources), undefined);
  });

  it('tells target binaries from build-machine binaries by their ELF header', () => {
    const elf = (machine: number, bits: 1 | 2) => {
      const b = Buffer.alloc(64);
      b.writeUInt32BE(0x7f454c46, 0);
      b[4] = bits;
      b[5] = 1;
      b.writeUInt16LE(machine, 18);
      return b;
    };
    assert.deepEqual(elfInfo(elf(183, 2)), { machine: TARGET_RUNTIME.arm64.elfMachine, bits: 64 });
    assert.deepEqual(elfInfo(elf(40, 1)), { machine: TARGET_RUNTIME.armhf.elfMachine, bits: 32 });
    assert.equal(elfInfo(elf(62, 2))?.machine, 62);
    assert.equal(elfInfo(Buffer.from('#!/bin/sh\n')), undefined);
  });
});
