#!/bin/sh
# Build NCCL's graph search without a GPU: harness.cc + stubs.cc against one release's own src/graph.
# usage: build.sh NCCL_CHECKOUT OUT_DIR [CUDA_INCLUDE]   (NCCL_CHECKOUT: NVIDIA/nccl at a tag, v2.25.1-1 to v2.28.3-1
# built; v2.30 moved its logging and OS layers and needs more stubs)
# then:  OUT_DIR/harness TOPOLOGY.xml HOSTS             (topology.py writes the GB200 files)
set -eu
nccl=$1; out=$2; cuda=${3:-/usr/local/cuda/include}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out/gen"
ver() { sed -n "s/^NCCL_$1 *:= *//p" "$nccl/makefiles/version.mk"; }
NCCL_MAJOR=$(ver MAJOR); NCCL_MINOR=$(ver MINOR); NCCL_PATCH=$(ver PATCH)
code=$((NCCL_MAJOR * 10000 + NCCL_MINOR * 100 + NCCL_PATCH))
sed -e "s/\${nccl:Major}/$NCCL_MAJOR/; s/\${nccl:Minor}/$NCCL_MINOR/; s/\${nccl:Patch}/$NCCL_PATCH/" \
    -e "s/\${nccl:Suffix}//; s/\${nccl:Version}/$code/" "$nccl/src/nccl.h.in" > "$out/gen/nccl.h"
# Newer CUDA headers drop the unversioned PFN_cu* typedefs older NCCL declares its driver entry points with.
{
  echo '#include <cuda.h>'
  echo '#include <cudaTypedefs.h>'
  grep -oh 'DECLARE_CUDA_PFN_EXTERN(cu[A-Za-z0-9_]*' "$nccl/src/include/cudawrap.h" | sed 's/.*(//' | sort -u |
  while read -r sym; do
    v=$(grep -o "PFN_${sym}_v[0-9]*\b" "$cuda/cudaTypedefs.h" | sed 's/.*_v//' | sort -n | tail -1 || true)
    if [ -n "$v" ]; then printf '#ifndef PFN_%s\n#define PFN_%s PFN_%s_v%s\n#endif\n' "$sym" "$sym" "$sym" "$v"; fi
  done
} > "$out/gen/pfn.h"
flags="-std=c++17 -O1 -w -include $out/gen/pfn.h -I$out/gen -I$nccl/src/include -I$nccl/src/include/plugin"
flags="$flags -I$nccl/src/graph -I$cuda -I$cuda/cccl"
for f in graph/search graph/paths graph/topo graph/xml misc/param misc/utils; do
  g++ $flags -c "$nccl/src/$f.cc" -o "$out/$(basename $f).o"
done
g++ $flags -c "$here/harness.cc" -o "$out/harness.o"
g++ $flags -c "$here/stubs.cc" -o "$out/stubs.o"
g++ "$out"/*.o -o "$out/harness" -lpthread
