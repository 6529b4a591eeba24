# Shared helpers of the service scripts (sourced, not run).
#
# Conventions every service script follows:
#   services/<name>.sh up|down|status
#   state (data, pid file, generated config) under $SERVICES_DIR/<name>/
#   log in $SERVICES_DIR/logs/<name>.log
#   downloads cached outside the repo: Maven's ~/.m2, Go's module and build caches
#   `up` is idempotent (already healthy: say so, exit 0); a failed start prints
#   the tail of the service's log and exits non-zero; `down` stops the process
#   group and waits, and succeeds when nothing runs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVICES_DIR=${TAGSTREAM_SERVICES_DIR:-$ROOT/.services}
LOG_DIR=$SERVICES_DIR/logs
mkdir -p "$LOG_DIR"

say() { printf '%s: %s\n' "${SERVICE:-services}" "$*" >&2; }

die() {
  say "$*"
  if [[ -n ${SERVICE:-} && -f $LOG_DIR/$SERVICE.log ]]; then
    say "last 40 lines of $LOG_DIR/$SERVICE.log:"
    tail -n 40 "$LOG_DIR/$SERVICE.log" >&2
  fi
  exit 1
}

need() { # need <command> <one-line hint>
  command -v "$1" >/dev/null 2>&1 || die "missing: $1 - $2"
}

pidfile() { echo "$SERVICES_DIR/$SERVICE/pid"; }

running() { # is the recorded pid alive?
  local p
  p=$(cat "$(pidfile)" 2>/dev/null) || return 1
  kill -0 "$p" 2>/dev/null
}

# start_bg <command...>: start in its own process group, log to the service log.
start_bg() {
  mkdir -p "$SERVICES_DIR/$SERVICE"
  setsid "$@" >>"$LOG_DIR/$SERVICE.log" 2>&1 < /dev/null &
  echo $! >"$(pidfile)"
}

# wait_for <seconds> <probe command...>: poll until the probe succeeds.
wait_for() {
  local secs=$1; shift
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    running || die "process exited during start-up"
    (( SECONDS < deadline )) || die "not healthy after ${secs}s"
    sleep 1
  done
}

stop_bg() {
  local p
  p=$(cat "$(pidfile)" 2>/dev/null) || { say "not running"; return 0; }
  if kill -0 "$p" 2>/dev/null; then
    kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$p" 2>/dev/null || true
  fi
  rm -f "$(pidfile)"
  say "stopped"
}

# stop_ours: stop the service if the pid file names *its* process (the
# script defines `ours`); never signal a stale file's reused pid.
stop_ours() {
  if ! ours; then
    rm -f "$(pidfile)"
    say "not running"
    return 0
  fi
  stop_bg
}

# runs_cmd <text>: the pid file names a live process whose command line
# contains text. A bare `kill -0` would trust a stale pid file whose pid was
# reused by another process.
runs_cmd() {
  local p
  p=$(cat "$(pidfile)" 2>/dev/null) || return 1
  [[ -r /proc/$p/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$p/cmdline" | grep -qF -- "$1"
}

rss() { awk '/^VmRSS/ {printf "%d MiB", $2 / 1024}' "/proc/$(cat "$(pidfile)")/status"; }

# listener_of <port>: who listens there (empty if nobody).
listener_of() { ss -Hltnp "sport = :$1" 2>/dev/null | awk '{print $4, $6}'; }
