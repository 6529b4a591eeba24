#!/usr/bin/env bash
# services/varnish.sh ensure|path: the edge of the tests and of
# bench-read.sh (docker/varnish/tagstream.vcl). Not a shared server: each
# test and benchmark starts its own varnishd on loopback with its own
# site.vcl. `ensure` installs Debian's varnish and varnish-modules (vmod
# xkey) when varnishd or the vmod is missing (as root, through apt-get;
# otherwise it says what to install and fails); `path` prints varnishd.
# TAGSTREAM_VARNISHD overrides the binary.
set -euo pipefail
SERVICE=varnish
# shellcheck source=services/lib.sh
source "$(dirname "$0")/lib.sh"

find_varnishd() {
  local c
  for c in "${TAGSTREAM_VARNISHD:-}" varnishd /usr/sbin/varnishd; do
    [[ -n $c ]] && command -v "$c" 2>/dev/null && return 0
  done
  return 1
}

# has_xkey: this varnishd compiles a VCL that imports xkey (wherever its
# vmod_path is).
has_xkey() {
  local vcl
  vcl=$(mktemp --suffix=.vcl)
  printf 'vcl 4.1;\nimport xkey;\nbackend default none;\n' >"$vcl"
  chmod 644 "$vcl" # varnishd compiles as its own user when run as root
  "$1" -C -f "$vcl" >/dev/null 2>&1
  local rc=$?
  rm -f "$vcl"
  return $rc
}

case ${1:-} in
ensure)
  if p=$(find_varnishd) && has_xkey "$p"; then say "found $p with vmod xkey"; exit 0; fi
  if [[ $(id -u) != 0 ]]; then
    die "missing: varnish 7 with vmod xkey - Debian: sudo apt-get install varnish varnish-modules (or set TAGSTREAM_VARNISHD)"
  fi
  say "installing Debian's varnish and varnish-modules (once; about 10 MB)"
  export DEBIAN_FRONTEND=noninteractive
  pkgs=(varnish varnish-modules)
  # The package lists may be stale or absent on a fresh machine: refresh
  # them only when the first attempt cannot find the packages.
  apt-get install -y --no-install-recommends "${pkgs[@]}" >>"$LOG_DIR/$SERVICE.log" 2>&1 ||
    { apt-get update >>"$LOG_DIR/$SERVICE.log" 2>&1 &&
      apt-get install -y --no-install-recommends "${pkgs[@]}" >>"$LOG_DIR/$SERVICE.log" 2>&1; } ||
    die "apt-get install varnish varnish-modules failed (log: $LOG_DIR/$SERVICE.log)"
  # Debian's package starts a system varnishd on :6081 where systemd
  # runs; the tests start their own, so a system one is only in the way.
  p=$(find_varnishd) || die "varnish installed but varnishd not found"
  has_xkey "$p" || die "varnish installed but vmod xkey not found"
  say "installed $p" ;;
path)
  find_varnishd || die "no varnishd: run services/varnish.sh ensure" ;;
*)
  echo "usage: $0 ensure|path" >&2; exit 2 ;;
esac
