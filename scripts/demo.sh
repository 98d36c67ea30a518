#!/usr/bin/env bash
# The README's main job: a guest drives a simgpu vGPU on a simulated Xen host (xensim).
#   1. installs what is missing (scripts/install-deps.sh) and builds what the demo needs;
#   2. starts xensimd, creates a paused domain;
#   3. starts the production xvgpu-dm for it through `xvgpuctl start` (LD_LIBRARY_PATH points the
#      unmodified binary at xensim's libraries) and waits until it is ready; unpauses the domain;
#   4. runs the guest workload (PCI enumeration, MSI, DISPI mode set, drawing into VRAM, engine
#      jobs with MSIs), saves a screenshot PNG, prints statistics and timings; stops everything.
# Usage: scripts/demo.sh [--no-build]   (--no-build: use what XVGPU_BUILD_DIR holds; for ctest)
# Environment: XVGPU_BUILD_DIR (default build), DEMO_OUT (default demo-out), DEMO_SPRITES (48).
set -euo pipefail
no_build=0
[[ "${1:-}" == "--no-build" ]] && no_build=1
cd "$(dirname "$0")/.."
root=$PWD
t0=$(date +%s.%N)
elapsed() { python3 -c "import time,sys; print('%.3f' % (time.time() - float(sys.argv[1])))" "$1" 2>/dev/null || echo "?"; }
say() { printf '[%7ss] %s\n' "$(elapsed "$t0")" "$*"; }

if ((!no_build)); then
  say "demo: installing missing packages (scripts/install-deps.sh)"
  scripts/install-deps.sh
fi

build=${XVGPU_BUILD_DIR:-build}
out=${DEMO_OUT:-$root/demo-out}
mkdir -p "$out"
if ((!no_build)); then
  say "demo: building xvgpu-dm, xvgpuctl, xensimd and the guest workload in $build/"
  tb=$(date +%s.%N)
  if [[ ! -f "$build/build.ninja" && ! -f "$build/Makefile" ]]; then
    cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  fi
  cmake --build "$build" -j"$(nproc)" --target xvgpu-dm xvgpuctl xensimd xensim xensim_libs xvgpu-demo-workload \
    >"$out/build.log" 2>&1 || { tail -30 "$out/build.log"; echo "demo: build failed (log: $out/build.log)" >&2; exit 1; }
  say "demo: build done in $(elapsed "$tb") s"
fi

[[ "$build" == /* ]] || build=$root/$build
dm=$build/src/dm/xvgpu-dm
ctl=$build/src/ctl/xvgpuctl
xensim=$build/src/xensim/xensim
workload=$build/src/demo/xvgpu-demo-workload
libdir=$build/xensim-lib

run=$(mktemp -d /tmp/xvgpu-demo.XXXXXX)
export XENSIM_SOCKET=$run/xensim.sock
export XVGPU_RUN_DIR=$run/run XVGPU_CONFIG_DIR=$run/etc XVGPU_STATE_DIR=$run/state XVGPU_DM=$dm
domid=""
cleanup() {
  local rc=$?
  set +e
  [[ -n "$domid" ]] && "$ctl" stop --domain "$domid" >/dev/null 2>&1
  "$xensim" stop >/dev/null 2>&1
  rm -rf "$run"
  exit $rc
}
trap cleanup EXIT

say "demo: starting the simulated Xen host (xensimd, socket $XENSIM_SOCKET)"
"$xensim" start >/dev/null
domid=$("$xensim" create --vcpus 2 --ram 128)
say "demo: created domain $domid (2 vCPUs, 128 MiB, paused as by 'xl create -p')"

uuid=$(cat /proc/sys/kernel/random/uuid)
"$ctl" define --uuid "$uuid" --type simgpu-64 --domain "$domid" --knob engine_weight=200 >/dev/null
say "demo: defined vGPU $uuid (simgpu-64) for domain $domid; the host offers:"
"$ctl" types | sed 's/^/    /'
ts=$(date +%s.%N)
LD_LIBRARY_PATH=$libdir "$ctl" start --domain "$domid" | sed 's/^/    /'
say "demo: xvgpu-dm ready in $(elapsed "$ts") s (the production binary, with $(LD_LIBRARY_PATH=$libdir ldd "$dm" | grep -c "$libdir") Xen libraries resolved to xensim's in $libdir)"
"$ctl" status | sed 's/^/    /'
"$xensim" unpause "$domid"
say "demo: domain $domid unpaused; running the guest workload"

tw=$(date +%s.%N)
"$workload" --domain "$domid" --sprites "${DEMO_SPRITES:-48}" | sed 's/^/    /'
say "demo: guest workload done in $(elapsed "$tw") s"

"$ctl" screenshot "$uuid" "$out/screenshot.png" | sed 's/^/    /'
say "demo: screenshot saved to $out/screenshot.png"
say "demo: statistics of vGPU $uuid"
"$ctl" stats "$uuid" | sed 's/^/    /'
"$ctl" get "$uuid" | sed 's/^/    /'
ts=$(date +%s.%N)
"$ctl" stop --domain "$domid"
say "demo: device model stopped in $(elapsed "$ts") s"
domid=""
say "demo: done (total $(elapsed "$t0") s); screenshot: $out/screenshot.png"
