#!/usr/bin/env bash
# services/all.sh up|down|status|env: the real services the tests need, on
# loopback: Kafka (127.0.0.1:19092, and SASL_SSL on 127.0.0.1:19094 with
# the certificates of services/tls.sh), Cassandra (CQL 127.0.0.1:19042) and an
# S3 server (http://127.0.0.1:19000, https://127.0.0.1:19001). `up` starts the three in parallel
# (Cassandra alone takes a minute or two) and fails if any fails; `env
# [role]` prints the TAGSTREAM_* variables the integration tests read, as
# the Kafka principal of that role (default admin), with the Cassandra
# role services/cassandra.sh creates and the test certificates of
# services/tls.sh (TAGSTREAM_TEST_TLS_*). Cassandra serves TLS on its CQL
# port beside plaintext.
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
  # env [admin|api|worker|rank|reader]: the Kafka principal to be
  # (services/kafka.sh): admin, a superuser, for tools such as kcat and for
  # the tests; reader for the snapshotter and read-only APIs.
  role=${2:-admin}
  case $role in admin|api|worker|rank|reader) ;; *) echo "services/all.sh env: unknown role $role (admin, api, worker, rank, reader)" >&2; exit 2 ;; esac
  cat <<ENV
export TAGSTREAM_BROKERS=127.0.0.1:19092
export TAGSTREAM_KAFKA_USER=$role
export TAGSTREAM_KAFKA_PASSWORD=$role-test-secret # services/kafka.sh's password_of
export TAGSTREAM_KAFKA_SASL_MECHANISM=SCRAM-SHA-512
export TAGSTREAM_TEST_KAFKA_ROLES="api:api-test-secret worker:worker-test-secret rank:rank-test-secret reader:reader-test-secret"
export TAGSTREAM_TEST_KAFKA_TLS_BROKERS=127.0.0.1:19094 # services/kafka.sh's SASL_SSL listener
ENV
  cat <<'ENV'
export TAGSTREAM_CASSANDRA=127.0.0.1:19042
export TAGSTREAM_CASSANDRA_USER=tagstream
export TAGSTREAM_CASSANDRA_PASSWORD=tagstream-test-secret # services/cassandra.sh's ROLE_PASSWORD
export TAGSTREAM_S3_ENDPOINT=http://127.0.0.1:19000
export TAGSTREAM_S3_ACCESS_KEY=tagstream
export TAGSTREAM_S3_SECRET_KEY=tagstream-secret-key
export TAGSTREAM_S3_REGION=us-east-1
export TAGSTREAM_TEST_S3_TLS_ENDPOINT=https://127.0.0.1:19001
export TAGSTREAM_TEST_S3_API_ACCESS_KEY=tagstream-api # services/s3.sh's API account: owns tagstream-images only
export TAGSTREAM_TEST_S3_API_SECRET_KEY=tagstream-api-secret-key
export TAGSTREAM_TEST_S3_API_BUCKET=tagstream-images
ENV
  # The CA and certificates the TLS listeners (Kafka's SASL_SSL, S3's https,
  # Cassandra's CQL port) chain to: services/tls.sh up, which kafka.sh,
  # s3.sh and cassandra.sh run.
  "$here/tls.sh" env ;;
*) echo "usage: services/all.sh up|down|status|env [admin|api|worker|rank|reader]" >&2; exit 2 ;;
esac
