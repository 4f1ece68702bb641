#!/usr/bin/env bash
# Patch fuse-native 2.2.6 (patches/fuse-native-2.2.6-wardenfs.patch, see docs/fuse.md) and
# build it against Debian's libfuse-dev. Idempotent: skipped when the installed package
# already carries this version of the patch and its build.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=node_modules/fuse-native
patchfile=patches/fuse-native-2.2.6-wardenfs.patch
want=$(sha256sum "$patchfile" | cut -c1-16)
have=$(cat "$dir/.wardenfs-patch" 2>/dev/null || true)

if [ "$have" = "$want" ] && [ -f "$dir/build/Release/fuse.node" ]; then
  exit 0
fi

if [ -n "$have" ]; then
  # Patched by another version of the patch: start again from the pristine package.
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack -q fuse-native@2.2.6 >/dev/null && tar xzf fuse-native-2.2.6.tgz)
  cp "$tmp/package/fuse-native.c" "$tmp/package/index.js" "$tmp/package/binding.gyp" "$dir/"
  rm -rf "$tmp"
fi

echo "setup: patching and building fuse-native" >&2
patch -p1 -N -s -d "$dir" < "$patchfile"

node_gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
nodedir=$(npm config get nodedir 2>/dev/null || true)
if [ -z "$nodedir" ] || [ "$nodedir" = "undefined" ] || [ ! -d "$nodedir/include/node" ]; then
  nodedir=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
fi
(cd "$dir" && node "$node_gyp" rebuild --nodedir="$nodedir" --loglevel=warn)

# The loader must pick our build, not the package's prebuilt binary.
loaded=$(node -e "console.log(require('node-gyp-build').path('$dir'))")
case "$loaded" in
  *build/Release*) ;;
  *) echo "setup: fuse-native loads $loaded instead of the patched build" >&2; exit 1 ;;
esac
echo "$want" > "$dir/.wardenfs-patch"
