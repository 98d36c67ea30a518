#!/usr/bin/env bash
# Sanitizer CI: (1) AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer) build running
# the whole ctest suite except label xen; (2) ThreadSanitizer build running the concurrent tests.
# Separate build dirs, so neither disturbs the normal build.
#
# Usage: scripts/ci-sanitizers.sh [asan|tsan|all|build]   (default all; build: both builds, no tests)
# Env:   JOBS (default 2), CC/CXX (default gcc/g++; clang works too), BUILD_ROOT (default the repo),
#        TSAN_OPTIONS (default: reports to files, checked after the run).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
what=${1:-all}
jobs=${JOBS:-2}
root=${BUILD_ROOT:-$here}
# TSan with Ninja when there is one; ASan with CMake's default generator (Unix Makefiles): CI builds the tree both ways
# once, at no extra build (the plain build in scripts/test.sh is Ninja's).
ninja_gen=()
command -v ninja >/dev/null && ninja_gen=(-G Ninja)
export CC=${CC:-gcc} CXX=${CXX:-g++}

# ThreadSanitizer runs every test of the suites whose code runs threads or processes against
# each other (vCPU threads on the ioreq loop, the xensim host and daemon, the core's worker and
# host accounting, simgpu's engine, fair share and arbiter) plus the load test at a reduced size.
# The gtest suites are listed from the built executables, so new tests are included by themselves.
TSAN_GTESTS=(tests/xensim/xensim_unit_tests tests/xensim/xensim_process_tests tests/ioreq/ioreq_xensim_tests
  tests/gpu/gpu_unit_tests tests/simgpu/simgpu_tests tests/simgpu/simgpu_xensim_tests)
TSAN_EXTRA_TESTS='^load\.xensim_8x2_20k$'

# Sanitizer runtime options: fail the test on the first report, and make sure leaks count.
# scripts/asan-suppressions.txt: a third-party library's own string handling, each with its reason.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:suppressions=$here/scripts/asan-suppressions.txt}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$here/scripts/lsan-suppressions.txt}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# TSan: every report also goes to a file (children too: xensimd, echo servers, xvgpu-dm), and
# any file fails the job even when the test that spawned the process did not notice.
tsan_reports=${TMPDIR:-/tmp}/xvgpu-tsan-reports.$$
export TSAN_OPTIONS=${TSAN_OPTIONS:-second_deadlock_stack=1:log_path=$tsan_reports/report}

configure() {  # dir sanitizers [generator arguments]
  local dir=$1 san=$2
  shift 2
  # -O1 with line tables: sanitizer builds compile about twice as fast as -O2 -g and still run fast.
  env -u CMAKE_GENERATOR cmake -S "$here" -B "$dir" "$@" -DCMAKE_BUILD_TYPE=Sanitize -DCMAKE_CXX_FLAGS_SANITIZE="-O1 -g1" \
    -DCMAKE_C_FLAGS_SANITIZE="-O1 -g1" -DXVGPU_SANITIZE="$san" \
    -DXVGPU_BUILD_BENCH=OFF -DXVGPU_REAL_XEN_TESTS=OFF >/dev/null
}

# LeakSanitizer must really be active (it silently is not under some ptrace-restricted sandboxes):
# a program that leaks, built with the same flags, has to fail. It leaks 64 blocks: a stale copy of a pointer left in
# a dead stack slot can make one block look reachable (one CI run saw a single leaked block pass unreported).
check_lsan() {
  local tmp
  tmp=$(mktemp -d)
  printf '#include <cstdlib>\nint main() {\n  for (int i = 0; i < 64; ++i) {\n    void* volatile p = std::malloc(77);\n    p = nullptr;\n  }\n  return 0;\n}\n' \
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

build_asan() {
  local dir=$root/build-san-asan
  configure "$dir" address,undefined
  # A build dir left by an earlier run with another generator keeps it: say which one builds.
  grep -q '^CMAKE_GENERATOR:INTERNAL=Unix Makefiles$' "$dir/CMakeCache.txt" ||
    echo "ci-sanitizers: note: $dir was configured with another generator than the default" >&2
  cmake --build "$dir" -j"$jobs"
}

run_asan() {
  local dir=$root/build-san-asan start=$SECONDS
  check_lsan
  build_asan
  (cd "$dir" && XVGPU_SKIP_NOVNC=asan ctest -LE '^xen$' -j"$jobs" --output-on-failure --timeout 300)
  echo "ci-sanitizers: asan+ubsan+lsan passed in $((SECONDS - start)) s"
}

# Only what the concurrent tests need: their executables, and the daemon, libraries, echo server and production device
# model the cross-process tests and the load test start.
build_tsan() {
  local dir=$root/build-san-tsan
  configure "$dir" thread "${ninja_gen[@]}"
  local targets=(xensim_unit_tests xensim_process_tests xensim_echo_server xensimd xensim xensim_libs
    ioreq_xensim_tests gpu_unit_tests simgpu_tests simgpu_xensim_tests xvgpu-dm xvgpu-xensim-load)
  cmake --build "$dir" -j"$jobs" --target "${targets[@]}"
}

run_tsan() {
  local dir=$root/build-san-tsan start=$SECONDS
  build_tsan
  local exe suites=()
  for exe in "${TSAN_GTESTS[@]}"; do
    mapfile -t -O "${#suites[@]}" suites < <("$dir/$exe" --gtest_list_tests | sed -n 's/^\([^ #][^ ]*\)\..*$/\1/p')
  done
  local pattern
  pattern="^($(IFS='|'; echo "${suites[*]}"))\\.|$TSAN_EXTRA_TESTS"
  rm -rf "$tsan_reports"
  mkdir -p "$tsan_reports"
  local rc=0
  (cd "$dir" && ctest -R "$pattern" -LE '^xen$' -j"$jobs" --output-on-failure --timeout 300) || rc=$?
  if compgen -G "$tsan_reports/report*" >/dev/null; then
    echo "ci-sanitizers: ThreadSanitizer reports:" >&2
    cat "$tsan_reports"/report* >&2
    rc=1
  fi
  rm -rf "$tsan_reports"
  [[ $rc -eq 0 ]] || { echo "ci-sanitizers: tsan FAILED" >&2; return 1; }
  echo "ci-sanitizers: tsan passed (${#suites[@]} suites + load test, no reports) in $((SECONDS - start)) s"
}

case $what in
  asan) run_asan ;;
  tsan) run_tsan ;;
  all) run_asan; run_tsan ;;
  build) build_asan; build_tsan ;;
  *) echo "usage: $0 [asan|tsan|all|build]" >&2; exit 2 ;;
esac
