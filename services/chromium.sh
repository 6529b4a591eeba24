#!/usr/bin/env bash
# services/chromium.sh ensure|path: the browser of the page's end-to-end
# test (package page/browser). Not a server: the test starts and stops its
# own headless Chromium. `ensure` installs Debian's chromium when no
# Chromium is on the PATH (as root, through apt-get; otherwise it says what
# to install and fails); `path` prints the binary the test should run.
# TAGSTREAM_CHROMIUM overrides the binary.
set -euo pipefail
SERVICE=chromium
# shellcheck source=services/lib.sh
source "$(dirname "$0")/lib.sh"

find_chromium() {
  local c
  for c in "${TAGSTREAM_CHROMIUM:-}" chromium chromium-browser google-chrome; do
    [[ -n $c ]] && command -v "$c" 2>/dev/null && return 0
  done
  return 1
}

case ${1:-} in
ensure)
  if p=$(find_chromium); then say "found $p"; exit 0; fi
  if [[ $(id -u) != 0 ]]; then
    die "missing: chromium - Debian: sudo apt-get install chromium (or set TAGSTREAM_CHROMIUM to a Chromium binary)"
  fi
  say "installing Debian's chromium (once; about 100 MB)"
  export DEBIAN_FRONTEND=noninteractive
  # The package lists may be stale or absent on a fresh machine: refresh
  # them only when the first attempt cannot find the package.
  apt-get install -y --no-install-recommends chromium fonts-dejavu-core >>"$LOG_DIR/$SERVICE.log" 2>&1 ||
    { apt-get update >>"$LOG_DIR/$SERVICE.log" 2>&1 &&
      apt-get install -y --no-install-recommends chromium fonts-dejavu-core >>"$LOG_DIR/$SERVICE.log" 2>&1; } ||
    die "apt-get install chromium failed"
  p=$(find_chromium) || die "chromium installed but not on the PATH"
  say "installed $p" ;;
path)
  find_chromium || die "no chromium: run services/chromium.sh ensure" ;;
*)
  echo "usage: $0 ensure|path" >&2; exit 2 ;;
esac
