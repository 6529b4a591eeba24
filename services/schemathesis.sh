#!/usr/bin/env bash
# services/schemathesis.sh ensure|path: the API's contract test runner
# (schemathesis, from PyPI). Not a server: the test runs `schemathesis run`
# against an API it starts itself. `ensure` makes a virtual environment in
# $SERVICES_DIR/schemathesis-venv with the pinned versions below (again
# when the pins change or a past install broke off) and checks that
# `schemathesis --version` says the pinned one; when it is already there it
# only checks, in well under a second. `path` prints the schemathesis
# executable. TAGSTREAM_SCHEMATHESIS overrides the binary.
set -euo pipefail
SERVICE=schemathesis
# shellcheck source=services/lib.sh
source "$(dirname "$0")/lib.sh"

# 4.32.5: the newest 4.x on PyPI when pinned (it needs Python >= 3.11).
# Every package is pinned exactly (schemathesis-requirements.txt, a pip
# freeze), Hypothesis, its data generator, first among them, because a
# seeded run sends the same requests only with the same versions: a new
# release of any of them may change what one seed generates. Change them
# together, and only on purpose.
SCHEMATHESIS_VERSION=4.32.5
REQUIREMENTS=$(cd "$(dirname "$0")" && pwd)/schemathesis-requirements.txt
PINS=(--no-deps -r "$REQUIREMENTS")

VENV=$(cd "$SERVICES_DIR" && pwd)/schemathesis-venv
ST=$VENV/bin/schemathesis
STAMP=$VENV/tagstream-pins # the requirements this venv was made with (their hash), written last

# fail: die without the install log's tail, which has nothing to say here.
fail() { say "$*"; exit 1; }

# override: the absolute path of TAGSTREAM_SCHEMATHESIS (fails if none).
override() {
  local p
  p=$(command -v "$TAGSTREAM_SCHEMATHESIS" 2>/dev/null) || fail "TAGSTREAM_SCHEMATHESIS=$TAGSTREAM_SCHEMATHESIS: not an executable"
  [[ $p == /* ]] || p=$PWD/$p
  echo "$p"
}

# installed: the venv is complete and made with today's pins (no Python
# started: cheap enough for `path`).
installed() { [[ -x $ST && $(cat "$STAMP" 2>/dev/null) == "$(pin_hash)" ]]; }

pin_hash() { sha256sum "$REQUIREMENTS" | cut -d' ' -f1; }

# version_ok <binary>: it runs and says the pinned version.
version_ok() { [[ $("$1" --version 2>/dev/null) == *"version $SCHEMATHESIS_VERSION" ]]; }

case ${1:-} in
ensure)
  if [[ -n ${TAGSTREAM_SCHEMATHESIS:-} ]]; then
    p=$(override)
    v=$("$p" --version 2>/dev/null) || fail "$p --version failed"
    version_ok "$p" || say "note: $p is ${v##* }, not the pinned $SCHEMATHESIS_VERSION; seeded runs may differ"
    say "found $p (TAGSTREAM_SCHEMATHESIS)"
    exit 0
  fi
  if installed && version_ok "$ST"; then say "found $ST ($SCHEMATHESIS_VERSION)"; exit 0; fi
  command -v python3 >/dev/null || fail "missing: python3 - Python >= 3.11 with venv (Debian: apt-get install python3 python3-venv)"
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    fail "schemathesis $SCHEMATHESIS_VERSION needs Python >= 3.11; python3 is $(python3 -V 2>&1)"
  # Debian splits venv's pip bootstrap (ensurepip) into python3-venv.
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    [[ $(id -u) == 0 ]] || fail "missing: Python's venv - Debian: sudo apt-get install python3-venv"
    say "installing Debian's python3-venv"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get install -y --no-install-recommends python3-venv || { apt-get update && apt-get install -y --no-install-recommends python3-venv; }; } \
      >>"$LOG_DIR/$SERVICE.log" 2>&1 || die "apt-get install python3-venv failed (log: $LOG_DIR/$SERVICE.log)"
  fi
  # One install at a time: a second ensure waits, then finds it done.
  exec 9>"$SERVICES_DIR/schemathesis.lock"
  flock 9
  if installed && version_ok "$ST"; then say "found $ST ($SCHEMATHESIS_VERSION)"; exit 0; fi
  say "installing schemathesis $SCHEMATHESIS_VERSION (schemathesis-requirements.txt) into $VENV (once; about 95 MB)"
  start=$SECONDS
  # A venv of other pins, or one whose install broke off, is made anew:
  # upgrading in place could keep stale dependencies.
  rm -rf "$VENV"
  {
    echo "== $(date -u +%FT%TZ) pip install ${PINS[*]}"
    python3 -m venv "$VENV" &&
      "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --progress-bar off "${PINS[@]}"
  } >>"$LOG_DIR/$SERVICE.log" 2>&1 || die "pip install -r $REQUIREMENTS failed (log: $LOG_DIR/$SERVICE.log)"
  version_ok "$ST" || die "installed, but $ST --version is not $SCHEMATHESIS_VERSION"
  pin_hash >"$STAMP"
  say "installed $ST ($SCHEMATHESIS_VERSION) in $((SECONDS - start))s" ;;
path)
  if [[ -n ${TAGSTREAM_SCHEMATHESIS:-} ]]; then override; exit 0; fi
  installed || fail "no schemathesis $SCHEMATHESIS_VERSION: run services/schemathesis.sh ensure"
  echo "$ST" ;;
*)
  echo "usage: $0 ensure|path" >&2; exit 2 ;;
esac
