#!/usr/bin/env bash
# scripts/chaos.sh [POSTS] [SEEDS]: the seeded chaos runs of `make chaos`
# and `make chaos-soak` on the real Kafka of services/kafka.sh: three
# `tagstream worker` processes and an api, POSTS posts (default 200,000)
# with edits, deletes and poison records, workers SIGKILLed on each seed's
# schedule, one broker restart (CHAOS_CLUSTER=1, below: two node SIGKILLs
# on a three-broker cluster instead). SEEDS is one seed, a list "3,17" or a range
# "1-20" (default 1). Prints one line per seed and a total, and exits
# non-zero if any seed failed. Its last lines name each run's folder
# (under .chaos/): the verdict, the schedule, every process's log and the
# end state.
set -euo pipefail
cd "$(dirname "$0")/.."
posts=${1:-200000}
seeds=${2:-1}
# shellcheck source=scripts/own-services.sh
source scripts/own-services.sh
# CHAOS_CLUSTER=1 (make chaos-cluster): TestChaosCluster, on a three-node
# cluster it starts itself (KAFKA_BROKERS=3 services/kafka.sh on
# TAGSTREAM_CHAOS_CLUSTER_PORT, default 19300); the shared broker is not used.
test=TestChaos per_seed=15
if [[ ${CHAOS_CLUSTER:-} == 1 ]]; then
  test=TestChaosCluster per_seed=26
else
  own_services kafka
fi
eval "$(services/all.sh env)"
# make chaos checks the lists and their delete bound as well as the counts
# (TAGSTREAM_CHAOS_LISTS=0 checks the counts alone).
export TAGSTREAM_CHAOS_POSTS=$posts TAGSTREAM_CHAOS_SEEDS=$seeds TAGSTREAM_CHAOS_LISTS=${TAGSTREAM_CHAOS_LISTS:-1}
export TAGSTREAM_CHAOS_DIR=${TAGSTREAM_CHAOS_DIR:-$PWD/.chaos}
mkdir -p "$TAGSTREAM_CHAOS_DIR"
index=$TAGSTREAM_CHAOS_DIR/runs.tsv
before=$(wc -l <"$index" 2>/dev/null || echo 0)
# 14 minutes per seed at most, 25 on the cluster (each run bounds itself at that).
n=0
IFS=, read -ra parts <<<"$seeds"
for part in "${parts[@]}"; do
  if [[ $part == *-* ]]; then n=$((n + ${part#*-} - ${part%-*} + 1)); else n=$((n + 1)); fi
done
rc=0
go test -count=1 -v -run "^$test\$" -timeout "$((n * per_seed + 5))m" ./chaos/ || rc=$?
echo
echo "chaos: run folders (seed, verdict, folder):"
tail -n +"$((before + 1))" "$index" 2>/dev/null || echo "chaos: no run recorded in $index"
exit $rc
