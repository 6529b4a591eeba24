#!/usr/bin/env bash
# services/kafka.sh up|down|restart|status
#
# A real Apache Kafka 4.x node on loopback for integration tests and local
# runs: one JVM that is both KRaft controller and broker (node 1), clients on
# 127.0.0.1:19092 with SASL/SCRAM-SHA-512 and ACLs (the principals below),
# controller on 127.0.0.1:19093, and the same clients over TLS (SASL_SSL) on
# 127.0.0.1:19094, with the server certificate of services/tls.sh up (which
# this script runs) and client certificates of its CA accepted but not
# required. Health is checked on 19092. The jars come from Maven
# Central through services/kafka/pom.xml into ~/.m2, so only the first run
# downloads; data is kept in $SERVICES_DIR/kafka/data across restarts.
#
#   up      start it and wait until it answers Kafka requests (idempotent)
#   down    stop it and wait until it has exited (fine when not running)
#   restart down, then up: what `make chaos` does to the broker mid-run
#   status  exit 0 iff this checkout's broker runs and answers
#
# KAFKA_BROKERS=3 starts a three-node KRaft cluster instead, with the
# compose file's durability settings (RF 3, min ISR 2, no unclean leader
# election), for `make chaos-cluster`; it adds kill-node, start-node and
# restart-node N (the cluster section below has its ports and state).
# Measured on the shared 2-core box: `up` 48 s cold (Maven's classpath from
# ~/.m2, three formats, the ACLs' first `go run`), 7-12 s warm; `down` 8 s
# (21 s the first time, writing the class archives); start-node 10-13 s.
set -euo pipefail

# KAFKA_PORT picks another instance (a test that restarts its own broker
# runs one beside the shared one): clients on KAFKA_PORT, the controller
# on KAFKA_PORT+1, SASL_SSL clients on KAFKA_PORT+2, state and log under
# kafka-<port>. Default 19092, the instance every other test shares; the
# others in use are 19192 (make chaos) and 19292 (make bench), so steps of
# 100 keep their three ports apart.
PORT=${KAFKA_PORT:-19092}
CONTROLLER_PORT=$((PORT + 1))
TLS_PORT=$((PORT + 2))
SERVICE=kafka
[[ $PORT == 19092 ]] || SERVICE=kafka-$PORT
# KAFKA_BROKERS=3 runs a three-node cluster instead (the cluster section
# below); its state is under kafka-cluster-<port>.
NODES=${KAFKA_BROKERS:-1}
case $NODES in
  1) ;;
  3) SERVICE=kafka-cluster-$PORT ;;
  *) echo "KAFKA_BROKERS=$NODES: 1 (default) or 3" >&2; exit 2 ;;
esac
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HOST=127.0.0.1
START_TIMEOUT=90      # seen: 3-5 s warm, up to ~25 s on 2 cores busy with tests
# Fixed, small heap: the machine also runs Cassandra (~1 GiB) and the tests.
HEAP=512m

CONF_DIR=$ROOT/services/kafka
STATE=$SERVICES_DIR/$SERVICE
DATA=$STATE/data
PROPS=$STATE/server.properties
LOG=$LOG_DIR/$SERVICE.log
mkdir -p "$STATE"

# --- health -----------------------------------------------------------------

# api_versions_ok: send a Kafka ApiVersions v0 request and check the answer
# carries our correlation id and error code 0. Unlike a port check, this
# proves the broker has finished starting (a KRaft broker only processes
# requests once it has caught up with the metadata log and is unfenced), and
# it costs no JVM start. Request: size=16, api_key=18, api_version=0,
# correlation_id=0x7a6b0001, client_id="health" (int16 length + bytes).
api_versions_ok() {
  local hex
  # shellcheck disable=SC2016 # $0/$1 expand in the inner shell, on purpose
  hex=$(timeout 5 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "\x00\x00\x00\x10\x00\x12\x00\x00\x7a\x6b\x00\x01\x00\x06health" >&3
    head -c 10 <&3 | od -An -tx1' "$HOST" "$PORT" 2>/dev/null) || return 1
  hex=${hex//[[:space:]]/}
  # Reply: size (4 bytes) | correlation id (4) | error code (2) | ...
  [[ ${hex:8:12} == 7a6b00010000 ]]
}

# ours: the pid file names a live process of *this checkout's* service.
ours() { runs_cmd "kafka.Kafka $PROPS"; }

# --- principals -------------------------------------------------------------

# The test principals: fixed credentials for a broker on loopback, like the
# S3 server's; `services/all.sh env <role>` prints them as TAGSTREAM_*.
# Their grants are tagstream's own (tagstream acls; topology.md).
PRINCIPALS=(admin api worker rank reader)
password_of() { echo "$1-test-secret"; }
# Bumped when the way the storage is formatted changes (SASL users added):
# an older data dir is formatted again from nothing.
FORMAT_VERSION=sasl-1

# apply_acls: allow each principal its role's grants, as the admin. ACLs
# live in the metadata log, so this only adds what is missing.
apply_acls() {
  need go "Go 1.26 (go.dev/dl), to apply tagstream's ACLs with tagstream acls"
  local pairs=() p
  for p in "${PRINCIPALS[@]}"; do [[ $p == admin ]] || pairs+=("$p=$p"); done
  (cd "$ROOT" && TAGSTREAM_BROKERS=${ACL_BROKERS:-$HOST:$PORT} TAGSTREAM_KAFKA_USER=admin \
    TAGSTREAM_KAFKA_PASSWORD=$(password_of admin) go run ./cmd/tagstream acls "${pairs[@]}") >>"$LOG" 2>&1 ||
    die "applying the ACLs failed (tagstream acls)"
}

# --- jars -------------------------------------------------------------------

# resolve_classpath: set CP to the broker's runtime classpath. Maven runs only
# when the pom changed (the cached list is keyed by the pom's hash) or a jar
# vanished from ~/.m2; it tries offline first so a warm ~/.m2 never needs the
# network, and goes online only for what is missing.
resolve_classpath() {
  local hash cpfile tmp jar
  hash=$(sha256sum "$CONF_DIR/pom.xml" | cut -c1-16)
  cpfile=$STATE/classpath-$hash
  if [[ -s $cpfile ]]; then
    CP=$(<"$cpfile")
    local -a jars
    IFS=: read -ra jars <<<"$CP"
    for jar in "${jars[@]}"; do [[ -f $jar ]] || { CP=; break; }; done
    [[ -n $CP ]] && return 0
  fi
  need mvn "Maven 3 (apt-get install maven), to fetch Kafka from Maven Central"
  say "resolving Kafka's jars with Maven (the first run downloads ~40 MB into ~/.m2)"
  rm -f "$STATE"/classpath-*
  tmp=$cpfile.tmp
  local -a mvn_args=(-B -q -Dstyle.color=never -f "$CONF_DIR/pom.xml"
    dependency:build-classpath -Dmdep.outputFile="$tmp" -Dmdep.includeScope=runtime)
  if ! mvn -o "${mvn_args[@]}" >/dev/null 2>&1; then
    echo "=== $(date -Is) mvn dependency:build-classpath (online)" >>"$LOG"
    mvn "${mvn_args[@]}" >>"$LOG" 2>&1 || die "Maven could not resolve services/kafka/pom.xml"
  fi
  [[ -s $tmp ]] || die "Maven wrote no classpath"
  mv "$tmp" "$cpfile"
  CP=$(<"$cpfile")
}

# --- TLS --------------------------------------------------------------------

TLS_DIR=$SERVICES_DIR/tls
KEYSTORE=$STATE/server-keystore.pem

# tls_listening: something accepts connections on the SASL_SSL port (a
# broker started from an older config has no such listener).
tls_listening() {
  # shellcheck disable=SC2016 # $0/$1 expand in the inner shell, on purpose
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$HOST" "$TLS_PORT" 2>/dev/null
}

# tls_keystore: make (or keep) the test certificates with services/tls.sh
# up, then the SASL_SSL listener's PEM key store: Kafka wants the key and
# its chain in one file (ssl.keystore.location), tls.sh keeps them in two.
# Made again on every start, so a certificate tls.sh renewed is served.
tls_keystore() {
  TAGSTREAM_SERVICES_DIR=$SERVICES_DIR "$ROOT/services/tls.sh" up 2>>"$LOG" ||
    die "services/tls.sh up failed: no certificate for the SASL_SSL listener"
  (umask 077 && cat "$TLS_DIR/server-key.pem" "$TLS_DIR/server.pem" >"$KEYSTORE.tmp")
  mv "$KEYSTORE.tmp" "$KEYSTORE"
}

# --- start/stop -------------------------------------------------------------

# ports_free WHOSE [HINT]: fail unless the node's client, controller and
# SASL_SSL ports (PORT, PORT+1, PORT+2) are free: never talk to a broker
# whose data we do not own.
ports_free() {
  local port who
  for port in "$PORT" "$CONTROLLER_PORT" "$((PORT + 2))"; do
    who=$(listener_of "$port")
    if [[ -n $who ]]; then
      say "$HOST:$port is taken by a process that is not $1: $who"
      [[ -z ${2:-} ]] || say "$2"
      exit 1
    fi
  done
}

need_java17() {
  need java "Java 17+ (apt-get install openjdk-17-jre-headless): Kafka 4 brokers need it"
  local props v
  props=$(java -XshowSettings:properties -version 2>&1)
  v=$(awk -F' = ' '/java.specification.version/ {print $2}' <<<"$props")
  (( ${v%%.*} >= 17 )) || die "Kafka 4 needs Java 17+, \`java\` is $v"
  # Which JVM exactly: a class-data archive is only valid for the JVM build
  # that wrote it.
  JVM_ID=$(grep -E '^ *(java\.home|java\.vm\.version) = ' <<<"$props")
}

# cds_flags: set CDS to the JVM flags of an application class-data sharing
# archive of the broker's classes. With it a warm start takes ~35% less time
# and CPU (4.5 s -> 2.9 s, 7.8 -> 5.0 CPU-s, measured on an idle 2-core box)
# and ~40 MiB less RSS. Java 17 has no -XX:+AutoCreateSharedArchive (19+), so:
# a start without an archive asks the JVM to write one when it exits (on
# `down`, adding ~5 s once) to *.new; the next start checks it with
# -Xshare:on before using it, because a truncated archive (a JVM killed while
# writing it) crashes the JVM with SIGBUS instead of being ignored. Keyed by
# classpath and JVM: an archive of other jars or another JVM is refused.
cds_flags() {
  local key jsa f
  key=$(printf '%s\n%s\n' "$CP" "$JVM_ID" | sha256sum | cut -c1-16)
  jsa=$STATE/cds-$key.jsa
  for f in "$STATE"/cds-*.jsa*; do
    [[ -e $f && $f != "$jsa" && $f != "$jsa.new" ]] && rm -f "$f"
  done
  if [[ -f $jsa.new ]]; then
    if env CLASSPATH="$CP" java -XX:ErrorFile=/dev/null -Xshare:on \
        -XX:SharedArchiveFile="$jsa.new" -version >/dev/null 2>&1; then
      mv "$jsa.new" "$jsa"
    else
      rm -f "$jsa.new"
    fi
  fi
  if [[ -f $jsa ]]; then
    CDS=(-XX:SharedArchiveFile="$jsa")
  else
    CDS=(-XX:ArchiveClassesAtExit="$jsa.new")
  fi
  # The archive writer warns about every class it skips; nothing to act on.
  CDS+=('-Xlog:cds*=off')
}

# format_storage: first start only. The cluster id is kept beside the data so
# a re-format (after a wiped data dir) reuses it.
format_storage() {
  if [[ -f $DATA/meta.properties && $(cat "$STATE/format" 2>/dev/null) == "$FORMAT_VERSION" ]]; then
    return 0
  fi
  if [[ -d $DATA ]]; then
    say "the data in $DATA predates SASL users ($FORMAT_VERSION): formatting it again, from nothing"
    rm -rf "$DATA"
  fi
  local id_file=${CLUSTER_ID_FILE:-$STATE/cluster-id} id
  if [[ ! -s $id_file ]]; then
    # 16 random bytes as unpadded base64url = Kafka's 22-character Uuid form.
    # Not starting with '-', which the tool's option parser would misread.
    id=-
    while [[ $id == -* ]]; do
      id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    done
    echo "$id" >"$id_file"
  fi
  id=$(<"$id_file")
  say "formatting $DATA (cluster id $id, SCRAM users ${PRINCIPALS[*]})"
  local scram=() p
  for p in "${PRINCIPALS[@]}"; do
    scram+=(--add-scram "SCRAM-SHA-512=[name=$p,password=$(password_of "$p")]")
  done
  {
    echo "=== $(date -Is) kafka-storage format"
    env CLASSPATH="$CP" java -Xmx256m -Dlog4j2.configurationFile="$CONF_DIR/log4j2.xml" \
      kafka.tools.StorageTool format -t "$id" -c "$PROPS" --ignore-formatted "${scram[@]}"
  } >>"$LOG" 2>&1 || die "formatting $DATA failed"
  echo "$FORMAT_VERSION" >"$STATE/format"
}

up() {
  if ours; then
    if api_versions_ok; then
      # The grants are the checkout's code: a broker started before they
      # changed gets what is new (ACLs are only ever added).
      apply_acls
      say "already up on $HOST:$PORT (pid $(cat "$(pidfile)"), RSS $(rss)); ACLs applied"
      tls_listening || say "but without the SASL_SSL listener on $HOST:$TLS_PORT (started before it was added): the TLS tests need services/kafka.sh restart"
      return 0
    fi
    # Another `up` started it and it is still coming up; wait with it.
    say "pid $(cat "$(pidfile)") is starting; waiting for it"
    wait_for "$START_TIMEOUT" api_versions_ok
    say "up on $HOST:$PORT"
    return 0
  fi
  rm -f "$(pidfile)" # stale: its process is gone or is not our broker

  # Someone else on our ports (another checkout's broker, `tagstream run`
  # started with --kafka-listen 127.0.0.1:19092, ...): never talk to a broker
  # whose data we do not own, so fail rather than report it healthy.
  ports_free "this checkout's Kafka" "stop it, or stop the other checkout's broker with its own services/kafka.sh down"

  need_java17
  resolve_classpath
  render_props
  format_storage
  local t0=$SECONDS
  start_jvm
  # A start that fails or times out must not leave a half-started JVM that
  # the next `up` would mistake for one still starting, nor a class archive
  # of a run that never got far enough to load the broker's classes.
  trap 'stop_bg >/dev/null 2>&1; rm -f "$STATE"/cds-*.jsa.new' EXIT
  wait_for "$START_TIMEOUT" api_versions_ok
  apply_acls
  trap - EXIT
  say "up on $HOST:$PORT and SASL_SSL $HOST:$TLS_PORT in $((SECONDS - t0))s (pid $(cat "$(pidfile)"), RSS $(rss), data $DATA; SASL/SCRAM-SHA-512, ACLs)"
}

# render_props: the node's server.properties from the template, rendered
# on every start so edits of the template take effect; a cluster node
# (KAFKA_BROKERS=3) gets services/kafka/cluster.properties appended, whose
# settings win over the template's (a later key wins in a properties file).
render_props() {
  # Each node serves SASL_SSL on its PORT+2 with a key store of its own.
  TLS_PORT=$((PORT + 2)) KEYSTORE=$STATE/server-keystore.pem
  tls_keystore
  sed -e "s|@DATA_DIR@|$DATA|g" -e "s|@ADMIN_PASSWORD@|$(password_of admin)|g" \
    -e "s|@PORT@|$PORT|g" -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" -e "s|@TLS_PORT@|$TLS_PORT|g" \
    -e "s|@KEYSTORE@|$KEYSTORE|g" -e "s|@TRUSTSTORE@|$TLS_DIR/ca.pem|g" "$CONF_DIR/server.properties" >"$PROPS.tmp"
  if [[ -n ${NODE_ID:-} ]]; then
    sed -e "s|@NODE_ID@|$NODE_ID|g" -e "s|@VOTERS@|$VOTERS|g" "$CONF_DIR/cluster.properties" >>"$PROPS.tmp"
  fi
  mv "$PROPS.tmp" "$PROPS"
}

# start_jvm: start the broker of $PROPS in the background; the caller waits.
start_jvm() {
  cds_flags
  echo "=== $(date -Is) starting kafka.Kafka (${CDS[0]})" >>"$LOG"
  # Kafka's own kafka-server-start.sh GC flags; CLASSPATH via the environment
  # keeps a 4 KB jar list out of `ps`. `9>&-`: the JVM must not inherit the
  # lock of this script (see main), or the next `up`/`down` would wait forever.
  start_bg env CLASSPATH="$CP" java \
    -Xms"$HEAP" -Xmx"$HEAP" \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError \
    -XX:ErrorFile="$STATE/hs_err_pid%p.log" "${CDS[@]}" \
    -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$CONF_DIR/log4j2.xml" \
    kafka.Kafka "$PROPS" 9>&-
}

down() {
  # SIGTERM: Kafka shuts down cleanly (no log recovery next start). The first
  # stop after a start without a class archive also writes it (~5 s more).
  stop_ours
}

status() {
  if ours && api_versions_ok; then
    say "up on $HOST:$PORT (pid $(cat "$(pidfile)"), RSS $(rss))"
    return 0
  elif ours; then
    say "pid $(cat "$(pidfile)") runs but does not answer on $HOST:$PORT"
  elif [[ -n $(listener_of "$PORT") ]]; then
    say "down; $HOST:$PORT is held by another process: $(listener_of "$PORT")"
  else
    say "down"
  fi
  return 1
}

# One up/down at a time per checkout: two concurrent `up`s would otherwise
# both start a JVM and race for the ports and the data dir. `status` does not
# wait for the lock, so it answers at once while an `up` is in progress.
lock() { exec 9>"$STATE/lock"; flock 9; }

# --- cluster (KAFKA_BROKERS=3) ------------------------------------------------
#
# Three nodes, each a KRaft controller and a broker in one JVM (combined
# mode, like the compose file's kafka-1..3), with the compose file's
# durability settings (services/kafka/cluster.properties: RF 3, min ISR 2,
# no unclean election) and the single broker's SASL/SCRAM users and ACLs.
# Node N (1-3) takes four ports from KAFKA_PORT + 4(N-1): clients on the
# first, its controller on the second; the third is left for the node's
# TLS listener (the single broker's KAFKA_PORT+2) and the fourth is spare.
# KAFKA_PORT=19300 KAFKA_BROKERS=3: clients on 19300, 19304, 19308. Node N's
# data, config and pid are in kafka-cluster-<port>/node<N>, its log in
# logs/kafka-cluster-<port>/node<N>.log.
#
#   up | down | restart | status     the whole cluster, as for one broker
#   kill-node N      SIGKILL node N (no clean shutdown: what a lost machine does)
#   start-node N     start node N if it is down and wait until it answers
#   restart-node N   stop node N cleanly (SIGTERM), then start-node N
#   brokers          print the client addresses, comma-separated
#
# Heap: 512 MiB each (the single broker's), so the three take ~2.3 GiB RSS.
CLUSTER_DIR=$STATE
CLUSTER_ID_FILE=$CLUSTER_DIR/cluster-id
BASE_PORT=$PORT
node_port() { echo $((BASE_PORT + 4 * ($1 - 1))); }
brokers() {
  local n out=()
  for n in 1 2 3; do out+=("$HOST:$(node_port "$n")"); done
  (IFS=,; echo "${out[*]}")
}
VOTERS=1@$HOST:$(($(node_port 1) + 1)),2@$HOST:$(($(node_port 2) + 1)),3@$HOST:$(($(node_port 3) + 1))
ACL_BROKERS=$(brokers)

# node N: make node N the one the single-broker functions act on.
node() {
  [[ $1 == [123] ]] || { echo "node $1: 1, 2 or 3" >&2; exit 2; }
  NODE_ID=$1
  PORT=$(node_port "$1")
  CONTROLLER_PORT=$((PORT + 1))
  SERVICE=kafka-cluster-$BASE_PORT/node$1
  STATE=$CLUSTER_DIR/node$1
  DATA=$STATE/data
  PROPS=$STATE/server.properties
  LOG=$LOG_DIR/$SERVICE.log
  mkdir -p "$STATE" "$(dirname "$LOG")"
}

# node_launch: start the current node's JVM unless it runs; no wait.
node_launch() {
  ours && return 0
  rm -f "$(pidfile)"
  ports_free "this cluster's node $NODE_ID"
  need_java17
  resolve_classpath_shared
  render_props
  format_storage
  start_jvm
}

# resolve_classpath_shared: the classpath cache is the cluster's, not each
# node's, so Maven runs at most once.
resolve_classpath_shared() {
  local s=$STATE
  STATE=$CLUSTER_DIR
  resolve_classpath
  STATE=$s
}

# node_wait: wait until the current node answers (a broker answers once it
# has caught up with the metadata log and is unfenced, which needs a
# controller quorum: two of the three nodes).
node_wait() {
  trap 'stop_bg >/dev/null 2>&1' EXIT
  wait_for "$START_TIMEOUT" api_versions_ok
  trap - EXIT
}

cluster_up() {
  local n t0=$SECONDS
  # All three first: none answers until two controllers have elected a leader.
  for n in 1 2 3; do node "$n"; node_launch; done
  for n in 1 2 3; do node "$n"; node_wait; done
  apply_acls
  SERVICE=kafka-cluster-$BASE_PORT
  say "cluster up on $(brokers) in $((SECONDS - t0))s (RF 3, min ISR 2; data under $CLUSTER_DIR)"
}

cluster_down() {
  local n p stopping=()
  # SIGTERM to all at once, so none waits for the others' controlled shutdown.
  for n in 1 2 3; do
    node "$n"
    if ours; then
      p=$(cat "$(pidfile)")
      kill -TERM -- "-$p" 2>/dev/null || true
      stopping+=("$n")
    else
      stop_ours
    fi
  done
  for n in "${stopping[@]}"; do node "$n"; stop_bg; done
}

cluster_status() {
  local n rc=0
  for n in 1 2 3; do node "$n"; status || rc=1; done
  return $rc
}

kill_node() {
  node "$1"
  if ! ours; then say "not running"; return 0; fi
  local p
  p=$(cat "$(pidfile)")
  kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p"
  while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
  rm -f "$(pidfile)"
  say "SIGKILLed (pid $p)"
}

start_node() {
  node "$1"
  local t0=$SECONDS
  node_launch
  node_wait
  say "up on $HOST:$PORT in $((SECONDS - t0))s (pid $(cat "$(pidfile)"), RSS $(rss))"
}

if [[ $NODES == 3 ]]; then
  case ${1:-} in
    up) lock; cluster_up ;;
    down) lock; cluster_down ;;
    restart) lock; cluster_down; cluster_up ;;
    status) cluster_status ;;
    kill-node) lock; kill_node "${2:-}" ;;
    start-node) lock; start_node "${2:-}" ;;
    restart-node) lock; node "${2:-}"; stop_ours; start_node "$2" ;;
    brokers) brokers ;;
    *) echo "usage: KAFKA_BROKERS=3 $0 up|down|restart|status|kill-node N|start-node N|restart-node N|brokers" >&2; exit 2 ;;
  esac
  exit
fi

case ${1:-} in
  up) lock; up ;;
  down) lock; down ;;
  restart) lock; down; up ;;
  status) status ;;
  *) echo "usage: $0 up|down|restart|status" >&2; exit 2 ;;
esac
