#!/usr/bin/env bash
# services/cassandra.sh up|down|status|nodetool ARGS - a real Apache Cassandra 5.0 node
# on loopback, for tests and local runs.
#
# There is no tarball here: the node runs from the jars of
# org.apache.cassandra:cassandra-all, resolved by Maven into ~/.m2 with
# services/cassandra/pom.xml, and started as
#   java @services/cassandra/jvm17-server.options ... org.apache.cassandra.service.CassandraDaemon
# CQL:      127.0.0.1:19042   (native_transport_port), plaintext and TLS on
#                             the same port (client_encryption_options
#                             optional: true; TLS clients must present a
#                             certificate of the test CA: mutual TLS)
# gossip:   127.0.0.1:17000   (storage_port)
# JMX:      127.0.0.1:17199   (local only, for nodetool)
# state:    $SERVICES_DIR/cassandra/  (data/, conf/, classpath cache, pid)
# log:      $SERVICES_DIR/logs/cassandra.log
# TLS:      the certificates of services/tls.sh up, in $SERVICES_DIR/tls
#           (server.pem and server-key.pem as the node's key store, ca.pem
#           as its trust store)
# Login:    PasswordAuthenticator. `up` makes sure the role tagstream, password
#           tagstream-test-secret (what services/all.sh env exports as
#           TAGSTREAM_CASSANDRA_USER and TAGSTREAM_CASSANDRA_PASSWORD), exists
#           and is a superuser, and that the built-in cassandra/cassandra
#           superuser can no longer log in: on a new data dir, and on one an
#           earlier version of this script made without authentication
#           (its default role is still there: `down` then `up` migrates it).
# Health is a real CQL query (services/probe) as that role, not an open port.
#
# Environment knobs:
#   CASSANDRA_START_TIMEOUT  seconds to wait for CQL (default 180)
#   CASSANDRA_JAVA           java binary to use (must be Java 17)
#   CASSANDRA_JVM_OPTS       extra JVM flags, split on spaces (e.g. -Xmx2G)
#   CASSANDRA_MLOCK=1        let Cassandra mlockall() its memory (see below)
#   CASSANDRA_ADDRESS        listen and CQL address (default 127.0.0.1); a
#                            second node of a cluster takes 127.0.0.2 and the
#                            same ports, in its own TAGSTREAM_SERVICES_DIR
#   CASSANDRA_CQL_PORT, CASSANDRA_STORAGE_PORT, CASSANDRA_JMX_PORT
#                            the ports above (defaults 19042, 17000, 17199)
#   CASSANDRA_SEEDS          gossip seeds, host:port,... (default this node)
#   CASSANDRA_INITIAL_TOKEN  the node's one token (default 0; each node of a
#                            cluster needs its own)
SERVICE=cassandra
# shellcheck source=services/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HERE=$ROOT/services/cassandra
STATE=$SERVICES_DIR/cassandra
LOG=$LOG_DIR/cassandra.log
ADDRESS=${CASSANDRA_ADDRESS:-127.0.0.1}
CQL_PORT=${CASSANDRA_CQL_PORT:-19042}
STORAGE_PORT=${CASSANDRA_STORAGE_PORT:-17000}
JMX_PORT=${CASSANDRA_JMX_PORT:-17199}
SEEDS=${CASSANDRA_SEEDS:-$ADDRESS:$STORAGE_PORT}
INITIAL_TOKEN=${CASSANDRA_INITIAL_TOKEN:-0}
CQL_ADDR=$ADDRESS:$CQL_PORT
PROBE=$SERVICES_DIR/bin/probe
START_TIMEOUT=${CASSANDRA_START_TIMEOUT:-180}
TLS_DIR=$SERVICES_DIR/tls
# The test role. Its password is no secret (all.sh env prints it): it only
# makes the tests log in as a production deployment must.
ROLE=tagstream
ROLE_PASSWORD=tagstream-test-secret

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
  # A probe from before logins (no -password-file) is rebuilt whatever the
  # times say: a checkout can leave the source older than the binary.
  if [[ -x $PROBE ]] && "$PROBE" cql -h 2>&1 | grep -q -- -password-file; then
    src=$(find "$ROOT/services/probe" "$ROOT/go.mod" "$ROOT/go.sum" -newer "$PROBE" -print -quit)
    [[ -n $src ]] || return 0
  fi
  mkdir -p "$(dirname "$PROBE")"
  (cd "$ROOT" && go build -o "$PROBE.tmp" ./services/probe) >>"$LOG" 2>&1 \
    || die "could not build services/probe (see the log)"
  mv "$PROBE.tmp" "$PROBE"
}

# cql USER PASSWORD [probe flags]...: the probe logged in as USER, the
# password passed in a file (a command line shows in every process listing).
cql() {
  local user=$1 pw=$2; shift 2
  local f=$STATE/login.$user
  (umask 077; printf '%s' "$pw" >"$f")
  "$PROBE" cql -timeout 5s -user "$user" -password-file "$f" "$@" "$CQL_ADDR"
}

healthy() { cql "$ROLE" "$ROLE_PASSWORD"; }

# answers: CQL is up, whether or not it lets the test role in yet (a new
# node creates its default superuser only once it has joined its ring).
answers() {
  local out
  out=$(healthy 2>&1) && return 0
  [[ $out == *"Provided username"* || $out == *"authenticat"* ]]
}

# ensure_role: the test role logs in, as a superuser; the built-in
# cassandra/cassandra superuser, whose password everyone knows, does not.
# On a data dir made without authentication (or a new one) the default
# superuser creates the role, then the role locks the default one out.
ensure_role() {
  local deadline=$((SECONDS + 60)) out
  until healthy >/dev/null 2>&1; do
    (( SECONDS < deadline )) || die "neither $ROLE nor the default superuser cassandra can log in on $CQL_ADDR: ${out:-}"
    if out=$(cql cassandra cassandra -e "CREATE ROLE IF NOT EXISTS $ROLE WITH PASSWORD = '$ROLE_PASSWORD' AND LOGIN = true AND SUPERUSER = true" 2>&1); then
      say "created the role $ROLE"
    fi
    # the default superuser is made a few seconds after the node starts
    sleep 1
  done
  # The role's login, not the default's: a superuser cannot lock itself out.
  local locked
  locked=$(openssl rand -hex 16)
  if cql cassandra cassandra >/dev/null 2>&1; then
    cql "$ROLE" "$ROLE_PASSWORD" -e "ALTER ROLE cassandra WITH PASSWORD = '$locked' AND SUPERUSER = false AND LOGIN = false" >/dev/null \
      || die "could not lock out the default superuser cassandra"
    say "the default superuser cassandra can no longer log in"
  fi
  rm -f "$STATE"/login.cassandra
}

render_config() {
  mkdir -p "$STATE/conf/triggers" "$STATE/data" "$STATE/logs"
  # the node's TLS key store: its key, then its chain (PEMBasedSslContextFactory)
  "$ROOT/services/tls.sh" up
  (umask 077; cat "$TLS_DIR/server-key.pem" "$TLS_DIR/server.pem" >"$STATE/conf/server-keystore.pem")
  sed -e "s|@STATE@|$STATE|g" -e "s|@ADDRESS@|$ADDRESS|g" -e "s|@CQL_PORT@|$CQL_PORT|g" \
    -e "s|@STORAGE_PORT@|$STORAGE_PORT|g" -e "s|@SEEDS@|$SEEDS|g" -e "s|@INITIAL_TOKEN@|$INITIAL_TOKEN|g" \
    -e "s|@TLS@|$TLS_DIR|g" "$HERE/cassandra.yaml.in" >"$STATE/conf/cassandra.yaml"
}

# listener_at ADDRESS PORT: who listens there, or on every address (empty
# if nobody): a node on 127.0.0.2 shares its port numbers with 127.0.0.1's.
listener_at() {
  ss -Hltnp "sport = :$2" 2>/dev/null |
    awk -v a="$1:$2" '$4 == a || $4 ~ /^(0\.0\.0\.0|\*|\[::\]):/ {print $4, $6}'
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
      if answers; then
        ensure_role
        say "up: Cassandra $(healthy) on $CQL_ADDR"
        return 0
      fi
      (( SECONDS < deadline )) || die "pid $(cat "$(pidfile)") not healthy after ${START_TIMEOUT}s"
      sleep 1
    done
    say "pid $(cat "$(pidfile)") exited; starting anew"
  fi
  rm -f "$(pidfile)" # stale: its process is gone or is not our Cassandra
  if answers; then
    die "something not started by this script already answers CQL on $CQL_ADDR"
  fi
  local who port
  for port in "$CQL_PORT" "$STORAGE_PORT"; do
    who=$(listener_at "$ADDRESS" "$port")
    [[ -z $who ]] || die "$ADDRESS:$port is taken by a process that is not this checkout's Cassandra: $who"
  done
  who=$(listener_at 127.0.0.1 "$JMX_PORT")
  [[ -z $who ]] || die "JMX port $JMX_PORT is taken by a process that is not this checkout's Cassandra: $who"

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
    -Dcassandra.superuser_setup_delay_ms=0 \
    "${extra[@]}" \
    -cp "$cp" \
    org.apache.cassandra.service.CassandraDaemon 9>&-
  # A start that fails or times out must not leave a half-started JVM that
  # the next `up` would mistake for one still starting.
  trap 'stop_bg >/dev/null 2>&1' EXIT
  wait_for "$START_TIMEOUT" answers
  ensure_role
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
