#!/bin/bash
# Idempotent set-up for `npm test`, `npm run demo` and `npm run bench`:
# installs missing Debian packages, npm dependencies, and builds.
# Quick when nothing is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the real components come from (binary → package).
declare -A NEED=(
  [etcd]=etcd-server [etcdctl]=etcd-client [bird]=bird [bird6]=bird [birdc]=bird
  [iptables]=iptables [iptables-legacy]=iptables [ipset]=ipset [ip]=iproute2 [ping]=iputils-ping
  [openssl]=openssl [pgrep]=procps [nsenter]=util-linux [tar]=tar
  [dockerd]=docker.io [busybox]=busybox-static [nft]=nftables [python3]=python3
)
# Files rather than commands on PATH.
declare -A NEED_FILE=( [/usr/lib/cni/ptp]=containernetworking-plugins )
missing=()
for bin in "${!NEED[@]}"; do
  command -v "$bin" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$bin" >/dev/null 2>&1 || missing+=("${NEED[$bin]}")
done
for f in "${!NEED_FILE[@]}"; do
  [ -e "$f" ] || missing+=("${NEED_FILE[$f]}")
done
if ((${#missing[@]})); then
  pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing packages ($pkgs) and not root: run as root or apt-get install them" >&2
    exit 1
  fi
  echo "setup: installing $pkgs"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
fi

# npm dependencies: reinstall when the lockfile changed since the last install.
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

# Build (incremental; a no-op when nothing changed), then the bins' bundles (~1 s).
npx tsc -b
node scripts/bundle.mjs
