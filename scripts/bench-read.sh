#!/usr/bin/env bash
# scripts/bench-read.sh [DURATION]
#
# The read path (issue 13, item 2; issue 15, part 4): wrk against
# tagstream's GET /v1/hashtags/{tag}, against nginx serving the very same
# bodies as static files, and against the edge (Varnish with
# docker/varnish/tagstream.vcl) in front of the same tagstream, same
# threads, connections and duration, in one run.
#
#  1. varnishd (services/varnish.sh ensure, then path) on VARNISH_PORT with
#     docker/varnish/tagstream.vcl and a site.vcl written to the temp dir
#     (vcl_path: that dir first, then docker/varnish): backend the
#     `tagstream run` below, probed on /readyz every second, purges from
#     127.0.0.1; -s malloc,256m, default parameters.
#     Then `tagstream run` on a fresh data dir under a temp dir (embedded
#     broker, embedded image store, so pages carry signed image URLs), its
#     own ports on 127.0.0.1, with --edge-purge pointing at that varnishd:
#     the setup a user deploys.
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
#     application/json; charset utf-8) on its own port. nginx and the edge
#     are checked to serve the hottest page's body as tagstream did (the
#     edge: from its cache the second time).
#  5. For each connection count, wrk -t THREADS -d DURATION --latency with
#     walk.lua (every thread walks the URL list from its own offset) against
#     the three sides, in the order tagstream, nginx, edge at the first
#     count and reversed at the next, and so on (each pair swaps which goes
#     first); a WARMUP run before each (for the edge it also fills the
#     cache). The servers' CPU time is read from /proc around every run
#     (the edge's: varnishd's manager and child; tagstream's during it,
#     apart). Around each edge run, `varnishstat -1 -j` and tagstream's
#     /metrics: the hit ratio (cache_hit / (cache_hit + cache_miss)), the
#     share of the edge's requests that reached tagstream (backend_req /
#     client_req, and tagstream's own count of page requests), the keys
#     --edge-purge purged meanwhile. wrk sends every side
#     Accept-Encoding: ACCEPT_ENCODING (gzip, as browsers do): only the
#     edge compresses JSON (tagstream.vcl stores it gzipped), so it alone
#     answers gzip; ACCEPT_ENCODING= sends none, and the edge then gunzips
#     every response it delivers.
#  6. `readpath verify` (did tagstream's bodies change during the runs?),
#     then `readpath report`: OUT/read-<UTC time>.json and .md, copied to
#     OUT/read-latest.json and .md, the table printed.
# Every process it starts is stopped on exit, and the temp dir removed.
#
# Environment (defaults in brackets):
#   DURATION [20s]       each measured run (the argument wins)
#   ACCEPT_ENCODING [gzip]  wrk's Accept-Encoding to every side (empty: none)
#   THREADS [2]          wrk threads     CONNS ["64 256"]  connection counts
#   WARMUP [3s]          wrk run before each measured one, not recorded (0: none)
#   POSTS [100000]       posts of `tagstream load`   SEED [1]  its seed, and readpath's
#   HOT [200]  TAIL [800]  pages: the hottest hashtags, and a sample of the rest
#   HTTP_PORT [28380] KAFKA_PORT [29392] NGINX_PORT [28381] PPROF_PORT [28382]
#   VARNISH_PORT [28383]  the edge's listen port (its CLI: a free port)
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
# update` once if they are missing. Varnish is the exception: the edge
# needs Debian's varnish and varnish-modules (vmod xkey) installed, which
# services/varnish.sh ensure does as root (and says what to install
# otherwise), as the edge's tests do.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${1:-${DURATION:-20s}}
ACCEPT_ENCODING=${ACCEPT_ENCODING-gzip}
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
VARNISH_PORT=${VARNISH_PORT:-28383}
NGINX_ACCESS_LOG=${NGINX_ACCESS_LOG:-on}
PPROF_SECONDS=${PPROF_SECONDS:-0}
OUT=${OUT:-bench/results}
KEEP=${KEEP:-0}
API=http://127.0.0.1:$HTTP_PORT
NGINX_URL=http://127.0.0.1:$NGINX_PORT
EDGE_URL=http://127.0.0.1:$VARNISH_PORT

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
services/varnish.sh ensure
VARNISHD=$(services/varnish.sh path)
VARNISHSTAT=$(command -v varnishstat || true)
[[ -n $VARNISHSTAT ]] || die "missing: varnishstat (Debian: varnish)"
# Every side gets the same requests, with the Accept-Encoding every browser
# sends: only the edge compresses JSON (tagstream.vcl), so only it answers
# gzip; without it, the edge would gunzip every page it stores gzipped.
wrk_headers=()
[[ -n $ACCEPT_ENCODING ]] && wrk_headers=(-H "Accept-Encoding: $ACCEPT_ENCODING")
wrk() { LD_LIBRARY_PATH=$WRK_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$WRK" "$@"; }
# wrk -v prints its version and exits 1; nginx -v writes to stderr.
WRK_VERSION=$(wrk -v 2>&1 | head -1 | awk '{print $2}' || true)
NGINX_VERSION=$("$NGINX" -v 2>&1 | sed 's/.*nginx\///')
VARNISH_VERSION=$("$VARNISHD" -V 2>&1 | sed -n 's/.*(varnish-\([^ ]*\) .*/\1/p' | head -1)
log "wrk $WRK_VERSION ($WRK), nginx $NGINX_VERSION ($NGINX), varnish $VARNISH_VERSION ($VARNISHD)"

# --- processes ---------------------------------------------------------

for p in "$HTTP_PORT" "$KAFKA_PORT" "$NGINX_PORT" "$PPROF_PORT" "$VARNISH_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    die "port $p is in use (set HTTP_PORT, KAFKA_PORT, NGINX_PORT, PPROF_PORT, VARNISH_PORT)"
  fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-read.XXXXXX")
# nginx's workers run as www-data when started by root: they must read the
# bodies (tagstream keeps its own data dir 0700 inside).
chmod 755 "$tmp"
ts_pid='' ngx_pid='' vnsh_pid=''
cleanup() {
  local rc=$? p
  # varnishd's manager stops its child on TERM.
  for p in "$ngx_pid" "$vnsh_pid" "$ts_pid"; do
    [[ -n $p ]] || continue
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
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

# The edge first, so that the purges of `tagstream run` reach it from the
# start. Its site.vcl: the backend is that tagstream (the probe sees it
# sick until it is ready), purges come from this machine.
vsh=$tmp/varnish
mkdir -p "$vsh/site"
cat >"$vsh/site/site.vcl" <<EOF
# bench-read.sh: tagstream run on this machine.
backend default {
	.host = "127.0.0.1";
	.port = "$HTTP_PORT";
	.connect_timeout = 2s;
	.first_byte_timeout = 15s;
	.probe = {
		.url = "/readyz";
		.interval = 1s;
		.timeout = 1s;
		.window = 3;
		.threshold = 2;
		.initial = 2;
	}
}
acl purgers {
	"127.0.0.1";
	"::1";
}
EOF
# -j none: one user, no jail, as the edge's tests run it (the workdir is
# under the temp dir, removed on exit).
"$VARNISHD" -F -j none -n "$vsh/work" -a "127.0.0.1:$VARNISH_PORT" -T 127.0.0.1:0 \
  -p "vcl_path=$vsh/site:$PWD/docker/varnish" -f "$PWD/docker/varnish/tagstream.vcl" \
  -s malloc,256m >"$vsh/varnishd.log" 2>&1 &
vnsh_pid=$!
for _ in $(seq 1 100); do
  curl -s -o /dev/null "$EDGE_URL/" 2>/dev/null && break
  kill -0 "$vnsh_pid" 2>/dev/null || break
  sleep 0.2
done
curl -s -o /dev/null "$EDGE_URL/" || {
  tail -30 "$vsh/varnishd.log" >&2
  die "varnishd did not start"
}
vstat() { "$VARNISHSTAT" -n "$vsh/work" -1 -j; }

pprof=()
[[ $PPROF_SECONDS == 0 ]] || pprof=(--pprof "127.0.0.1:$PPROF_PORT")
# --log-level info logs the ranking's trending sweeps, counted below.
./bin/tagstream run --data "$tmp/tagstream" --http "127.0.0.1:$HTTP_PORT" \
  --kafka-listen "127.0.0.1:$KAFKA_PORT" --edge-purge "$EDGE_URL" --log-level info "${pprof[@]}" >"$tmp/run.log" 2>&1 &
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
# The edge: the same body (curl sends no Accept-Encoding: gunzipped),
# and a hit the second time. Its probe must see tagstream healthy first.
for _ in $(seq 1 50); do
  curl -sf -o /dev/null "$EDGE_URL$hot_path" && break
  sleep 0.2
done
curl -sf -o /dev/null "$EDGE_URL$hot_path" || die "the edge does not serve $hot_path (log: $vsh/varnishd.log)"
curl -sf -D "$tmp/edge-headers.txt" -o "$tmp/edge-body" "$EDGE_URL$hot_path" || die "the edge does not serve $hot_path"
cmp -s "$tmp/edge-body" "$www$hot_path" || die "the edge serves another body for $hot_path"
grep -qi '^X-Cache: HIT' "$tmp/edge-headers.txt" || {
  cat "$tmp/edge-headers.txt" >&2
  die "the edge did not serve $hot_path from its cache the second time"
}

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
# with_children PID: PID and the processes whose parent it is, one a line
# (/proc, as ps --ppid would tell, without needing procps).
with_children() {
  echo "$1"
  local f
  for f in /proc/[0-9]*/stat; do
    sed 's/.*) //' "$f" 2>/dev/null | awk -v p="$1" -v f="$f" '$2 == p {split(f, a, "/"); print a[3]}'
  done
}
# server_pids SIDE: its processes, one a line (nginx: the master and
# workers; the edge: varnishd's manager and its child).
server_pids() {
  case $1 in
  tagstream) echo "$ts_pid" ;;
  nginx) with_children "$ngx_pid" ;;
  edge) with_children "$vnsh_pid" ;;
  esac
}
url_of() {
  case $1 in
  tagstream) echo "$API" ;;
  nginx) echo "$NGINX_URL" ;;
  edge) echo "$EDGE_URL" ;;
  esac
}
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
  if ((i % 2 == 0)); then order=(tagstream nginx edge); else order=(edge nginx tagstream); fi
  i=$((i + 1))
  n=0
  for side in "${order[@]}"; do
    n=$((n + 1))
    url=$(url_of "$side")
    if [[ $WARMUP != 0 ]]; then
      wrk -t"$THREADS" -c"$c" -d"$WARMUP" --timeout 10s "${wrk_headers[@]}" -s "$tmp/walk.lua" "$url" -- "$tmp/paths.txt" "$THREADS" >/dev/null
    fi
    sleep 1
    log "$side, $c connections, $DURATION"
    mapfile -t pids < <(server_pids "$side")
    edge_flags=()
    if [[ $side == edge ]]; then
      vstat >"$tmp/vstat-c$c-before.json"
      curl -sf "$API/metrics" >"$tmp/edge-metrics-c$c-before" || : >"$tmp/edge-metrics-c$c-before"
      ts_before=$(cpu_ticks "$ts_pid")
    fi
    before=$(cpu_ticks "${pids[@]}")
    s0=$(sweeps)
    timing=()
    [[ -x /usr/bin/time ]] && timing=(/usr/bin/time -f '%U %S' -o "$tmp/wrk.time")
    wrk_out=$tmp/wrk-$side-c$c.txt
    LD_LIBRARY_PATH=$WRK_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "${timing[@]}" "$WRK" -t"$THREADS" -c"$c" -d"$DURATION" \
      --timeout 10s "${wrk_headers[@]}" --latency -s "$tmp/walk.lua" "$url" -- "$tmp/paths.txt" "$THREADS" >"$wrk_out"
    after=$(cpu_ticks "${pids[@]}")
    if [[ $side == edge ]]; then
      ts_after=$(cpu_ticks "$ts_pid")
      vstat >"$tmp/vstat-c$c-after.json"
      curl -sf "$API/metrics" >"$tmp/edge-metrics-c$c-after" || : >"$tmp/edge-metrics-c$c-after"
      edge_flags=(-varnishstat-before "$tmp/vstat-c$c-before.json" -varnishstat-after "$tmp/vstat-c$c-after.json"
        -origin-cpu-s "$(awk -v a="$ts_before" -v b="$ts_after" -v hz="$hz" 'BEGIN {print (b - a) / hz}')")
      if [[ -s $tmp/edge-metrics-c$c-before && -s $tmp/edge-metrics-c$c-after ]]; then
        edge_flags+=(-metrics-before "$tmp/edge-metrics-c$c-before" -metrics-after "$tmp/edge-metrics-c$c-after")
      fi
    fi
    [[ $side == tagstream ]] && swept=$((swept + $(sweeps) - s0))
    wrk_cpu=0
    [[ -s $tmp/wrk.time ]] && wrk_cpu=$(awk '{print $1 + $2}' "$tmp/wrk.time")
    grep -v '^readpath-wrk:' "$wrk_out" >&2
    "$tmp/readpath" wrk -side "$side" -conns "$c" -order "$n" -wrk-cpu-s "$wrk_cpu" \
      -server-cpu-s "$(awk -v a="$before" -v b="$after" -v hz="$hz" 'BEGIN {print (b - a) / hz}')" "${edge_flags[@]}" <"$wrk_out" >>"$runs"
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
"$tmp/readpath" report --mix "$tmp/mix.json" --nginx-headers "$tmp/nginx-headers.txt" --edge-headers "$tmp/edge-headers.txt" \
  --runs "$runs" --out "$OUT" --stamp "$stamp" --loadavg "$loadavg" \
  --version "wrk=$WRK_VERSION" --version "nginx=$NGINX_VERSION" --version "tagstream=$commit" --version "varnish=$VARNISH_VERSION" \
  --setting "duration=$DURATION" --setting "threads=$THREADS" --setting "connections=$CONNS" \
  --setting "warmup=$WARMUP per side and connection count, not recorded" --setting "wrk timeout=10s" \
  --setting "data=tagstream load --via kafka --posts $POSTS --seed $SEED, then readpath fill (image posts on the $HOT hottest hashtags, likes)" \
  --setting "tagstream=tagstream run (embedded broker and image store, exactly-once, default flags but --log-level info and --edge-purge to the edge), one process" \
  --setting "edge=varnishd -s malloc,256m, default parameters, docker/varnish/tagstream.vcl; site.vcl: backend the same tagstream run (probe /readyz every 1 s), purgers 127.0.0.1; the same wrk (Accept-Encoding: ${ACCEPT_ENCODING:-none})" \
  --setting "order=tagstream, nginx, edge at the first connection count, reversed at the next, and so on" \
  --setting "nginx=Debian's stock settings: worker_processes auto, worker_connections 768, sendfile on, tcp_nopush on, keepalive (timeout 75 s, 1,000 requests), access_log $NGINX_ACCESS_LOG, default_type application/json; charset utf-8" \
  --note "idle=tagstream used $idle cores over 5 s before the runs, its pipeline idle (load done)" \
  --note "busy machine=others' work shared the $(nproc) cores during the runs (load average before: $loadavg); wrk ran on the same cores" \
  --note "bodies=tagstream's bodies fetched again after the runs: $verify (signed image URLs change at the top of each hour's bucket)" \
  --note "trending sweeps=$swept of the ranking's trending sweeps (every --rank-interval, 60 s) ran during tagstream's measured runs" \
  --note "images=image ids were produced onto posts without uploading images: pages carry signed URLs, the origin would answer 404" \
  --note "view caches=tagstream's table cache lookups during the runs (the edge's misses included): ${cache:-none counted}" \
  --note "edge gzip=tagstream.vcl sets do_gzip on JSON: the edge stores pages gzipped; wrk sent every side Accept-Encoding: ${ACCEPT_ENCODING:-none} (browsers send gzip, and get the stored gzip; without it the edge gunzips each page it delivers); tagstream and nginx answer JSON uncompressed either way" \
  "${notes[@]}"
