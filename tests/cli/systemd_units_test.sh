#!/bin/bash
# Every systemd unit `cmake --install` installs passes `systemd-analyze verify` (no unit Debian's Xen lacks, the
# programs and man pages it names exist) and names the programs of that installation's prefix. Exit 77 without
# systemd-analyze.
# Usage: systemd_units_test.sh CMAKE BUILD_DIR
set -uo pipefail
cmake=$1
build=$2
command -v systemd-analyze >/dev/null || { echo "SKIP: no systemd-analyze (package systemd)"; exit 77; }
tmp=$(mktemp -d /tmp/xvgpu-units.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=check_lib.sh
source "$(dirname "$0")/check_lib.sh"
prefix=$tmp/usr
if ! "$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1; then
  cat "$tmp/install.log"
  echo "FAIL cmake --install"
  exit 1
fi
unit_dir=$prefix/lib/systemd/system
mapfile -t units < <(find "$unit_dir" -maxdepth 1 -type f 2>/dev/null | sort)
check "units installed in $unit_dir" test "${#units[@]}" -gt 0
# The man pages the units name are the installed ones (man reads MANPATH).
man_arg=()
command -v man >/dev/null || { man_arg=(--man=no); echo "note: no man command: Documentation= not checked"; }
for unit in "${units[@]}"; do
  name=$(basename "$unit")
  MANPATH=$prefix/share/man systemd-analyze verify "${man_arg[@]}" "$unit" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  check "$name: systemd-analyze verify (rc $rc)" test "$rc" -eq 0
  check "$name: verify says nothing" test ! -s "$tmp/err"
  cat "$tmp/err"
  if grep -q '^Exec' "$unit"; then
    # Each program an Exec line runs is this installation's.
    while read -r path; do
      check "$name: runs $path of the prefix" test "${path#"$prefix"/}" != "$path"
    done < <(sed -n 's/^Exec[A-Za-z]*=[-@!+:]*\([^ ]*\).*/\1/p' "$unit")
  fi
done
check "xvgpu-dm@.service: keyed by the VM" grep -q -- '--vm %i' "$unit_dir/xvgpu-dm@.service"
check "xvgpu-dm@.service: finds the prefix's xvgpu-dm" grep -qF "XVGPU_DM=$prefix/sbin/xvgpu-dm" \
  "$unit_dir/xvgpu-dm@.service"
exit $((fails > 0))
