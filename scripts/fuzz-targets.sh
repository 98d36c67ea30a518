#!/usr/bin/env bash
# Lists the libFuzzer targets, one a line: the names fuzz/CMakeLists.txt builds as <name>_fuzzer.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
sed -n '/^set(XVGPU_FUZZERS/,/)/p' "$here/fuzz/CMakeLists.txt" | grep -o '"[a-z0-9_]*:' | tr -d '":'
