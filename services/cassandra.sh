#!/usr/bin/env bash
# services/cassandra.sh up|down|status|nodetool ARGS - a real Apache Cassandra 5.0 single node
# on loopback, for tests and local runs.
#
# There is no tarball here: the node runs from the jars of
# org.apache.cassandra:cassandra-all, resolved by Maven into ~/.m2 with
# services/cassandra/pom.xml, and started as
#   java @services/cassandra/jvm17-server.options ... org.apache.cassandra.service.CassandraDaemon
# CQL:      127.0.0.1:19042   (native_transport_port)
# gossip:   127.0.0.1:17000   (storage_port)
# JMX:      127.0.0.1:17199   (local only, for nodetool)
# state:    $SERVICES_DIR/cassandra/  (data/, conf/, classpath cache, pid)
# log:      $SERVICES_DIR/logs/cassandra.log
# Health is a real CQL query (services/probe), not an open port.
#
# Environment knobs:
#   CASSANDRA_START_TIMEOUT  seconds to wait for CQL (default 180)
#   CASSANDRA_JAVA           java binary to use (must be Java 17)
#   CASSANDRA_JVM_OPTS       extra JVM flags, split on spaces (e.g. -Xmx2G)
#   CASSANDRA_MLOCK=1        let Cassandra mlockall() its memory (see below)
SERVICE=cassandra
# shellcheck source=services/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HERE=$ROOT/services/cassandra
STATE=$SERVICES_DIR/cassandra
LOG=$LOG_DIR/cassandra.log
CQL_ADDR=127.0.0.1:19042
JMX_PORT=17199
PROBE=$SERVICES_DIR/bin/probe
START_TIMEOUT=${CASSANDRA_START_TIMEOUT:-180}

# java_bin: a Java 17 (Cassandra 5.0 runs on 11 and 17; these flags are for 17,
# and 18+ has no security manager, which 5.0 needs).
java_bin() {
  local j
  local candidates=("${CASSANDRA_JAVA:-}" "${JAVA_HOME:+$JAVA_HOME/bin/java}" "$(command -v java || true)")
  # Debian's JDK 17 of any architecture (amd64, arm64, ...), and Temurin's.
  candidates+=(/usr/lib/jvm/java-17-openjdk-*/bin/java /usr/lib/jvm/temurin-17-*/bin/java)
  for j in "${candidates[@]}"; do
    [[ -n $j && -x $j ]] || continue
    if "$j" -version 2>&1 | head -n1 | grep -q '"17[."]'; then echo "$j"; return 0; fi
  done
  die "missing: Java 17 (apt-get install openjdk-17-jre-headless) - Cassandra 5.0 runs on it"
}

# classpath: the resolved jars, cached in the state dir keyed by the pom's hash,
# so a warm start runs no Maven at all and needs no network.
classpath() {
  local key cache tmp
  key=$(sha256sum "$HERE/pom.xml" | cut -c1-16)
  cache=$STATE/classpath.$key
  if [[ -s $cache ]] && all_exist "$(cat "$cache")"; then cat "$cache"; return 0; fi
  need mvn "apt-get install maven - resolves Cassandra's jars from Maven Central"
  say "resolving cassandra-all and its dependencies with Maven (a machine's first run downloads ~80 MB into ~/.m2)"
  tmp=$STATE/classpath.tmp
  rm -f "$STATE"/classpath.*
  local mvn=(mvn -q -B -Dstyle.color=never -f "$HERE/pom.xml" dependency:build-classpath
             -Dmdep.outputFile="$tmp")
  # offline first: the jars may already be in ~/.m2 from another state dir
  if ! "${mvn[@]}" -o >/dev/null 2>&1; then
    echo "== mvn dependency:build-classpath (online) ==" >>"$LOG"
    "${mvn[@]}" >>"$LOG" 2>&1 \
      || die "Maven could not resolve services/cassandra/pom.xml (see the log)"
  fi
  [[ -s $tmp ]] || die "Maven wrote no classpath"
  mv "$tmp" "$cache"
  cat "$cache"
}

all_exist() { # all_exist <classpath>
  local IFS=: f
  for f in $1; do [[ -f $f ]] || return 1; done
}

# build_probe: the CQL health probe, built once into $SERVICES_DIR/bin (Go's
# build cache makes a rebuild after a source change cheap).
build_probe() {
  need go "Go 1.26 - builds the health probe (services/probe)"
  local src
  if [[ -x $PROBE ]]; then
    src=$(find "$ROOT/services/probe" "$ROOT/go.mod" "$ROOT/go.sum" -newer "$PROBE" -print -quit)
    [[ -n $src ]] || return 0
  fi
  mkdir -p "$(dirname "$PROBE")"
  (cd "$ROOT" && go build -o "$PROBE.tmp" ./services/probe) >>"$LOG" 2>&1 \
    || die "could not build services/probe (see the log)"
  mv "$PROBE.tmp" "$PROBE"
}

healthy() { "$PROBE" cql -timeout 3s "$CQL_ADDR"; }

render_config() {
  mkdir -p "$STATE/conf/triggers" "$STATE/data" "$STATE/logs"
  sed "s|@STATE@|$STATE|g" "$HERE/cassandra.yaml.in" >"$STATE/conf/cassandra.yaml"
}

# ours: the pid file names a live process of *this checkout's* Cassandra
# (its config path is on the command line). A bare `kill -0` would trust a
# stale pid file whose pid another process now has.
ours() { runs_cmd "-Dcassandra.config=file://$STATE/conf/cassandra.yaml"; }
running() { ours; }

up() {
  build_probe
  if running; then
    if healthy >/dev/null 2>&1; then
      say "already up (pid $(cat "$(pidfile)"), CQL on $CQL_ADDR)"
      return 0
    fi
    # starting (another `up`), or dying (after a kill): wait for either
    say "pid $(cat "$(pidfile)") is running but CQL doesn't answer yet; waiting"
    local deadline=$((SECONDS + START_TIMEOUT))
    while running; do
      if healthy >/dev/null 2>&1; then
        say "up: Cassandra $(healthy) on $CQL_ADDR"
        return 0
      fi
      (( SECONDS < deadline )) || die "pid $(cat "$(pidfile)") not healthy after ${START_TIMEOUT}s"
      sleep 1
    done
    say "pid $(cat "$(pidfile)") exited; starting anew"
  fi
  rm -f "$(pidfile)" # stale: its process is gone or is not our Cassandra
  if healthy >/dev/null 2>&1; then
    die "something not started by this script already answers CQL on $CQL_ADDR"
  fi
  local who port
  for port in "${CQL_ADDR##*:}" "$JMX_PORT" 17000; do
    who=$(listener_of "$port")
    [[ -z $who ]] || die "127.0.0.1:$port is taken by a process that is not this checkout's Cassandra: $who"
  done

  local java cp
  java=$(java_bin)
  mkdir -p "$STATE"
  cp=$(classpath)
  render_config
  printf '\n===== %s: services/cassandra.sh up =====\n' "$(date -Is)" >>"$LOG"
  say "starting Cassandra (log: $LOG)"
  # Cassandra mlockall()s the JVM at start; as root (CAP_IPC_LOCK) that succeeds
  # and makes the whole 1 GiB heap resident and unswappable. Drop the capability
  # so it fails softly (one WARN line) unless CASSANDRA_MLOCK=1.
  local pre=()
  if [[ $(id -u) == 0 && ${CASSANDRA_MLOCK:-0} != 1 ]] && command -v setpriv >/dev/null; then
    pre=(setpriv --bounding-set=-ipc_lock)
  fi
  local extra=()
  read -ra extra <<<"${CASSANDRA_JVM_OPTS:-}"
  local t0=$SECONDS
  cd "$STATE"   # the JVM's cwd: hs_err files and anything relative land here
  # 9>&-: the JVM must not inherit this script's lock (see lock below).
  start_bg "${pre[@]}" "$java" @"$HERE/jvm17-server.options" \
    -XX:HeapDumpPath="$STATE" \
    -XX:ErrorFile="$STATE/hs_err_%p.log" \
    -Dlogback.configurationFile="$HERE/logback.xml" \
    -Dcassandra.config="file://$STATE/conf/cassandra.yaml" \
    -Dcassandra.storagedir="$STATE/data" \
    -Dcassandra.logdir="$STATE/logs" \
    -Dcassandra.triggers_dir="$STATE/conf/triggers" \
    -Dcassandra.jmx.local.port="$JMX_PORT" \
    -Dcassandra-foreground=yes \
    -Dcassandra.skip_wait_for_gossip_to_settle=0 \
    "${extra[@]}" \
    -cp "$cp" \
    org.apache.cassandra.service.CassandraDaemon 9>&-
  # A start that fails or times out must not leave a half-started JVM that
  # the next `up` would mistake for one still starting.
  trap 'stop_bg >/dev/null 2>&1' EXIT
  wait_for "$START_TIMEOUT" healthy
  trap - EXIT
  say "up in $((SECONDS - t0))s: Cassandra $(healthy) on $CQL_ADDR (pid $(cat "$(pidfile)"))"
}

status() {
  if running; then
    build_probe
    local v
    if v=$(healthy 2>/dev/null); then
      say "up (pid $(cat "$(pidfile)")): Cassandra $v on $CQL_ADDR"
      return 0
    fi
    say "pid $(cat "$(pidfile)") is running but CQL on $CQL_ADDR doesn't answer"
    return 1
  fi
  say "not running"
  return 1
}

# nodetool ARGS...: Cassandra's nodetool against the running node (local JMX).
nodetool() {
  running || die "not running"
  local java cp line words args=()
  java=$(java_bin)
  cp=$(classpath)
  while read -r line; do
    read -ra words <<<"$line"
    args+=("${words[@]}")
  done < <(grep -E '^--add-(opens|exports) ' "$HERE/jvm17-server.options")
  "$java" "${args[@]}" -Xmx256m -Dcassandra.logdir="$STATE/logs" \
    -Dlogback.configurationFile="$HERE/logback.xml" -cp "$cp" \
    org.apache.cassandra.tools.NodeTool -h 127.0.0.1 -p "$JMX_PORT" "$@"
}

# One up/down at a time per checkout: two concurrent `up`s would both start
# a JVM on one data dir. `status` answers at once, without the lock.
lock() { mkdir -p "$STATE"; exec 9>"$STATE/lock"; flock 9; }

cmd=${1:-}
case $cmd in
  up) lock; up ;;
  down) lock; stop_ours ;;
  status) status ;;
  nodetool) shift; nodetool "$@" ;;
  *) echo "usage: $0 up|down|status|nodetool ARGS..." >&2; exit 2 ;;
esac
