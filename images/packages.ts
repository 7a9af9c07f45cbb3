// The Debian side of the image, declared once: the build, its cache key and the manifest read it.
export type Arch = 'arm64' | 'armhf';
export const ARCHES: readonly Arch[] = ['arm64', 'armhf'];

export const DEBIAN_SUITE = 'bookworm';
export const DEBIAN_MIRROR = 'http://deb.debian.org/debian';
export const DEBIAN_SECURITY_MIRROR = 'http://deb.debian.org/debian-security';

/** Packages every image carries (besides mmdebstrap's `apt` variant: Essential + apt). */
export const COMMON_PACKAGES = [
  'systemd-sysv', 'udev', 'dbus', 'kmod', 'systemd-timesyncd', 'netbase', 'procps',
  'openvswitch-switch', 'conntrack', 'iproute2', 'iptables', 'logrotate', 'ca-certificates',
  'initramfs-tools', 'e2fsprogs', 'dosfstools',
] as const;

/** The Debian kernel for each target: arm64's boots qemu `virt` and generic arm64 boards. */
export const KERNEL_PACKAGE: Record<Arch, string> = {
  arm64: 'linux-image-arm64',
  armhf: 'linux-image-armmp',
};

/** What the target's Node binary links against beyond glibc: the armv7l build needs libatomic
 *  (the first armhf boot found node failing on libatomic.so.1; the build now runs node in the
 *  rootfs to catch this). */
export const RUNTIME_PACKAGES: Record<Arch, readonly string[]> = {
  arm64: [],
  armhf: ['libatomic1'],
};

export function packagesFor(arch: Arch): string[] {
  return [...COMMON_PACKAGES, ...RUNTIME_PACKAGES[arch], KERNEL_PACKAGE[arch]].sort();
}
