#!/bin/bash
# Why long lab runs pull uncompressed layers slowly on this machine (reports/layout-optimization.md, run 5):
# extracting a real layer right after deleting a previous extraction is 2-3x slower than into a new
# directory with nothing deleted before it.  tmpfs shows no such effect; waiting 60 s after the delete,
# or remounting without online discard, does not remove it.
#
#   benchmarks/extract_after_delete.sh IMAGE [DIR]     e.g. imgopt-fixture/javaweb:latest /var/tmp/xt
#
# Uses the image's largest layer (docker save), uncompressed and gzip-6; prints wall seconds (synced) and the
# share of CPU time stolen by the hypervisor.
set -euo pipefail
IMAGE=${1:?usage: $0 IMAGE [DIR]}
DIR=${2:-/var/tmp/imgopt-extract-after-delete}
mkdir -p "$DIR" && cd "$DIR"
if [ ! -f layer.tar ]; then
  docker save "$IMAGE" -o img.tar && mkdir -p img && tar -xf img.tar -C img
  # shellcheck disable=SC2012
  cp "$(ls -S img/*/layer.tar | head -1)" layer.tar && rm -rf img img.tar
  gzip -6 -k -c layer.tar > layer.tar.gz
fi
echo "$(du -m layer.tar | cut -f1) MB tar, $(tar -tf layer.tar | wc -l) entries; gzip-6 $(du -m layer.tar.gz | cut -f1) MB"
st() { awk '/^cpu /{print $9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
one() {  # one extraction of $1 (plain|gz) into $2, printed with label $3
  local s0 t0 t1 s1
  s0=$(st); t0=$(date +%s.%N)
  if [ "$1" = plain ]; then tar -x -C "$2" -f layer.tar; else gzip -dc layer.tar.gz | tar -x -C "$2"; fi
  sync; t1=$(date +%s.%N); s1=$(st)
  python3 -c "
s0=list(map(int,'$s0'.split())); s1=list(map(int,'$s1'.split()))
print(f'$3 $1: {$t1-$t0:.2f} s, steal {100*(s1[0]-s0[0])/max(1,s1[1]-s0[1]):.1f} %')"
}
for i in 1 2 3; do for kind in plain gz; do
  rm -rf out && sync && mkdir out && one $kind out "previous extraction deleted:"
done; done
rm -rf out && sync
for i in 1 2 3; do for kind in plain gz; do
  mkdir "new.$kind.$i" && one $kind "new.$kind.$i" "new directory, nothing deleted:"
done; done
rm -rf new.* && sync
