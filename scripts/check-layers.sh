#!/usr/bin/env bash
# The layer rule of docs/architecture.md: the vGPU core (src/gpu) and the vendors (src/vendor)
# never include a Xen header, nor a header of the layers above them (src/ioreq, src/dm, src/control,
# src/ctl, src/xensim). Prints each offending include as file:line and exits 1.
#
# Usage: check-layers.sh [SOURCE_ROOT]   (default: the repository this script is in)
set -euo pipefail

root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
layers=(src/gpu src/vendor)

for dir in "${layers[@]}"; do
  if [[ ! -d "$root/$dir" ]]; then
    echo "check-layers: $root/$dir: no such directory" >&2
    exit 2
  fi
done

cd "$root"
# Every #include, as file:line:path (the path between the quotes or angle brackets).
# shellcheck disable=SC2016  # $0 and the like are awk's, not the shell's
includes=$(find "${layers[@]}" -type f \( -name '*.h' -o -name '*.hpp' -o -name '*.c' -o -name '*.cc' \
  -o -name '*.cpp' \) -print0 | sort -z |
  xargs -0 awk 'match($0, /^[ \t]*#[ \t]*include[ \t]*[<"][^>"]+[>"]/) {
      s = substr($0, RSTART, RLENGTH); sub(/^[^<"]*[<"]/, "", s); sub(/[>"]$/, "", s)
      print FILENAME ":" FNR ":" s }')

bad=0
while IFS=: read -r file line path; do
  [[ -n "$file" ]] || continue
  why=""
  case "$path" in
    xen/* | xen.h | xen[a-z_]*.h | xs.h | */xen/*) why="a Xen header" ;;
  esac
  if [[ -z "$why" && "$path" =~ (^|/)(ioreq|dm|ctl|control|xensim)/ ]]; then
    why="a header of src/${BASH_REMATCH[2]}, a layer above"
  fi
  if [[ -n "$why" ]]; then
    echo "$file:$line: includes $path: $why"
    bad=1
  fi
done <<<"$includes"

if ((bad)); then
  echo "check-layers: ${layers[*]} must not include Xen headers or src/{ioreq,dm,ctl,xensim} (docs/architecture.md)" >&2
  exit 1
fi
echo "check-layers: ${layers[*]}: no wrong-way include"
