#!/usr/bin/env bash
# The README's test command: installs what is missing, builds xvgpu and runs every test.
#   scripts/test.sh            everything (unit, xensim, real Xen under QEMU)
#   XVGPU_SKIP_XEN=1 scripts/test.sh   without the real-Xen tests (label xen)
#   XVGPU_DEBUG_INFO=lines scripts/test.sh   line tables only (-g1, as CI): same code, a quarter less compile time
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${XVGPU_SKIP_XEN:-}" ]]; then scripts/install-deps.sh --xen-lab; else scripts/install-deps.sh; fi
build=${XVGPU_BUILD_DIR:-build}
cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
if [[ "${XVGPU_DEBUG_INFO:-}" == lines ]]; then
  # -g1 leaves the generated code as -g does (GCC); backtraces and sanitizer-style reports keep file and line.
  cmake_args+=(-DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG")
fi
cmake -S . -B "$build" -G Ninja "${cmake_args[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)"
ctest_args=(--test-dir "$build" --output-on-failure -j"$(nproc)" --timeout 600)
[[ -z "${XVGPU_SKIP_XEN:-}" ]] || ctest_args+=(-LE '^xen$')
ctest "${ctest_args[@]}"
