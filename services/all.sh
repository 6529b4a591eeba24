#!/usr/bin/env bash
# services/all.sh up|down|status|env: the real services the tests need, on
# loopback: Kafka (127.0.0.1:19092), Cassandra (CQL 127.0.0.1:19042) and an
# S3 server (http://127.0.0.1:19000). `up` starts the three in parallel
# (Cassandra alone takes a minute or two) and fails if any fails; `env`
# prints the TAGSTREAM_* variables the integration tests read.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
names=(kafka cassandra s3)

case ${1:-} in
up)
  pids=()
  for n in "${names[@]}"; do "$here/$n.sh" up & pids+=($!); done
  failed=0
  for i in "${!pids[@]}"; do wait "${pids[$i]}" || { echo "services: ${names[$i]} failed to start" >&2; failed=1; }; done
  exit $failed ;;
down)
  status=0
  for n in "${names[@]}"; do "$here/$n.sh" down || status=1; done
  exit $status ;;
status)
  status=0
  for n in "${names[@]}"; do "$here/$n.sh" status || status=1; done
  exit $status ;;
env)
  cat <<'ENV'
export TAGSTREAM_BROKERS=127.0.0.1:19092
export TAGSTREAM_CASSANDRA=127.0.0.1:19042
export TAGSTREAM_S3_ENDPOINT=http://127.0.0.1:19000
export TAGSTREAM_S3_ACCESS_KEY=tagstream
export TAGSTREAM_S3_SECRET_KEY=tagstream-secret-key
export TAGSTREAM_S3_REGION=us-east-1
ENV
  ;;
*) echo "usage: services/all.sh up|down|status|env" >&2; exit 2 ;;
esac
