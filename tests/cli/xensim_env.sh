# Sourced by the shell tests that run xvgpu-dm and xvgpuctl on xensimd (needs $build and
# $xensim): a private temporary directory $tmp for xensim's socket and xvgpu's run, config and
# state directories, removed at exit after every device model (stopped ones continued first)
# and xensimd are stopped; and check_lib.sh's check, rc_of and err_has.
# Usage: source "$(dirname "$0")/xensim_env.sh" TMP-PREFIX
tmp=$(mktemp -d "/tmp/$1.XXXXXX")
export XENSIM_SOCKET=$tmp/xensim.sock XVGPU_RUN_DIR=$tmp/run XVGPU_CONFIG_DIR=$tmp/etc XVGPU_STATE_DIR=$tmp/state
export XVGPU_DM=$build/src/dm/xvgpu-dm LD_LIBRARY_PATH=$build/xensim-lib
cleanup() {
  for p in "$XVGPU_RUN_DIR"/*.pid; do [[ -f "$p" ]] && kill -CONT "$(cat "$p")" 2>/dev/null && kill "$(cat "$p")" 2>/dev/null; done
  "$xensim" stop >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT
# shellcheck source=check_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/check_lib.sh"
