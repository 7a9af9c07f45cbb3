#!/usr/bin/env bash
# What `npm run image` needs on the build machine (Debian 12, root): mmdebstrap and qemu-user
# for the foreign-architecture bootstrap, genimage + mtools + dosfstools + e2fsprogs to assemble
# without loop mounts, Debian's cross compilers for the native module, xz, fdisk (sfdisk) and
# qemu-system-arm + u-boot-qemu (firmware for the boot test) + ipxe-qemu for the checks: qemu's
# virtio-net-pci NIC loads its option ROM (efi-virtio.rom) from ipxe-qemu, a Recommends of
# qemu-system-arm that --no-install-recommends leaves out, and qemu will not start without it.
# Idempotent; `images/install-prereqs.sh [arm64|armhf]`.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(mmdebstrap qemu-user-static binfmt-support arch-test genimage mtools dosfstools e2fsprogs xz-utils fdisk u-boot-qemu
  qemu-system-arm ipxe-qemu gcc-aarch64-linux-gnu g++-aarch64-linux-gnu gcc-arm-linux-gnueabihf g++-arm-linux-gnueabihf python3)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "images: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# qemu-user through binfmt_misc (built into the kernel here; mount it if needed).
mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
for a in ${1:-arm64 armhf}; do
  q=$([ "$a" = arm64 ] && echo qemu-aarch64 || echo qemu-arm)
  update-binfmts --enable "$q" >/dev/null 2>&1 || true
  if ! arch-test "$a" >/dev/null; then
    echo "images: this machine cannot run $a binaries (arch-test $a failed; is binfmt_misc available and $q enabled?)" >&2
    exit 1
  fi
done
