#!/usr/bin/env bash
# scripts/bench.sh [POSTS] [ROUNDS]: `make bench`, tagstream side by side
# with what a team would pick instead, on this machine.
#
#  1. The pipeline (bench/throughput, `bench pipeline`): one seeded log of
#     POSTS posts (default 200,000; plus 10 % edits, 5 % deletes, 0.1 %
#     invalid records) preloaded onto a fresh `posts` topic of a real
#     Kafka 4.1.1, processed by tagstream's worker (exactly-once and not;
#     whole, and counts only with --groups extractor,hashtag-counts),
#     the Kafka Streams application of bench/kstreams (exactly_once_v2 and
#     at_least_once) and the stateless limit, ROUNDS rounds (default 3),
#     the order reversed every other round.
#  2. Recovery and replay (bench/recovery, `bench recovery`): a new API's
#     views of counts tables of 1M and 10M hashtags, a worker's restart
#     with and without --state-dir, `tagstream replay --from earliest`,
#     each against a bare franz-go read of the same topics.
#  3. The embedded pipeline (`bench embedded`): the same log produced
#     into `tagstream run`'s own broker, and into an in-process
#     pass-through (kfake and the limit's consumer in one process), each
#     timed from the first record produced until its output is exact.
#  4. The read path (scripts/bench-read.sh): wrk against tagstream's
#     hashtag pages and against nginx serving the same bodies.
#
# The broker is one of its own (KAFKA_PORT 19292, the shared one's
# settings), formatted afresh for each run and stopped at the end, so no
# other test's topics share it. Results: bench/results/ (JSON, Markdown,
# PNG), quoted by the README. BENCH_PARTS (default "pipeline recovery
# embedded read") runs some of the parts; BENCH_TABLES the row counts of part 2
# (default 1000000,10000000).
set -euo pipefail
cd "$(dirname "$0")/.."
posts=${1:-200000}
rounds=${2:-3}
parts=${BENCH_PARTS:-pipeline recovery embedded read}
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
# shellcheck source=scripts/prereqs.sh
source scripts/prereqs.sh
prereqs

if [[ $parts == *pipeline* || $parts == *recovery* ]]; then
  # A subshell: its KAFKA_PORT and TAGSTREAM_* (the broker's principal)
  # must not reach the read part's own `tagstream run` (they did: it
  # took the port and looked for Cassandra).
  (
    export KAFKA_PORT=19292
    stop_broker() { services/kafka.sh down >/dev/null 2>&1 || true; }
    stop_broker
    rm -rf .services/kafka-$KAFKA_PORT/data
    trap stop_broker EXIT
    trap 'exit 130' INT TERM
    services/kafka.sh up
    eval "$(services/all.sh env)"
    export TAGSTREAM_BROKERS=127.0.0.1:$KAFKA_PORT

    go build -o bin/tagstream ./cmd/tagstream
    go build -o bin/bench ./bench/cmd/bench
    if [[ $parts == *pipeline* ]]; then
      bench/kstreams/build.sh
      bin/bench pipeline --brokers "$TAGSTREAM_BROKERS" --posts "$posts" --rounds "$rounds" \
        --commit "$commit" --out bench/results
    fi
    if [[ $parts == *recovery* ]]; then
      bin/bench recovery --brokers "$TAGSTREAM_BROKERS" --tables "${BENCH_TABLES:-1000000,10000000}" \
        --commit "$commit" --out bench/results
    fi
    stop_broker
  )
fi
if [[ $parts == *embedded* ]]; then
  # Outside the subshell above: the processes host their own brokers and
  # must see none of its TAGSTREAM_* settings.
  go build -o bin/tagstream ./cmd/tagstream
  go build -o bin/bench ./bench/cmd/bench
  bin/bench embedded --posts "$posts" --rounds "$rounds" --commit "$commit" --out bench/results
fi
if [[ $parts == *read* ]]; then
  scripts/bench-read.sh
fi
