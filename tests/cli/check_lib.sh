# Sourced by the shell tests (needs $tmp, a private temporary directory): check NAME COMMAND...,
# which prints ok/FAIL and counts failures in $fails; rc_of COMMAND..., which runs it with its
# output in $tmp/out and $tmp/err and prints its exit status; err_has TEXT, whether $tmp/err
# holds TEXT.
fails=0
check() {
  local name=$1
  shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}
rc_of() { "$@" >"$tmp/out" 2>"$tmp/err"; echo $?; }
err_has() { grep -qF -- "$1" "$tmp/err"; }
