# Helpers shared by the initramfs builders (sourced, not run).
# A root tree is assembled in $ROOT with the host's files at their canonical (merged-/usr) paths, then packed as an
# uncompressed newc cpio: under TCG the kernel unpacks plain cpio faster than it gunzips.

# Canonical path of a host file: directories resolved (/lib -> /usr/lib), the file name kept as it is.
canon_path() {
  local d
  d=$(realpath -e "$(dirname "$1")")
  printf '%s/%s\n' "$d" "$(basename "$1")"
}

# add_file SRC [DEST]: copy SRC (following symlinks) into $ROOT at DEST (default: SRC's canonical path).
add_file() {
  local src=$1 dest=${2:-}
  [[ -e "$src" ]] || { echo "rootfs: missing $src" >&2; return 1; }
  [[ -n "$dest" ]] || dest=$(canon_path "$src")
  mkdir -p "$ROOT$(dirname "$dest")"
  cp -L --preserve=mode "$src" "$ROOT$dest"
}

# add_libs BIN...: every shared library ldd finds for the programs.
add_libs() {
  local bin lib
  for bin in "$@"; do
    while read -r lib; do
      [[ -e "$ROOT$(canon_path "$lib")" ]] || add_file "$lib"
    done < <(ldd "$bin" 2>/dev/null | grep -oE '/[^ ]+\.so[^ ]*' | sort -u)
  done
}

# add_exe BIN...: dynamically linked programs at their own paths, with their libraries.
add_exe() {
  local bin
  for bin in "$@"; do
    add_file "$bin"
    add_libs "$bin"
  done
}

# add_tool BIN DEST: a program installed at DEST without its debug information, with its libraries.
add_tool() {
  mkdir -p "$ROOT$(dirname "$2")"
  strip --strip-debug -o "$ROOT$2" "$1"
  chmod 0755 "$ROOT$2"
  add_libs "$1"
}

# add_modules KVER LISTFILE MODULE...: the modules and their dependencies, decompressed, and a load-order list
# (one path per line, dependencies first) written to $ROOT/LISTFILE for init's insmod loop.
add_modules() {
  local kver=$1 list=$2 mod ko dest
  shift 2
  mkdir -p "$ROOT$(dirname "$list")"
  : >"$ROOT$list"
  for mod in "$@"; do
    while read -r ko; do
      dest=/usr/lib/modules/$kver/${ko##*/}
      dest=${dest%.xz}
      dest=${dest%.zst}
      grep -qxF "$dest" "$ROOT$list" && continue
      mkdir -p "$ROOT$(dirname "$dest")"
      case "$ko" in
        *.xz) xz -dc "$ko" >"$ROOT$dest" ;;
        *.zst) zstd -qdc "$ko" >"$ROOT$dest" ;;
        *) cp "$ko" "$ROOT$dest" ;;
      esac
      echo "$dest" >>"$ROOT$list"
    done < <(modprobe -S "$kver" --show-depends "$mod" | awk '$1 == "insmod" { print $2 }')
  done
}

# add_busybox: busybox-static as /bin/busybox with the merged-/usr symlinks; init installs the applet links.
add_busybox() {
  mkdir -p "$ROOT"/usr/bin "$ROOT"/usr/sbin "$ROOT"/usr/lib "$ROOT"/usr/lib64 "$ROOT"/proc "$ROOT"/sys "$ROOT"/dev \
    "$ROOT"/run "$ROOT"/tmp "$ROOT"/var "$ROOT"/etc
  ln -sfn usr/bin "$ROOT"/bin
  ln -sfn usr/sbin "$ROOT"/sbin
  ln -sfn usr/lib "$ROOT"/lib
  ln -sfn usr/lib64 "$ROOT"/lib64
  cp /bin/busybox "$ROOT"/usr/bin/busybox
}

# pack_cpio OUT: newc archive of $ROOT, written atomically.
pack_cpio() {
  local out=$1
  (cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) >"$out.tmp"
  mv -f "$out.tmp" "$out"
}
