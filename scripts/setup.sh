#!/usr/bin/env bash
# Everything wardenfs needs on a fresh Debian 12 machine, idempotent and quick when all
# is there: Debian packages, npm ci, the build. Run by `npm start` and `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."

# libfuse2 + fuse: fuse-native's binding and fusermount. runc/crun: OCI runtimes.
# catatonit: the idle init of every container. busybox-static: the default image.
# conmon: the per-process monitor. iproute2/nftables: container networks. bindfs: the rootfs benchmark.
# libfuse-dev, pkg-config, make, g++: the patched fuse-native is built at install.
# xfsprogs: the XFS layer store, loop-backed, whose project quotas are disk.max (docs/decisions.md).
# gcc, linux-libc-dev (<linux/openat2.h>), python3 (node-gyp): the rootfs confinement addon.
# prometheus: its promtool checks the `metrics` files in the tests (test/tree/metrics.test.ts);
# 19 MB to download, 96 MB installed (the server comes with it; Debian's postinst would start
# its service on a host without a policy-rc.d that says no).
PACKAGES=(libfuse2 libfuse-dev pkg-config make g++ gcc linux-libc-dev python3 fuse runc crun catatonit busybox-static conmon iproute2 nftables bindfs tar gzip util-linux procps patch coreutils prometheus xfsprogs)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -e /dev/fuse ]; then
  modprobe fuse 2>/dev/null || true
fi
[ -e /dev/fuse ] || { echo "setup: /dev/fuse is missing: this kernel has no FUSE" >&2; exit 1; }

# npm ci when node_modules is missing or older than the lockfile.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund
fi

bash scripts/build-fuse-native.sh
bash scripts/build-native.sh

# Build when any source is newer than the last build (tsc is incremental anyway).
if [ ! -f dist/.tsbuildinfo ] || [ -n "$(find src test scripts tsconfig.json package.json -newer dist/.tsbuildinfo -print -quit)" ]; then
  echo "setup: building" >&2
  npx tsc -p tsconfig.json
  touch dist/.tsbuildinfo
fi
