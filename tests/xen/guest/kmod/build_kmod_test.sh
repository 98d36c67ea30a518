#!/bin/bash
# build-kmod.sh as CMake's Makefile generator runs it: from a recipe of a parallel make that is not marked recursive
# (make hands down its jobserver in MAKEFLAGS without the descriptors), with make's own warnings in the Kbuild output,
# one of them on the line of another tool's message. The module builds; a compiler warning in the module still fails
# the build. Exit 77 without kernel headers for the guest kernel (build-kmod.sh says which).
# Usage: build_kmod_test.sh BUILD-KMOD.SH WORK_DIR
set -uo pipefail
script=$1
tmp=$2
rm -rf "$tmp"
mkdir -p "$tmp/bin"
# shellcheck source=../../../cli/check_lib.sh
source "$(dirname "$0")/../../../cli/check_lib.sh"

# A make that adds make's own warnings to what the real one prints, as a sub-make does on a clock skew.
real_make=$(command -v make) || { echo "SKIP: no make"; exit 77; }
cat >"$tmp/bin/make" <<EOF
#!/bin/bash
"$real_make" "\$@"
rc=\$?
printf 'Skipping a step for lack of a file' >&2
echo 'make[2]: warning:  Clock skew detected.  Your build may be incomplete.' >&2
echo 'make[1]: warning: jobserver unavailable: using -j1.  Add '"'"'+'"'"' to parent make rule.' >&2
exit \$rc
EOF
chmod +x "$tmp/bin/make"

build_under_make() {  # SCRIPT OUT: runs SCRIPT OUT OUT/work from a parallel make's recipe without '+'
  printf 'all:\n\t%s %s %s/work\n' "$1" "$2" "$2" >"$2.mk"
  PATH=$tmp/bin:$PATH "$real_make" -j2 -f "$2.mk" >"$tmp/out" 2>"$tmp/err"
}

build_under_make "$script" "$tmp/clean"
rc=$?
if grep -q '^SKIP:' "$tmp/out"; then
  cat "$tmp/out"
  exit 77
fi
check "clean module builds under make -j2 (rc $rc)" test "$rc" -eq 0
check "clean module: xt_engine.ko" test -s "$tmp/clean/xt_engine.ko"
[[ $rc -eq 0 ]] || cat "$tmp/out" "$tmp/err"

# The same sources with a compiler warning: the build fails and says why.
mkdir -p "$tmp/src-warn"
cp "$script" "$(dirname "$script")/Kbuild" "$(dirname "$script")/xt_engine.c" "$tmp/src-warn/"
echo 'static int xt_engine_unused_probe;' >>"$tmp/src-warn/xt_engine.c"
build_under_make "$tmp/src-warn/$(basename "$script")" "$tmp/warn"
rc=$?
check "module with a warning fails (rc $rc)" test "$rc" -ne 0
check "module with a warning: says so" grep -qF 'xt_engine.ko has compiler warnings' "$tmp/err"
check "module with a warning: names it" grep -qF 'xt_engine_unused_probe' "$tmp/err"
check "module with a warning: no xt_engine.ko" test ! -e "$tmp/warn/xt_engine.ko"

[[ $fails -eq 0 ]] && rm -rf "$tmp"
exit $((fails > 0))
