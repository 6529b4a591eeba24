#!/usr/bin/env bash
# scripts/chaos.sh [POSTS] [SEED]: the seeded chaos run of `make chaos` on
# the real Kafka of services/kafka.sh: three `tagstream worker` processes
# and an api, POSTS posts (default 200,000) with edits, deletes and poison
# records, a worker SIGKILLed every ~2 s, one broker restart half way.
# Prints the number of hashtags that differ from the ground truth and the
# total drift, and exits non-zero if either is above zero.
set -euo pipefail
cd "$(dirname "$0")/.."
posts=${1:-200000}
seed=${2:-1}
services/kafka.sh up
eval "$(services/all.sh env)"
export TAGSTREAM_CHAOS_POSTS=$posts TAGSTREAM_CHAOS_SEED=$seed
exec go test -count=1 -v -run '^TestChaos$' -timeout 60m ./chaos/
