#!/usr/bin/env bash
# scripts/load-bench.sh [POSTS] [LIKES]: end-to-end throughput of the
# embedded pipeline: starts `tagstream run` on a fresh data dir and free
# ports, produces POSTS posts with `tagstream load`, waits until every
# count the API serves equals the ground truth, prints posts/s; then, if
# LIKES > 0, gives LIKES likes (Zipf over the posts) and prints how long
# every group, the ranking's included, took and what each table's
# changelog received per like, and the ranking's last trending sweeps
# (hashtags visited, time taken).
set -euo pipefail
cd "$(dirname "$0")/.."
posts=${1:-1000000}
likes=${2:-0}
data=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
http=127.0.0.1:28080 kafka=127.0.0.1:29092
./bin/tagstream run --data "$data" --http $http --kafka-listen $kafka --log-level info ${STATE_DIR:+--state-dir "$data/state"} ${PPROF:+--pprof "$PPROF"} >"$data/run.log" 2>&1 &
pid=$!
for _ in $(seq 1 120); do
  curl -sf "http://$http/readyz" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -sf "http://$http/readyz" >/dev/null || { echo "tagstream run did not become ready:"; tail -50 "$data/run.log"; exit 1; }
./bin/tagstream load --brokers $kafka --api "http://$http" --posts "$posts" --likes "$likes" --seed 1 --via kafka
echo "trending sweeps (the last 3):"
grep 'rank: trending sweep' "$data/run.log" | tail -3 || echo "  none logged"
