#!/usr/bin/env bash
# `npm run package [-- OUTDIR]`: the Debian package wardenfs_VERSION_ARCH.deb, built with
# dpkg-deb from this checkout (docs/operating.md, Install). What goes in:
#   /usr/lib/wardenfs          package.json, bin/, dist/src (the built JavaScript), the
#                              runtime node_modules (the patched fuse-native with its build,
#                              no dev dependencies), native/rootfs's addon, proto/ (the
#                              CRI face's .proto)
#   /usr/bin/wardenfs          the launcher (packaging/launcher)
#   /lib/systemd/system/wardenfs.service, /etc/default/wardenfs (a conffile)
#   /usr/share/man/man8/wardenfs.8.gz   from the usage tables of `wardenfs --help`
#   /usr/share/doc/wardenfs/   copyright, changelog, operating.md, interface.md
# The native parts are built for this machine's Node (Node-API: any Node >= 20 loads them).
# Prints the path of the .deb on stdout, progress on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
project=$PWD
out=$(realpath -m "${1:-$project}")
mkdir -p "$out"

say() { echo "package: $*" >&2; }

bash scripts/setup.sh >&2
# Packaging-time tools, not dependencies of wardenfs: dpkg-shlibdeps (dpkg-dev), strip (binutils).
for tool in dpkg-dev binutils; do
  dpkg-query -W -f='${Status}' "$tool" 2>/dev/null | grep -q 'install ok installed' \
    || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$tool" >&2
done

version=$(node -p "require('./package.json').version")
arch=$(dpkg --print-architecture)
head -1 packaging/changelog | grep -qF "wardenfs ($version)" \
  || { say "packaging/changelog does not start with version $version"; exit 1; }
# Reproducible: every mtime is the last commit's time (or SOURCE_DATE_EPOCH).
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
lib=$root/usr/lib/wardenfs
doc=$root/usr/share/doc/wardenfs

say "staging $version ($arch)"
mkdir -p "$lib/bin" "$lib/dist" "$lib/native/rootfs/build/Release" "$root/usr/bin" \
  "$root/lib/systemd/system" "$root/etc/default" "$root/usr/share/man/man8" "$doc" "$root/DEBIAN"
cp package.json package-lock.json "$lib/"
cp bin/wardenfs.js "$lib/bin/"
# The built JavaScript only: no tests, no scripts, no source maps.
cp -r dist/src "$lib/dist/"
find "$lib/dist" -type f ! -name '*.js' -delete
install -m 0644 native/rootfs/build/Release/rootfs.node "$lib/native/rootfs/build/Release/"
# The CRI face's own .proto, loaded at start (src/cri/server.ts: beside dist/).
install -D -m 0644 proto/runtime-v1.proto "$lib/proto/runtime-v1.proto"

# Runtime node_modules: the checkout's (fuse-native patched and built by setup.sh), without
# the dev dependencies. npm prune works offline and runs no install script.
say "runtime node_modules"
cp -a node_modules "$lib/"
(cd "$lib" && npm prune --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
rm -f "$lib/package-lock.json" "$lib/node_modules/.package-lock.json"
fn=$lib/node_modules/fuse-native
[ -f "$fn/build/Release/fuse.node" ] && [ -f "$fn/.wardenfs-patch" ] \
  || { say "node_modules/fuse-native is not the patched build"; exit 1; }
# Only our build may load: the prebuilt (unpatched) binaries and the build tree go.
rm -rf "$fn/prebuilds" "$fn/test" "$fn/example.js"
find "$fn/build" -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} +
find "$fn/build/Release" -mindepth 1 ! -name fuse.node -exec rm -rf {} +
# fuse-shared-library ships a libfuse build, setuid helper scripts and copies of fusermount
# for Fuse.configure(), which wardenfs never calls (the binding links Debian's libfuse2):
# only its JavaScript stays, as fuse-native requires it; the other platforms' go whole.
fsl=$(node -p "require('os').arch() === 'arm' ? 'fuse-shared-library-linux-arm' : 'fuse-shared-library-linux'")
for d in "$lib"/node_modules/fuse-shared-library-*; do
  if [ "$(basename "$d")" = "$fsl" ]; then rm -rf "$d/libfuse" "$d/example"; else rm -rf "$d"; fi
done
find "$lib/node_modules" -name .bin -prune -exec rm -rf {} +
find "$lib/node_modules" \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.cts' -o -name '*.d.mts' -o -name '.npmignore' -o -name '.eslintrc*' -o -name '.travis.yml' -o -name '.github' \) -prune -exec rm -rf {} +
# Their READMEs and changelogs are not needed to run (license files stay).
find "$lib/node_modules" -type f \( -iname '*.md' -o -iname '*.markdown' \) ! -iname 'license*' ! -iname 'licence*' -delete
find "$lib/node_modules" -type d -empty -delete
# Modules read by require(), shipped executable by some authors (wrap-ansi, under
# @grpc/proto-loader): without a #! line they are no programs, and lintian says so.
find "$lib/node_modules" -type f -perm /111 \( -name '*.js' -o -name '*.cjs' -o -name '*.mjs' -o -name '*.json' \) -print0 \
  | while IFS= read -r -d '' f; do [ "$(head -c 2 "$f")" = '#!' ] || chmod a-x "$f"; done
# The two shared objects, without their symbol tables (not needed to load them).
find "$lib" -name '*.node' -exec strip --strip-unneeded --remove-section=.comment --remove-section=.note {} + -exec chmod 0644 {} +

# The staged tree runs: the CLI starts, fuse-native loads our build, the addon loads.
node "$lib/bin/wardenfs.js" --version >/dev/null
(cd "$lib" && node -e "
  const p = require('node-gyp-build').path('node_modules/fuse-native');
  if (!p.endsWith('/build/Release/fuse.node')) throw new Error('fuse-native would load ' + p);
  require('fuse-native');
  require('./native/rootfs/build/Release/rootfs.node');
")

say "launcher, unit, defaults, man page, docs"
install -m 0755 packaging/launcher "$root/usr/bin/wardenfs"
install -m 0644 packaging/wardenfs.service "$root/lib/systemd/system/wardenfs.service"
install -m 0644 packaging/default "$root/etc/default/wardenfs"
node dist/scripts/manpage.js > "$root/usr/share/man/man8/wardenfs.8"
gzip -9n "$root/usr/share/man/man8/wardenfs.8"
gzip -9nc packaging/changelog > "$doc/changelog.gz"
for d in operating interface; do gzip -9nc "docs/$d.md" > "$doc/$d.md.gz"; done
bash scripts/package-copyright.sh "$lib/node_modules" > "$doc/copyright"

# Depends: the host programs the daemon runs (scripts/setup.sh installs the same), Node >= 20
# (Debian 12's nodejs is 18: docs/operating.md says where 20 comes from), and the shared
# libraries of the two addons as dpkg-shlibdeps finds them.
mkdir -p "$work/debian"
printf 'Source: wardenfs\n\nPackage: wardenfs\nArchitecture: any\n' > "$work/debian/control"
shlibs=$(cd "$work" && dpkg-shlibdeps -O --warnings=0 -e"$lib/node_modules/fuse-native/build/Release/fuse.node" -e"$lib/native/rootfs/build/Release/rootfs.node" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
rm -rf "$work/debian"
[ -n "$shlibs" ] || { say "dpkg-shlibdeps found no libraries"; exit 1; }
depends="nodejs (>= 20), $shlibs, fuse, runc, conmon, catatonit, busybox-static, iproute2, nftables, procps"

install -m 0755 packaging/postinst packaging/prerm packaging/postrm "$root/DEBIAN/"
echo /etc/default/wardenfs > "$root/DEBIAN/conffiles"
chmod -R u+rwX,go+rX,go-w "$root"
# Shared objects are not programs (lintian: shared-library-is-executable).
find "$lib" -name '*.node' -exec chmod 0644 {} +
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<EOF
Package: wardenfs
Version: $version
Architecture: $arch
Maintainer: wardenfs maintainers <maintainers@wardenfs.invalid>
Installed-Size: $size
Depends: $depends
Recommends: crun, xz-utils, bzip2, zstd
Section: admin
Priority: optional
Description: container control plane whose API is a filesystem
 wardenfs serves a FUSE tree (by default on /mnt/wardenfs) through which
 containers run with runc or crun are created, run, watched and destroyed
 with plain file reads and writes. The package runs it as the systemd
 service wardenfs.service; containers keep running across restarts and
 upgrades of the daemon.
EOF
(cd "$root" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
touch -d "@$SOURCE_DATE_EPOCH" "$root/DEBIAN/control" "$root/DEBIAN/md5sums" "$root/DEBIAN/conffiles"

deb=$out/wardenfs_${version}_${arch}.deb
say "dpkg-deb --build"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2
echo "$deb"
