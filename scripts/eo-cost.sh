#!/usr/bin/env bash
# scripts/eo-cost.sh [POSTS]: `make eo-cost`, posts/s of the same workload
# with and without exactly-once on the real Kafka of services/kafka.sh,
# POSTS posts per round (default 100,000), one run.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/own-services.sh
source scripts/own-services.sh
own_services kafka
eval "$(services/all.sh env)"
TAGSTREAM_COST_POSTS=${1:-100000} \
  go test -run '^$' -bench BenchmarkDeliveryCost -benchtime 1x -timeout 90m ./chaos/
