#!/usr/bin/env bash
# The README's test command: installs what is missing, builds xvgpu and runs every test.
#   scripts/test.sh            everything (unit, xensim, real Xen under QEMU)
#   XVGPU_SKIP_XEN=1 scripts/test.sh   without the real-Xen tests (label xen)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${XVGPU_SKIP_XEN:-}" ]]; then scripts/install-deps.sh --xen-lab; else scripts/install-deps.sh; fi
build=${XVGPU_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)"
ctest_args=(--test-dir "$build" --output-on-failure -j"$(nproc)" --timeout 600)
[[ -z "${XVGPU_SKIP_XEN:-}" ]] || ctest_args+=(-LE '^xen$')
ctest "${ctest_args[@]}"
