#!/bin/bash
# xvgpuctl define refuses, when the definition is written, every field its start would refuse:
# exit 2 (3 for an unknown type), one message naming the field, nothing stored. Needs no Xen.
# Usage: define_validation_test.sh XVGPUCTL
set -uo pipefail
ctl=$1
tmp=$(mktemp -d /tmp/xvgpu-define.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export XVGPU_CONFIG_DIR=$tmp/etc XVGPU_RUN_DIR=$tmp/run XVGPU_STATE_DIR=$tmp/state
# shellcheck source=check_lib.sh
source "$(dirname "$0")/check_lib.sh"
U1=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f
nothing_stored() { [[ -z $(ls -A "$XVGPU_CONFIG_DIR" 2>/dev/null) ]]; }
refused() {  # refused NAME EXIT TEXT ARGS...
  local name=$1 code=$2 text=$3
  shift 3
  "$ctl" define --uuid "$U1" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  check "$name: exit $code" test "$rc" -eq "$code"
  check "$name: message names it" grep -qF -- "$text" "$tmp/err"
  check "$name: nothing stored" nothing_stored
}
refused "negative domain" 2 "'-3' is not a guest domain ID" --type simgpu-64 --domain -3
refused "domain 0" 2 "not a guest domain ID" --type simgpu-64 --domain 0
refused "bdf off bus 0" 2 "bdf 01:05.0: a vGPU must be on bus 00" --type simgpu-64 --bdf 01:05.0
refused "mode beyond the type" 2 "'9999x9999' is not a mode WIDTHxHEIGHT within 2560x1600" \
  --type simgpu-64 --knob preferred_mode=9999x9999
refused "mode not a mode" 2 "is not a mode" --type simgpu-64 --knob preferred_mode=wide
refused "knob out of range" 2 "engine_weight" --type simgpu-64 --knob engine_weight=0
refused "unknown type" 3 "unknown type 'nosuch'" --type nosuch

check "a valid definition is stored" "$ctl" define --uuid "$U1" --type simgpu-64 --bdf 00:07.0 \
  --knob preferred_mode=2560x1600 --vm guest1 >/dev/null
check "... with what was given" python3 -c "
import json; d=json.load(open('$XVGPU_CONFIG_DIR/$U1.json'))
assert d['bdf']=='00:07.0' and d['knobs']['preferred_mode']=='2560x1600' and d['vm']['name']=='guest1', d"

echo "$fails failure(s)"
exit $((fails != 0))
