#!/bin/bash
# What mdevctl users reach for: --version on both programs, a misspelt subcommand named as such,
# types with its knobs and no meaningless max_instances=0. Needs no Xen.
# Usage: ctl_usage_test.sh XVGPUCTL XVGPU-DM VERSION
set -uo pipefail
ctl=$1
dm=$2
version=$3
tmp=$(mktemp -d /tmp/xvgpu-usage.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export XVGPU_CONFIG_DIR=$tmp/etc XVGPU_RUN_DIR=$tmp/run XVGPU_STATE_DIR=$tmp/state
# shellcheck source=check_lib.sh
source "$(dirname "$0")/check_lib.sh"

check "xvgpuctl --version: exit 0" test "$(rc_of "$ctl" --version)" -eq 0
check "xvgpuctl --version: name and version" test "$(cat "$tmp/out")" = "xvgpuctl $version"
check "xvgpu-dm --version: exit 0" test "$(rc_of "$dm" --version)" -eq 0
check "xvgpu-dm --version: name and version" test "$(cat "$tmp/out")" = "xvgpu-dm $version"
check "unknown subcommand: exit 2" test "$(rc_of "$ctl" frob)" -eq 2
check "unknown subcommand: named" grep -qF "xvgpuctl: unknown subcommand 'frob' (subcommands: types, define, modify" "$tmp/err"
check "unknown subcommand after options: named" \
  bash -c "'$ctl' --json --timeout 3 lsit 2>&1 | grep -qF \"unknown subcommand 'lsit'\""
check "no subcommand: exit 2" test "$(rc_of "$ctl")" -eq 2
check "no subcommand: says a subcommand is required" grep -qF "a subcommand is required" "$tmp/err"
check "types: exit 0" test "$(rc_of "$ctl" types)" -eq 0
check "types: no max_instances=0" bash -c "! grep -q 'max_instances=0' '$tmp/out'"
check "types: the knobs with their values" grep -qE "simgpu-64 .*engine_weight=1\.\.1000\(cr\).*preferred_mode=WIDTHxHEIGHT<=2560x1600\(c\)" "$tmp/out"
check "types --json: knobs, in_use, no static limit as null" python3 -c "
import json, subprocess
t = json.loads(subprocess.run(['$ctl', '--json', 'types'], capture_output=True, check=True).stdout)
ty = {x['name']: x for g in t['gpus'] for x in g['types']}['simgpu-64']
k = {x['name']: x for x in ty['knobs']}
assert k['engine_weight']['values'] == '1..1000' and k['engine_weight']['at_create'], k
assert ty['in_use'] == 0 and ty['available'] > 0 and ty['attributes']['max_instances'] is None, ty"

echo "$fails failure(s)"
exit $((fails != 0))
