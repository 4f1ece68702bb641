#!/usr/bin/env bash
# Build the rootfs confinement addon (native/rootfs, used by src/drivers/rootfs/resolver.ts)
# with node-gyp against the installed Node headers. Idempotent: skipped when the built
# rootfs.node is newer than its sources.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=native/rootfs
out=$dir/build/Release/rootfs.node

if [ -f "$out" ] && [ "$out" -nt "$dir/rootfs.c" ] && [ "$out" -nt "$dir/idmap.c" ] && [ "$out" -nt "$dir/notify.c" ] && [ "$out" -nt "$dir/seqpacket.c" ] && [ "$out" -nt "$dir/hostmount.c" ] && [ "$out" -nt "$dir/binding.gyp" ]; then
  exit 0
fi

echo "setup: building native/rootfs" >&2
node_gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
# The headers of the Node that runs us, never a download (there may be no network).
nodedir=$(npm config get nodedir 2>/dev/null || true)
if [ -z "$nodedir" ] || [ "$nodedir" = "undefined" ] || [ ! -d "$nodedir/include/node" ]; then
  nodedir=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
fi
(cd "$dir" && node "$node_gyp" rebuild --nodedir="$nodedir" --loglevel=warn)

# A failed link can leave an old binary behind: check that the new one loads.
node -e "require(process.argv[1])" "$PWD/$out"
