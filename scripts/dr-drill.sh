#!/usr/bin/env bash
# scripts/dr-drill.sh [POSTS]: the restore drill of `make dr-drill`
# (README, Disaster recovery). A deployment (worker, ranking, API) on the
# shared Kafka takes POSTS posts (default 100,000), deletes and edits, and
# half as many likes; `tagstream backup` copies its posts and likes;
# `tagstream restore` writes them into an EMPTY cluster of their own (a
# broker on KAFKA_PORT 19900, formatted afresh, stopped at the end), whose
# worker, ranking and API rebuild everything else. Every hashtag page must
# equal the original's. Prints how long the backup, the restore and the
# rebuild took.
set -euo pipefail
cd "$(dirname "$0")/.."
posts=${1:-100000}
# shellcheck source=scripts/own-services.sh
source scripts/own-services.sh
own_services kafka
eval "$(services/all.sh env)"
(
  export KAFKA_PORT=19900
  stop_broker() { services/kafka.sh down >/dev/null 2>&1 || true; }
  stop_broker
  services=${TAGSTREAM_SERVICES_DIR:-.services}
  rm -rf "$services/kafka-$KAFKA_PORT/data"
  trap stop_broker EXIT
  trap 'exit 130' INT TERM
  services/kafka.sh up
  export TAGSTREAM_TEST_DR_BROKERS=127.0.0.1:$KAFKA_PORT TAGSTREAM_TEST_DR_POSTS=$posts TAGSTREAM_NO_SKIP=1
  log=$services/logs/dr-drill.log
  echo "dr-drill: the test's whole output goes to $log"
  rc=0
  go test -count=1 -v -run '^TestRestoreRebuildsADeployment$' -timeout 60m ./cmd/tagstream/ >"$log" 2>&1 || rc=$?
  grep -E -A3 '^\s+restore_test.go:[0-9]+: restore drill' "$log" || tail -n 40 "$log"
  grep -E '^(--- |ok|FAIL)' "$log"
  exit $rc
)
