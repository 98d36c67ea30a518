#!/usr/bin/env bash
# scripts/check-layers.sh on a copy of src/gpu and src/vendor: clean, it passes; with one
# wrong-way include planted, it fails and names that file and line.
set -euo pipefail

repo=$1
check="$repo/scripts/check-layers.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fresh_copy() {
  rm -rf "$work/src"
  mkdir -p "$work/src"
  cp -r "$repo/src/gpu" "$repo/src/vendor" "$work/src/"
}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

fresh_copy
"$check" "$work" >/dev/null || fail "the unchanged tree is refused"

# A commented-out include is no include.
fresh_copy
echo '// #include <xenctrl.h>' >>"$work/src/gpu/worker.cc"
"$check" "$work" >/dev/null || fail "a comment mentioning xenctrl.h is refused"

plant() {  # plant FILE INCLUDE_LINE
  local file=$1 text=$2 out rc line
  fresh_copy
  echo "$text" >>"$work/$file"
  line=$(wc -l <"$work/$file")
  rc=0
  out=$("$check" "$work" 2>&1) || rc=$?
  [[ $rc -eq 1 ]] || fail "'$text' in $file: exit $rc, want 1"
  grep -qF "$file:$line: " <<<"$out" || fail "'$text' in $file: output does not name $file:$line: $out"
  echo "ok: '$text' in $file refused at $file:$line"
}

plant src/gpu/worker.cc '#include <xenctrl.h>'
plant src/gpu/vgpu.h '#include <xendevicemodel.h>'
plant src/gpu/vgpu.cc '#include <xenforeignmemory.h>'
plant src/gpu/vgpu.cc '#include <xenstore.h>'
plant src/gpu/vgpu.cc '#include <xen/hvm/ioreq.h>'
plant src/gpu/device_bus.cc '#include "ioreq/frontend.h"'
plant src/gpu/device_bus.cc '  #  include "../dm/control_protocol.h"'
plant src/vendor/simgpu/descriptor_check.h '#include "xensim/host.h"'
plant src/vendor/simgpu/descriptor_check.h '#include <xenevtchn.h>'
echo "check-layers refuses every planted wrong-way include"
