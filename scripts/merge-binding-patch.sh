#!/bin/bash
# Merge two branches' versions of patches/fuse-native-2.2.6-wardenfs.patch, as git cannot
# merge a patch as text: each version is applied to a pristine fuse-native 2.2.6, the sources
# are merged with `git merge-file`, and the patch is made again from pristine (a/) to the
# merged sources (b/).
#
#   git show :1:patches/fuse-native-2.2.6-wardenfs.patch > /tmp/base.patch   # during a merge
#   git show :2:patches/fuse-native-2.2.6-wardenfs.patch > /tmp/ours.patch
#   git show :3:patches/fuse-native-2.2.6-wardenfs.patch > /tmp/theirs.patch
#   bash scripts/merge-binding-patch.sh /tmp/base.patch /tmp/ours.patch /tmp/theirs.patch patches/fuse-native-2.2.6-wardenfs.patch
#
# On conflicts it names the files and leaves the work dir: fix WORK/b/FILE, then
# (cd WORK && diff -ru a b > OUT).
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: $0 BASE.patch OURS.patch THEIRS.patch OUT.patch" >&2; exit 2; }
abs() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
base=$(abs "$1"); ours=$(abs "$2"); theirs=$(abs "$3"); out=$(abs "$4")
work=$(mktemp -d)
cd "$work"
npm pack fuse-native@2.2.6 --silent >/dev/null
tar xzf fuse-native-2.2.6.tgz
for v in base ours theirs a; do mkdir "$v"; cp -a package/. "$v"/; done
(cd base && patch -s -p1 < "$base")
(cd ours && patch -s -p1 < "$ours")
(cd theirs && patch -s -p1 < "$theirs")
cp -a ours b
rc=0
for f in binding.gyp fuse-native.c index.js; do
  git merge-file -L ours -L base -L theirs "b/$f" "base/$f" "theirs/$f" || { echo "conflicts in $f" >&2; rc=1; }
done
if [ $rc -ne 0 ]; then echo "work dir: $work" >&2; exit 1; fi
diff -ru a b > "$out" || true
echo "written $out"
