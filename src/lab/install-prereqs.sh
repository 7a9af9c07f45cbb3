#!/usr/bin/env bash
# Installs what Seine needs on a Debian machine and builds it; quick no-op when all is there.
# Used by `npm start`, `npm test` and `npm run bench` so that a fresh clone needs nothing else.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

say() { printf 'seine: %s\n' "$*" >&2; }

# command -> Debian package
declare -A want=(
  [ovs-vswitchd]=openvswitch-switch [ovsdb-server]=openvswitch-switch [ovs-ofctl]=openvswitch-switch
  [conntrack]=conntrack [mosquitto]=mosquitto [mosquitto_pub]=mosquitto-clients
  [ip]=iproute2 [ping]=iputils-ping [nc]=netcat-openbsd [ethtool]=ethtool
  [python3]=python3 [make]=build-essential [g++]=build-essential [openssl]=openssl
  [tshark]=tshark [nfcapd]=nfdump [wireguard-go]=wireguard-go [wg]=wireguard-tools
  [iptables]=iptables [arping]=iputils-arping [chromium]=chromium [sfdisk]=fdisk
  [containerd]=containerd [ctr]=containerd [containerd-shim-runc-v2]=containerd [runc]=runc
  [dnsmasq]=dnsmasq-base
)
missing=()
for cmd in "${!want[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${want[$cmd]}")
done
# PostgreSQL's server programs live under /usr/lib/postgresql/<version>/bin, off PATH.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null 2>&1 || missing+=(postgresql)
# lab --runtime containerd builds its sandbox image from the static busybox (not the dynamic one).
[[ -x /bin/busybox ]] && ! ldd /bin/busybox >/dev/null 2>&1 || missing+=(busybox-static)
if ((${#missing[@]})); then
  pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
  if [[ $(id -u) -ne 0 ]]; then
    say "missing Debian packages: $pkgs— run as root, or: sudo apt-get install -y $pkgs"
    exit 1
  fi
  say "installing Debian packages: $pkgs"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer it before the install.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
fi

# npm dependencies: install when node_modules is missing or older than the lock file.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  say "installing npm dependencies (native modules build from source, about a minute)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# Seine's own addon (src/native, netlink): npm ci builds it through the install script; a
# checkout whose node_modules is current still needs it when it is missing or older than its source.
addon=src/native/build/Release/seine_native.node
if [[ ! -f $addon || src/native/netlink.c -nt $addon || src/native/binding.gyp -nt $addon ]]; then
  say "building the netlink addon (src/native)"
  npm run --silent install -- --loglevel=error >/dev/null  # the install script: npm puts its own node-gyp on PATH
fi

say "building"
npm run --silent build
