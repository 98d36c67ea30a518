#!/usr/bin/env bash
# Sanitizer CI: (1) AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer) build running
# the whole ctest suite except label xen; (2) ThreadSanitizer build running the concurrent tests.
# Separate build dirs, so neither disturbs the normal build.
#
# Usage: scripts/ci-sanitizers.sh [asan|tsan|all]   (default all)
# Env:   JOBS (default 2), CC/CXX (default gcc/g++; clang works too), BUILD_ROOT (default the repo),
#        TSAN_TESTS (ctest -R pattern of the concurrent tests, default below).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
what=${1:-all}
jobs=${JOBS:-2}
root=${BUILD_ROOT:-$here}
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
export CC=${CC:-gcc} CXX=${CXX:-g++}

# Tests that run several threads or processes against each other: vCPU threads on the ioreq
# loop, the xensim host, the core's worker and host accounting, simgpu's engine and arbiter.
TSAN_TESTS=${TSAN_TESTS:-'Concurren|Vcpus|Thread|Worker|Engine|Arbiter|FairShare|HostAccounting|FrontendOnXensim|CrossProcess|Xensim.*Block|Lifecycle'}

# Sanitizer runtime options: fail the test on the first report, and make sure leaks count.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

configure() {  # dir sanitizers
  # -O1 with line tables: sanitizer builds compile about twice as fast as -O2 -g and still run fast.
  cmake -S "$here" -B "$1" "${gen[@]}" -DCMAKE_BUILD_TYPE=Sanitize -DCMAKE_CXX_FLAGS_SANITIZE="-O1 -g1" \
    -DCMAKE_C_FLAGS_SANITIZE="-O1 -g1" -DXVGPU_SANITIZE="$2" \
    -DXVGPU_BUILD_BENCH=OFF -DXVGPU_REAL_XEN_TESTS=OFF >/dev/null
}

# LeakSanitizer must really be active (it silently is not under some ptrace-restricted sandboxes):
# a program that leaks, built with the same flags, has to fail.
check_lsan() {
  local tmp
  tmp=$(mktemp -d)
  printf '#include <cstdlib>\nint main() { void* volatile p = std::malloc(77); p = nullptr; return 0; }\n' \
    >"$tmp/leak.cc"
  "$CXX" -fsanitize=address,undefined -g "$tmp/leak.cc" -o "$tmp/leak"
  if "$tmp/leak" 2>"$tmp/err"; then
    echo "ci-sanitizers: LeakSanitizer is NOT active here (a leaking program passed)" >&2
    rm -rf "$tmp"
    return 1
  fi
  grep -q LeakSanitizer "$tmp/err" || { cat "$tmp/err" >&2; rm -rf "$tmp"; return 1; }
  rm -rf "$tmp"
  echo "ci-sanitizers: LeakSanitizer active"
}

run_asan() {
  local dir=$root/build-san-asan start=$SECONDS
  check_lsan
  configure "$dir" address,undefined
  cmake --build "$dir" -j"$jobs"
  (cd "$dir" && ctest -LE '^xen$' -j"$jobs" --output-on-failure --timeout 300)
  echo "ci-sanitizers: asan+ubsan+lsan passed in $((SECONDS - start)) s"
}

run_tsan() {
  local dir=$root/build-san-tsan start=$SECONDS
  configure "$dir" thread
  # Only what the concurrent tests need (and the echo server the cross-process test starts).
  local targets=(xensim_unit_tests xensim_process_tests xensim_echo_server gpu_unit_tests simgpu_tests)
  local avail
  avail=$(cmake --build "$dir" --target help 2>/dev/null || true)
  local t build=()
  for t in "${targets[@]}" ioreq_xensim_tests ioreq_unit_tests simgpu_xensim_tests; do
    grep -qE "(^|[ /])$t(:| )" <<<"$avail" && build+=("$t")
  done
  cmake --build "$dir" -j"$jobs" --target "${build[@]}"
  # ctest lists every registered test; those whose executable we did not build would fail, so the
  # pattern and the built set must agree: -R picks the concurrent ones among the built suites.
  (cd "$dir" && ctest -R "$TSAN_TESTS" -LE '^xen$' -j"$jobs" --output-on-failure --timeout 300)
  echo "ci-sanitizers: tsan passed in $((SECONDS - start)) s"
}

case $what in
  asan) run_asan ;;
  tsan) run_tsan ;;
  all) run_asan; run_tsan ;;
  *) echo "usage: $0 [asan|tsan|all]" >&2; exit 2 ;;
esac
