#!/usr/bin/env bash
# services/s3.sh up|down|status|env
#
# A real S3-compatible server on loopback for integration tests and local
# runs: versitygw (Versity S3 Gateway, Apache-2.0) with its posix backend.
# It checks SigV4 signatures, presigned-URL signatures and expiry and POST
# policies (expiration, conditions, content-length-range) as AWS S3 does, so
# the security tests run against a genuine verifier, not a mock.
#
#   endpoint      http://127.0.0.1:19000   (path-style addressing)
#   TLS endpoint  https://127.0.0.1:19001  (certificate: services/tls.sh's
#                                           "server", signed by its test CA)
#   access key    tagstream                (the gateway's root account)
#   secret key    tagstream-secret-key
#   API key       tagstream-api / tagstream-api-secret-key: an account of
#                 role "user" that owns the bucket tagstream-images, for an
#                 API run with --s3-create-bucket=false
#   region        us-east-1
#
# One versitygw process serves either plain HTTP or TLS on all its --port
# listeners (--cert/--key apply to every one), so the TLS endpoint is a
# second gateway over the same data directory and the same IAM directory:
# versitygw supports several gateways over one posix tree, and its internal
# IAM re-reads users.json on each lookup (an account cached up to 2 min).
# Accounts are written through the plain gateway only, as versitygw asks
# (its IAM has no lock between gateways). S3_PORT moves both (TLS on
# S3_PORT+1, or S3_TLS_PORT), for an instance of its own beside the shared
# one, with its own TAGSTREAM_SERVICES_DIR.
#
# The API's account is versitygw's least privilege: a "user" (not
# "userplus" or "admin") may not create buckets (AccessDenied), sees only
# the buckets it owns in ListBuckets, and is refused (AccessDenied) in any
# bucket it does not own; in its own it may put, get, delete and presign.
# `up` creates the account and the bucket it owns idempotently, with the
# admin API on the plain gateway (`versitygw admin create-user`, then
# `create-bucket --owner` or, for a bucket that exists, `change-bucket-owner`).
#
# Test credentials only; `services/s3.sh env` (or services/all.sh env) prints
# them as the TAGSTREAM_S3_* and TAGSTREAM_TEST_S3_* variables the tests read.
#
# The binary is built from the Go module proxy with `go install` (no repo
# go.mod involved) into $SERVICES_DIR/bin, once per version: the first build
# takes ~3 min on 2 cores, a later `up` finds it there. Buckets and objects
# live in $SERVICES_DIR/s3/data (each subdirectory is a bucket) and survive
# restarts; object metadata is kept in user xattrs, or in the sidecar
# directory $SERVICES_DIR/s3/meta where the filesystem has none; accounts in
# $SERVICES_DIR/s3/iam/users.json.
#
#   up      build if needed, make the test certificates (services/tls.sh up),
#           start both gateways, wait until a signed ListBuckets answers on
#           each, create the API's account and bucket (idempotent: already
#           healthy says so and exits 0)
#   down    stop both and wait until they have exited (fine when not running)
#   status  exit 0 iff this checkout's two servers run and answer; prints the
#           endpoints and credentials
#   env     print the TAGSTREAM_S3_* and TAGSTREAM_TEST_S3_* export lines
set -euo pipefail

SERVICE=s3
# shellcheck source=services/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HOST=127.0.0.1
PORT=${S3_PORT:-19000}
TLS_PORT=${S3_TLS_PORT:-$((PORT + 1))}
ENDPOINT=http://$HOST:$PORT
TLS_ENDPOINT=https://$HOST:$TLS_PORT
ACCESS_KEY=tagstream
SECRET_KEY=tagstream-secret-key
API_ACCESS_KEY=tagstream-api
API_SECRET_KEY=tagstream-api-secret-key
API_BUCKET=tagstream-images
REGION=us-east-1
START_TIMEOUT=30 # a warm start answers in well under a second

VGW_MODULE=github.com/versity/versitygw
VGW_VERSION=v1.8.0 # needs Go >= 1.25

STATE=$SERVICES_DIR/s3
DATA=$STATE/data       # the gateway root: every subdirectory is a bucket
SIDECAR=$STATE/meta    # metadata store when xattrs are unsupported; must not be under $DATA
META_MODE=$STATE/meta-mode # "xattr" or "sidecar", fixed by the first start
IAM=$STATE/iam         # the internal IAM's users.json, shared by both gateways
TLS_DIR=$SERVICES_DIR/tls # services/tls.sh up's test set
BIN=$SERVICES_DIR/bin/versitygw
LOG=$LOG_DIR/s3.log
mkdir -p "$STATE"
touch "$LOG"

# --- health -----------------------------------------------------------------

# list_buckets_ok: a SigV4-signed ListBuckets with the root credentials gets
# 200 and a ListAllMyBucketsResult. This proves more than an open port: the
# server parses S3 requests, verifies signatures with our secret and can read
# its backend. curl >= 7.75 signs with --aws-sigv4; before curl 8.x it does
# not add x-amz-content-sha256 itself, which S3 requires, so we send the
# SHA-256 of the empty body (curl signs every x-amz-* header it sends).
EMPTY_SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
# The TLS gateway is checked with the test CA only, as the tests trust it.
list_buckets_ok() {
  local url=${1:-$ENDPOINT}
  curl -sf --max-time 5 --cacert "$TLS_DIR/ca.pem" --aws-sigv4 "aws:amz:$REGION:s3" --user "$ACCESS_KEY:$SECRET_KEY" \
    -H "x-amz-content-sha256: $EMPTY_SHA256" "$url/" 2>/dev/null |
    grep -q '<ListAllMyBucketsResult'
}
tls_ok() { list_buckets_ok "$TLS_ENDPOINT"; }

# ours: the pid file names a live process of *this checkout's* service.
# The TLS gateway has its own pid file and log: the same functions run
# with SERVICE=s3-tls (tls_do).
ours() { runs_cmd "$BIN --port $HOST:$PORT "; }
tls_ours() { tls_do runs_cmd "$BIN --port $HOST:$TLS_PORT "; }
tls_do() { local SERVICE=s3-tls; "$@"; }

# --- binary -----------------------------------------------------------------

# installed_version: the versitygw module version recorded in $BIN (empty if
# there is no binary). Read from the binary's build info, so a binary built
# from another version is never mistaken for this one.
installed_version() {
  [[ -x $BIN ]] || return 0
  go version -m "$BIN" 2>/dev/null | awk -v m="$VGW_MODULE" '$1 == "mod" && $2 == m {print $3}'
}

# ensure_binary: `go install module@version` builds outside any main module,
# so the repo's go.mod is never read or written. GOTOOLCHAIN=local: never
# fetch another toolchain; GOWORK=off: ignore any go.work around; and it runs
# in /tmp, away from any go.mod. It installs into a scratch dir first so an
# interrupted build leaves no half binary.
ensure_binary() {
  need go "Go 1.25+ (the versitygw $VGW_VERSION build needs it)"
  [[ $(installed_version) == "$VGW_VERSION" ]] && return 0
  say "building versitygw $VGW_VERSION with go install (first time: ~3 min on 2 cores)"
  local tmp t0=$SECONDS
  mkdir -p "$(dirname "$BIN")"
  tmp=$(mktemp -d "$(dirname "$BIN")/.versitygw-install.XXXXXX")
  {
    echo "=== $(date -Is) go install $VGW_MODULE/cmd/versitygw@$VGW_VERSION"
    cd "${TMPDIR:-/tmp}" && GOWORK=off GOTOOLCHAIN=local GOBIN="$tmp" \
      go install -ldflags "-X main.Version=$VGW_VERSION" "$VGW_MODULE/cmd/versitygw@$VGW_VERSION"
  } >>"$LOG" 2>&1 || { rm -rf "$tmp"; die "go install of versitygw $VGW_VERSION failed"; }
  mv -f "$tmp/versitygw" "$BIN"
  rm -rf "$tmp"
  say "built versitygw $VGW_VERSION in $((SECONDS - t0))s"
}

# --- start/stop -------------------------------------------------------------

# launch <metadata args...>: start the gateway in the background. `env -i`:
# versitygw reads dozens of environment variables (VGW_*, ROOT_*, and generic
# ones such as LOGFILE and WEBHOOK), so it gets a clean environment and only
# what we pass; the root credentials go through the environment to stay out
# of `ps`. --keep-alive: serve persistent connections as S3 does.
# `9>&-`: the server must not inherit this script's lock (see below).
# --iam-dir: the internal IAM, which holds the API's account.
launch() {
  start_bg env -i PATH="$PATH" HOME="${HOME:-/root}" \
    ROOT_ACCESS_KEY_ID="$ACCESS_KEY" ROOT_SECRET_ACCESS_KEY="$SECRET_KEY" \
    "$BIN" --port "$HOST:$PORT" --region "$REGION" --keep-alive --iam-dir "$IAM" \
    posix "$@" "$DATA" 9>&-
}

# launch_tls <metadata args...>: the second gateway, TLS on TLS_PORT, same
# data and IAM, with the test set's server certificate (its chain: the
# certificate, then the CA's).
launch_tls() {
  tls_do start_bg env -i PATH="$PATH" HOME="${HOME:-/root}" \
    ROOT_ACCESS_KEY_ID="$ACCESS_KEY" ROOT_SECRET_ACCESS_KEY="$SECRET_KEY" \
    "$BIN" --port "$HOST:$TLS_PORT" --region "$REGION" --keep-alive --iam-dir "$IAM" \
    --cert "$TLS_DIR/server.pem" --key "$TLS_DIR/server-key.pem" \
    posix "$@" "$DATA" 9>&-
}

# meta_args: the posix backend's metadata arguments of the mode fixed by
# the first start.
meta_args() {
  [[ $(cat "$META_MODE" 2>/dev/null) == sidecar ]] && printf '%s\n' --sidecar "$SIDECAR"
  return 0
}

# await_healthy <log offset>: poll until healthy. Returns 2 if the server
# exited because the filesystem has no user xattrs (versitygw tests this at
# start), dies on any other exit or on timeout.
await_healthy() {
  local off=$1 deadline=$((SECONDS + START_TIMEOUT))
  until list_buckets_ok; do
    if ! running; then # not `ours`: right after the fork it is not versitygw yet
      tail -c +"$((off + 1))" "$LOG" | grep -q 'xattrs are not supported' && return 2
      die "versitygw exited during start-up"
    fi
    (( SECONDS < deadline )) || die "not healthy after ${START_TIMEOUT}s"
    sleep 0.2
  done
}

up_plain() {
  # A gateway started by this script before it had accounts runs without
  # --iam-dir: it cannot hold the API's account. Restarting it is the
  # operator's call (tests of other checkouts may be using it).
  if ours && ! runs_cmd " --iam-dir $IAM "; then
    die "the S3 gateway at $ENDPOINT (pid $(cat "$(pidfile)")) runs without --iam-dir $IAM, from before the API's account existed; restart it: services/s3.sh down && services/s3.sh up (data is kept)"
  fi
  if ours; then
    if list_buckets_ok; then
      say "already up at $ENDPOINT (pid $(cat "$(pidfile)"), RSS $(rss))"
      return 0
    fi
    say "pid $(cat "$(pidfile)") is starting; waiting for it"
    await_healthy "$(stat -c %s "$LOG")" || die "versitygw exited during start-up"
    say "up at $ENDPOINT"
    return 0
  fi
  rm -f "$(pidfile)" # stale: its process is gone or is not our server

  # Someone else on our port (another checkout's server, ...): never report
  # a server whose data we do not own as ours.
  local who
  who=$(listener_of "$PORT")
  if [[ -n $who ]]; then
    say "$HOST:$PORT is taken by a process that is not this checkout's S3 server: $who"
    say "stop it (another checkout's: with its own services/s3.sh down)"
    exit 1
  fi

  ensure_binary
  mkdir -p "$DATA" || die "cannot create the data dir $DATA"
  # users.json holds the accounts' secrets
  { mkdir -p "$IAM" && chmod 0700 "$IAM"; } || die "cannot create the IAM dir $IAM"

  local mode t0=$SECONDS off rc=0
  mode=$(cat "$META_MODE" 2>/dev/null || echo auto)
  # A failed or timed-out start must not leave a half-started server that
  # the next `up` would take for one still starting.
  trap 'stop_bg >/dev/null 2>&1' EXIT
  off=$(stat -c %s "$LOG")
  echo "=== $(date -Is) starting versitygw $VGW_VERSION posix $DATA (metadata: $mode)" >>"$LOG"
  case $mode in
    sidecar)
      mkdir -p "$SIDECAR" || die "cannot create the sidecar dir $SIDECAR"
      launch --sidecar "$SIDECAR" ;;
    *) launch ;;
  esac
  await_healthy "$off" || rc=$?
  if (( rc == 2 )); then
    rm -f "$(pidfile)"
    [[ $mode == auto ]] || die "the filesystem of $DATA no longer supports user xattrs, which hold its objects' metadata; wipe $STATE to start afresh"
    say "no user xattrs on the filesystem of $DATA: keeping object metadata in $SIDECAR"
    mode=sidecar
    mkdir -p "$SIDECAR" || die "cannot create the sidecar dir $SIDECAR"
    off=$(stat -c %s "$LOG")
    echo "=== $(date -Is) starting versitygw $VGW_VERSION posix --sidecar $SIDECAR $DATA" >>"$LOG"
    launch --sidecar "$SIDECAR"
    await_healthy "$off" || die "versitygw exited during start-up"
  fi
  trap - EXIT
  [[ $mode == auto ]] && mode=xattr
  echo "$mode" >"$META_MODE"
  say "up at $ENDPOINT in $((SECONDS - t0))s (pid $(cat "$(pidfile)"), RSS $(rss), data $DATA, metadata in $mode)"
}

# up_tls: the TLS gateway, started after the plain one has fixed the
# metadata mode. Its health check also proves the certificate verifies
# against the test CA for 127.0.0.1.
up_tls() {
  if tls_ours; then
    local deadline=$((SECONDS + START_TIMEOUT))
    until tls_ok; do
      tls_ours || die "the TLS gateway exited during start-up (log: $LOG_DIR/s3-tls.log)"
      (( SECONDS < deadline )) || die "the TLS gateway is not healthy after ${START_TIMEOUT}s (log: $LOG_DIR/s3-tls.log)"
      sleep 0.2
    done
    say "TLS gateway up at $TLS_ENDPOINT (pid $(tls_do cat "$(tls_do pidfile)"))"
    return 0
  fi
  tls_do rm -f "$(tls_do pidfile)"
  local who
  who=$(listener_of "$TLS_PORT")
  [[ -z $who ]] || die "$HOST:$TLS_PORT is taken by a process that is not this checkout's TLS S3 gateway: $who"
  local args=()
  mapfile -t args < <(meta_args)
  echo "=== $(date -Is) starting versitygw $VGW_VERSION TLS gateway posix ${args[*]} $DATA" >>"$LOG_DIR/s3-tls.log"
  launch_tls "${args[@]}"
  local deadline=$((SECONDS + START_TIMEOUT))
  until tls_ok; do
    if ! tls_do running; then
      tail -n 20 "$LOG_DIR/s3-tls.log" >&2
      die "the TLS gateway exited during start-up (log: $LOG_DIR/s3-tls.log)"
    fi
    (( SECONDS < deadline )) || { tls_do stop_bg; die "the TLS gateway is not healthy after ${START_TIMEOUT}s (log: $LOG_DIR/s3-tls.log)"; }
    sleep 0.2
  done
  say "TLS gateway up at $TLS_ENDPOINT (pid $(tls_do cat "$(tls_do pidfile)"), cert $TLS_DIR/server.pem)"
}

# vgw_admin <admin sub-command...>: versitygw's admin CLI against the plain
# gateway (accounts are written through one gateway only), as root; the
# root credentials through the environment, out of `ps`. The new account's
# secret goes on the command line: the CLI has no other way, and it is a
# test secret (the compose file's own account: see docker/README.md).
vgw_admin() {
  env -i PATH="$PATH" HOME="${HOME:-/root}" \
    ADMIN_ACCESS_KEY_ID="$ACCESS_KEY" ADMIN_SECRET_ACCESS_KEY="$SECRET_KEY" \
    "$BIN" admin --endpoint-url "$ENDPOINT" --region "$REGION" "$@" 9>&-
}

# api_account: the API's account (role user) and the bucket it owns, made
# or repaired on every `up`: a changed secret or role is put back, and a
# bucket made earlier by root is handed to the account.
api_account() {
  local out
  if ! out=$(vgw_admin create-user --access "$API_ACCESS_KEY" --secret "$API_SECRET_KEY" --role user 2>&1); then
    grep -qi 'exist' <<<"$out" || die "cannot create the API's account $API_ACCESS_KEY: $out"
    out=$(vgw_admin update-user --access "$API_ACCESS_KEY" --secret "$API_SECRET_KEY" --role user 2>&1) ||
      die "cannot update the API's account $API_ACCESS_KEY: $out"
  fi
  if ! out=$(vgw_admin create-bucket --owner "$API_ACCESS_KEY" --bucket "$API_BUCKET" 2>&1); then
    grep -q 'BucketAlready' <<<"$out" || die "cannot create the bucket $API_BUCKET owned by $API_ACCESS_KEY: $out"
    out=$(vgw_admin change-bucket-owner --bucket "$API_BUCKET" --owner "$API_ACCESS_KEY" 2>&1) ||
      die "cannot give the bucket $API_BUCKET to $API_ACCESS_KEY: $out"
  fi
  say "account $API_ACCESS_KEY (role user) owns bucket $API_BUCKET"
}

up() {
  need curl "curl 7.75+ (the health check signs a request with --aws-sigv4)"
  "$(dirname "${BASH_SOURCE[0]}")/tls.sh" up 9>&- || die "services/tls.sh up failed: no certificate for the TLS gateway"
  up_plain
  up_tls
  api_account
}

# SIGTERM: versitygw shuts down cleanly. The TLS gateway first: it serves
# the same data.
down() {
  local rc=0
  if tls_ours; then tls_do stop_bg || rc=1; else tls_do rm -f "$(tls_do pidfile)"; fi
  stop_ours || rc=1
  return $rc
}

status() {
  local rc=1
  if ours && list_buckets_ok; then
    say "up at $ENDPOINT (pid $(cat "$(pidfile)"), RSS $(rss), versitygw $VGW_VERSION, data $DATA, metadata in $(cat "$META_MODE" 2>/dev/null || echo '?'))"
    rc=0
  elif ours; then
    say "pid $(cat "$(pidfile)") runs but does not answer at $ENDPOINT"
  elif [[ -n $(listener_of "$PORT") ]]; then
    say "down; $HOST:$PORT is held by another process: $(listener_of "$PORT")"
  else
    say "down"
  fi
  if tls_ours && tls_ok; then
    say "TLS gateway up at $TLS_ENDPOINT (pid $(tls_do cat "$(tls_do pidfile)"), CA $TLS_DIR/ca.pem)"
  else
    rc=1
    if tls_ours; then
      say "TLS gateway pid $(tls_do cat "$(tls_do pidfile)") runs but does not answer at $TLS_ENDPOINT"
    else
      say "TLS gateway down"
    fi
  fi
  say "access key $ACCESS_KEY, secret key $SECRET_KEY, region $REGION (test credentials)"
  say "API key $API_ACCESS_KEY, secret $API_SECRET_KEY, limited to bucket $API_BUCKET"
  return $rc
}

env_lines() {
  cat <<ENV
export TAGSTREAM_S3_ENDPOINT=$ENDPOINT
export TAGSTREAM_S3_ACCESS_KEY=$ACCESS_KEY
export TAGSTREAM_S3_SECRET_KEY=$SECRET_KEY
export TAGSTREAM_S3_REGION=$REGION
export TAGSTREAM_TEST_S3_TLS_ENDPOINT=$TLS_ENDPOINT
export TAGSTREAM_TEST_S3_API_ACCESS_KEY=$API_ACCESS_KEY
export TAGSTREAM_TEST_S3_API_SECRET_KEY=$API_SECRET_KEY
export TAGSTREAM_TEST_S3_API_BUCKET=$API_BUCKET
ENV
}

# One up/down at a time per checkout: two concurrent `up`s would otherwise
# both start a server and race for the port. `status` and `env` do not wait
# for the lock, so they answer at once while an `up` is in progress.
lock() { exec 9>"$STATE/lock"; flock 9; }

case ${1:-} in
  up) lock; up ;;
  down) lock; down ;;
  status) status ;;
  env) env_lines ;;
  *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
