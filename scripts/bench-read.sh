#!/usr/bin/env bash
# scripts/bench-read.sh [DURATION]
#
# The read path (issue 13, item 2): wrk against tagstream's
# GET /v1/hashtags/{tag} and against nginx serving the very same bodies as
# static files, same threads, connections and duration, in one run.
#
#  1. `tagstream run` on a fresh data dir under a temp dir (embedded broker,
#     embedded image store, so pages carry signed image URLs), its own ports
#     on 127.0.0.1.
#  2. `tagstream load --via kafka --seed SEED --posts POSTS`: posts with
#     Zipf hashtags; then `readpath fill` (bench/readpath): for the HOT most
#     posted hashtags, posts with an image_id onto `posts` (at least 110 per
#     hashtag; `tagstream load` gives no image ids), 2-50 likes each, one
#     like on a tenth of the load's posts; it waits until every hot page
#     shows 100 top posts with image URLs and the pipeline is idle.
#  3. `readpath pages`: the HOT hottest pages and TAIL (800) sampled from the
#     other hashtags, each fetched once from tagstream and written under an
#     nginx root at its URL path; the URL list, shuffled with the seed.
#  4. nginx (stock Debian settings: worker_processes auto, sendfile on,
#     tcp_nopush on, keepalive, access log on; default_type
#     application/json; charset utf-8) on its own port.
#  5. For each connection count, wrk -t THREADS -d DURATION --latency with
#     walk.lua (every thread walks the URL list from its own offset) against
#     both, the side going first alternating; a WARMUP run before each. The
#     servers' CPU time is read from /proc around every run.
#  6. `readpath verify` (did tagstream's bodies change during the runs?),
#     then `readpath report`: OUT/read-<UTC time>.json and .md, copied to
#     OUT/read-latest.json and .md, the table printed.
# Every process it starts is stopped on exit, and the temp dir removed.
#
# Environment (defaults in brackets):
#   DURATION [20s]       each measured run (the argument wins)
#   THREADS [2]          wrk threads     CONNS ["64 256"]  connection counts
#   WARMUP [3s]          wrk run before each measured one, not recorded (0: none)
#   POSTS [100000]       posts of `tagstream load`   SEED [1]  its seed, and readpath's
#   HOT [200]  TAIL [800]  pages: the hottest hashtags, and a sample of the rest
#   HTTP_PORT [28380] KAFKA_PORT [29392] NGINX_PORT [28381] PPROF_PORT [28382]
#   NGINX_ACCESS_LOG [on]  off drops nginx's one log line per request
#   PPROF_SECONDS [0]    >0: after the runs, a CPU profile of tagstream under
#                        wrk (64 connections) for that many seconds, its top
#                        in OUT/read-<time>.pprof.txt
#   OUT [bench/results]  KEEP [0]  1 keeps the temp dir (data, logs, bodies)
#
# Tools: wrk and nginx on PATH are used as they are. Otherwise they come
# from Debian (bookworm) without installing anything: `apt-get download`
# of wrk (+ libluajit-5.1-2 and -common) and of nginx, unpacked with
# `dpkg -x` into .services/wrk/root and .services/nginx/root, like
# scripts/img-bench.sh does for vips. Not `apt-get install`, even as root:
# it would change a machine others share, and Debian's nginx package starts
# a server on port 80 when installed. The unpacked nginx has no
# /etc/nginx or /var/lib/nginx: its config here keeps the pid, the logs and
# the temp dirs in the run's temp dir (it logs errors to stderr by default).
# Debian's nginx needs only libraries every Debian system has (libssl3,
# libpcre2, zlib, libcrypt); ldd checks both binaries after unpacking.
# apt-get download needs the package lists: as root this runs `apt-get
# update` once if they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${1:-${DURATION:-20s}}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64 256}
WARMUP=${WARMUP:-3s}
POSTS=${POSTS:-100000}
SEED=${SEED:-1}
HOT=${HOT:-200}
TAIL=${TAIL:-800}
HTTP_PORT=${HTTP_PORT:-28380}
KAFKA_PORT=${KAFKA_PORT:-29392}
NGINX_PORT=${NGINX_PORT:-28381}
PPROF_PORT=${PPROF_PORT:-28382}
NGINX_ACCESS_LOG=${NGINX_ACCESS_LOG:-on}
PPROF_SECONDS=${PPROF_SECONDS:-0}
OUT=${OUT:-bench/results}
KEEP=${KEEP:-0}
API=http://127.0.0.1:$HTTP_PORT
NGINX_URL=http://127.0.0.1:$NGINX_PORT

log() { echo "bench-read: $*" >&2; }
die() {
  log "$*"
  exit 1
}

command -v go >/dev/null || die "missing: Go (https://go.dev/dl)"
command -v curl >/dev/null || die "missing: curl (Debian: apt-get install curl)"

# --- tools -------------------------------------------------------------

# deb_unpack ROOT PKG...: apt-get download PKG... and dpkg -x them into ROOT.
deb_unpack() {
  local root=$1 debs
  shift
  command -v apt-get >/dev/null || die "missing: $1, and apt-get to fetch it from Debian"
  debs=$(dirname "$root")/debs
  rm -rf "$debs" "$root"
  mkdir -p "$debs"
  log "fetching $* from Debian into $root"
  if ! (cd "$debs" && apt-get download "$@") >&2; then
    [[ $(id -u) == 0 ]] || die "apt-get download $* failed: run apt-get update once as root"
    log "apt-get download failed: apt-get update, then again"
    apt-get update >&2
    (cd "$debs" && apt-get download "$@") >&2 || die "apt-get download $* failed"
  fi
  local deb
  for deb in "$debs"/*.deb; do dpkg -x "$deb" "$root"; done
}

# libpath ROOT: the directories of the shared libraries unpacked in ROOT.
libpath() { find "$1" -name '*.so*' -printf '%h\n' | sort -u | paste -sd:; }

# check_ldd LIBPATH BIN: fails naming a library BIN cannot find.
check_ldd() {
  local missing
  missing=$(LD_LIBRARY_PATH=$1 ldd "$2" | grep 'not found' || true)
  [[ -z $missing ]] || die "$2 lacks libraries (install their packages): $missing"
}

WRK=$(command -v wrk || true)
WRK_LIBS=
if [[ -z $WRK ]]; then
  root=$PWD/.services/wrk/root
  [[ -x $root/usr/bin/wrk ]] || deb_unpack "$root" wrk libluajit-5.1-2 libluajit-5.1-common
  WRK=$root/usr/bin/wrk
  WRK_LIBS=$(libpath "$root")
  check_ldd "$WRK_LIBS" "$WRK"
fi
NGINX=$(command -v nginx || true)
[[ -n $NGINX ]] || NGINX=$(PATH=/usr/sbin:/sbin command -v nginx || true)
if [[ -z $NGINX ]]; then
  root=$PWD/.services/nginx/root
  [[ -x $root/usr/sbin/nginx ]] || deb_unpack "$root" nginx
  NGINX=$root/usr/sbin/nginx
  check_ldd "" "$NGINX"
fi
wrk() { LD_LIBRARY_PATH=$WRK_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$WRK" "$@"; }
# wrk -v prints its version and exits 1; nginx -v writes to stderr.
WRK_VERSION=$(wrk -v 2>&1 | head -1 | awk '{print $2}' || true)
NGINX_VERSION=$("$NGINX" -v 2>&1 | sed 's/.*nginx\///')
log "wrk $WRK_VERSION ($WRK), nginx $NGINX_VERSION ($NGINX)"

# --- processes ---------------------------------------------------------

for p in "$HTTP_PORT" "$KAFKA_PORT" "$NGINX_PORT" "$PPROF_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    die "port $p is in use (set HTTP_PORT, KAFKA_PORT, NGINX_PORT, PPROF_PORT)"
  fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-read.XXXXXX")
# nginx's workers run as www-data when started by root: they must read the
# bodies (tagstream keeps its own data dir 0700 inside).
chmod 755 "$tmp"
ts_pid='' ngx_pid=''
cleanup() {
  local rc=$?
  if [[ -n $ngx_pid ]]; then
    kill "$ngx_pid" 2>/dev/null || true
    wait "$ngx_pid" 2>/dev/null || true
  fi
  if [[ -n $ts_pid ]]; then
    kill "$ts_pid" 2>/dev/null || true
    wait "$ts_pid" 2>/dev/null || true
  fi
  if [[ $KEEP == 1 ]]; then
    log "kept $tmp"
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building bin/tagstream and readpath"
go build -o bin/tagstream ./cmd/tagstream
go build -o "$tmp/readpath" ./bench/readpath
"$tmp/readpath" lua >"$tmp/walk.lua"

pprof=()
[[ $PPROF_SECONDS == 0 ]] || pprof=(--pprof "127.0.0.1:$PPROF_PORT")
# --log-level info logs the ranking's trending sweeps, counted below.
./bin/tagstream run --data "$tmp/tagstream" --http "127.0.0.1:$HTTP_PORT" \
  --kafka-listen "127.0.0.1:$KAFKA_PORT" --log-level info "${pprof[@]}" >"$tmp/run.log" 2>&1 &
ts_pid=$!
for _ in $(seq 1 120); do
  curl -sf "$API/readyz" >/dev/null 2>&1 && break
  kill -0 "$ts_pid" 2>/dev/null || break
  sleep 0.5
done
curl -sf "$API/readyz" >/dev/null || {
  tail -30 "$tmp/run.log" >&2
  die "tagstream run did not become ready"
}

data_flags=(--posts "$POSTS" --seed "$SEED")
log "tagstream load: $POSTS posts, seed $SEED"
./bin/tagstream load --brokers "127.0.0.1:$KAFKA_PORT" --api "$API" --via kafka "${data_flags[@]}"
"$tmp/readpath" fill --brokers "127.0.0.1:$KAFKA_PORT" --api "$API" --hot "$HOT" "${data_flags[@]}"
www=$tmp/www
"$tmp/readpath" pages --api "$API" --hot "$HOT" --tail "$TAIL" "${data_flags[@]}" \
  --root "$www" --paths "$tmp/paths.txt" --mix "$tmp/mix.json"
chmod -R a+rX "$www"

# Debian's stock nginx.conf, less what serves no purpose here (ssl,
# gzip, which wrk would not ask for anyway, includes), its paths in $tmp.
ngx=$tmp/nginx
mkdir -p "$ngx"
user=
if [[ $(id -u) == 0 ]]; then
  user="user $(getent passwd www-data >/dev/null && echo www-data || echo nobody);"
fi
access_log=off
[[ $NGINX_ACCESS_LOG == off ]] || access_log=$ngx/access.log
cat >"$ngx/nginx.conf" <<EOF
$user
worker_processes auto;
pid $ngx/nginx.pid;
error_log $ngx/error.log;
events {
    worker_connections 768;
}
http {
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    access_log $access_log;
    client_body_temp_path $ngx/body;
    proxy_temp_path $ngx/proxy;
    fastcgi_temp_path $ngx/fastcgi;
    uwsgi_temp_path $ngx/uwsgi;
    scgi_temp_path $ngx/scgi;
    types { }
    default_type application/json;
    charset utf-8;
    charset_types application/json;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $www;
    }
}
EOF
"$NGINX" -p "$ngx" -c "$ngx/nginx.conf" -g 'daemon off;' 2>"$ngx/stderr.log" &
ngx_pid=$!
for _ in $(seq 1 50); do
  curl -s -o /dev/null "$NGINX_URL/" 2>/dev/null && break
  kill -0 "$ngx_pid" 2>/dev/null || break
  sleep 0.1
done
hot_path=$(sed -n 's/.*"headers_path": "\(.*\)".*/\1/p' "$tmp/mix.json")
curl -sf -D "$tmp/nginx-headers.txt" -o "$tmp/nginx-body" "$NGINX_URL$hot_path" || {
  cat "$ngx/stderr.log" "$ngx/error.log" >&2 2>/dev/null || true
  die "nginx does not serve $hot_path (as root its workers run as www-data: is $tmp readable by others? set TMPDIR)"
}
cmp -s "$tmp/nginx-body" "$www$hot_path" || die "nginx serves another body for $hot_path"

# --- runs --------------------------------------------------------------

hz=$(getconf CLK_TCK)
# cpu_ticks PID...: user + system ticks of the processes.
cpu_ticks() {
  local p t=0
  for p in "$@"; do
    [[ -r /proc/$p/stat ]] || continue
    # Fields after the command name, which is in parentheses: utime is
    # the 14th field of the line, stime the 15th.
    t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$t"
}
# server_pids SIDE: its processes, one a line (nginx: the master and workers).
server_pids() {
  if [[ $1 == tagstream ]]; then
    echo "$ts_pid"
  else
    echo "$ngx_pid"
    # The workers: processes whose parent is the master (/proc, as ps
    # --ppid would tell, without needing procps).
    local f
    for f in /proc/[0-9]*/stat; do
      sed 's/.*) //' "$f" 2>/dev/null | awk -v p="$ngx_pid" -v f="$f" '$2 == p {split(f, a, "/"); print a[3]}'
    done
  fi
}
url_of() { if [[ $1 == tagstream ]]; then echo "$API"; else echo "$NGINX_URL"; fi; }
sweeps() { grep -c 'rank: trending sweep' "$tmp/run.log" || true; }

loadavg=$(cat /proc/loadavg)
t0=$(cpu_ticks "$ts_pid")
sleep 5
idle=$(awk -v a="$t0" -v b="$(cpu_ticks "$ts_pid")" -v hz="$hz" 'BEGIN {printf "%.2f", (b - a) / hz / 5}')
log "tagstream idle (load done): $idle cores over 5 s; load average $loadavg"

curl -sf "$API/metrics" >"$tmp/metrics-before" || true
runs=$tmp/runs.jsonl
: >"$runs"
swept=0
i=0
for c in $CONNS; do
  if ((i % 2 == 0)); then order=(tagstream nginx); else order=(nginx tagstream); fi
  i=$((i + 1))
  n=0
  for side in "${order[@]}"; do
    n=$((n + 1))
    url=$(url_of "$side")
    if [[ $WARMUP != 0 ]]; then
      wrk -t"$THREADS" -c"$c" -d"$WARMUP" --timeout 10s -s "$tmp/walk.lua" "$url" -- "$tmp/paths.txt" "$THREADS" >/dev/null
    fi
    sleep 1
    log "$side, $c connections, $DURATION"
    mapfile -t pids < <(server_pids "$side")
    before=$(cpu_ticks "${pids[@]}")
    s0=$(sweeps)
    timing=()
    [[ -x /usr/bin/time ]] && timing=(/usr/bin/time -f '%U %S' -o "$tmp/wrk.time")
    wrk_out=$tmp/wrk-$side-c$c.txt
    LD_LIBRARY_PATH=$WRK_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "${timing[@]}" "$WRK" -t"$THREADS" -c"$c" -d"$DURATION" \
      --timeout 10s --latency -s "$tmp/walk.lua" "$url" -- "$tmp/paths.txt" "$THREADS" >"$wrk_out"
    after=$(cpu_ticks "${pids[@]}")
    [[ $side == tagstream ]] && swept=$((swept + $(sweeps) - s0))
    wrk_cpu=0
    [[ -s $tmp/wrk.time ]] && wrk_cpu=$(awk '{print $1 + $2}' "$tmp/wrk.time")
    grep -v '^readpath-wrk:' "$wrk_out" >&2
    "$tmp/readpath" wrk -side "$side" -conns "$c" -order "$n" -wrk-cpu-s "$wrk_cpu" \
      -server-cpu-s "$(awk -v a="$before" -v b="$after" -v hz="$hz" 'BEGIN {print (b - a) / hz}')" <"$wrk_out" >>"$runs"
  done
done

curl -sf "$API/metrics" >"$tmp/metrics-after" || true
# What the views' decoded-value caches (events.Cached) answered during the
# runs: a miss decodes a table value's JSON for the request.
cache=$(awk '$1 ~ /^tagstream_table_cache_lookups_total/ {
    if (NR == FNR) { b[$1] = $2; next }
    if ($2 - b[$1] > 0) { printf "%s%s +%d", sep, $1, $2 - b[$1]; sep = ", " } }' \
  "$tmp/metrics-before" "$tmp/metrics-after")
verify=$("$tmp/readpath" verify --api "$API" --root "$www" --paths "$tmp/paths.txt")
log "tagstream's bodies after the runs: $verify"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
notes=()
if [[ $PPROF_SECONDS != 0 ]]; then
  log "CPU profile of tagstream under wrk, 64 connections, ${PPROF_SECONDS}s"
  curl -s -o "$tmp/cpu.prof" "http://127.0.0.1:$PPROF_PORT/debug/pprof/profile?seconds=$PPROF_SECONDS" &
  prof_pid=$!
  wrk -t"$THREADS" -c64 -d"${PPROF_SECONDS}s" --timeout 10s -s "$tmp/walk.lua" "$API" -- "$tmp/paths.txt" "$THREADS" >/dev/null
  wait "$prof_pid"
  {
    go tool pprof -top -nodecount=40 bin/tagstream "$tmp/cpu.prof"
    echo
    go tool pprof -top -cum -nodecount=60 bin/tagstream "$tmp/cpu.prof"
  } >"$OUT/read-$stamp.pprof.txt" 2>/dev/null
  notes+=(--note "pprof=CPU profile of tagstream under wrk (64 connections, ${PPROF_SECONDS} s, after the runs): read-$stamp.pprof.txt")
fi

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit+=" (with uncommitted changes)"
"$tmp/readpath" report --mix "$tmp/mix.json" --nginx-headers "$tmp/nginx-headers.txt" --runs "$runs" \
  --out "$OUT" --stamp "$stamp" --loadavg "$loadavg" \
  --version "wrk=$WRK_VERSION" --version "nginx=$NGINX_VERSION" --version "tagstream=$commit" \
  --setting "duration=$DURATION" --setting "threads=$THREADS" --setting "connections=$CONNS" \
  --setting "warmup=$WARMUP per side and connection count, not recorded" --setting "wrk timeout=10s" \
  --setting "data=tagstream load --via kafka --posts $POSTS --seed $SEED, then readpath fill (image posts on the $HOT hottest hashtags, likes)" \
  --setting "tagstream=tagstream run (embedded broker and image store, exactly-once, default flags but --log-level info), one process" \
  --setting "nginx=Debian's stock settings: worker_processes auto, worker_connections 768, sendfile on, tcp_nopush on, keepalive (timeout 75 s, 1,000 requests), access_log $NGINX_ACCESS_LOG, default_type application/json; charset utf-8" \
  --note "idle=tagstream used $idle cores over 5 s before the runs, its pipeline idle (load done)" \
  --note "busy machine=others' work shared the $(nproc) cores during the runs (load average before: $loadavg); wrk ran on the same cores" \
  --note "bodies=tagstream's bodies fetched again after the runs: $verify (signed image URLs change at the top of each hour's bucket)" \
  --note "trending sweeps=$swept of the ranking's trending sweeps (every --rank-interval, 60 s) ran during tagstream's measured runs" \
  --note "images=image ids were produced onto posts without uploading images: pages carry signed URLs, the origin would answer 404" \
  --note "view caches=tagstream's table cache lookups during the runs: ${cache:-none counted}" \
  "${notes[@]}"
