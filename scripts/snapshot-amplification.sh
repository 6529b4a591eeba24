#!/usr/bin/env bash
# scripts/snapshot-amplification.sh [POSTS] [INTERVAL]: the rows the
# snapshotter writes to Cassandra per post under `tagstream load`, against
# one write per hashtag per post. Runs `tagstream run --cassandra` on a fresh
# data dir (embedded broker) against the Cassandra of services/cassandra.sh,
# in a fresh keyspace, produces POSTS posts (default 100,000; Zipf hashtags,
# about 8 per post, seed 1), waits until every count matched and two more
# snapshot intervals passed, and reads the snapshotter's row counter.
set -euo pipefail
cd "$(dirname "$0")/.."
posts=${1:-100000}
interval=${2:-5s}
# shellcheck source=scripts/own-services.sh
source scripts/own-services.sh
own_services cassandra >/dev/null
make -s build
# the test role services/cassandra.sh creates (and nothing else of the
# tests' environment: the embedded broker takes no login)
eval "$(services/all.sh env | grep '^export TAGSTREAM_CASSANDRA_')"
data=$(mktemp -d)
ks=amplification_$(date +%s)
http=127.0.0.1:28082 kafka=127.0.0.1:29093
./bin/tagstream run --data "$data" --http $http --kafka-listen $kafka \
  --cassandra 127.0.0.1:19042 --keyspace "$ks" --snapshot-interval "$interval" >"$data/run.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"; own_services_stop' EXIT
for _ in $(seq 1 120); do curl -sf "http://$http/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
line=$(./bin/tagstream load --brokers $kafka --api "http://$http" --posts "$posts" --seed 1 --via kafka 2>/dev/null | grep '^load:')
echo "$line"
sleep 12
rows=$(curl -s "http://$http/metrics" | awk '/^tagstream_snapshot_rows_written_total/ {s += $2} END {print s + 0}')
events=$(sed -E 's/.*\(([0-9]+) hashtag events.*/\1/' <<<"$line")
awk -v r="$rows" -v e="$events" -v p="$posts" -v i="$interval" 'BEGIN {
  printf "snapshot every %s: %d rows written for %d posts = %.2f rows/post; one write per hashtag per post would be %d = %.2f/post (%.1fx fewer)\n", i, r, p, r/p, e, e/p, e/r }'
echo "(keyspace $ks left in the test Cassandra)"
