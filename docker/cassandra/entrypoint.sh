#!/bin/bash
# The cassandra service's entrypoint (docker/compose.yaml mounts it
# read-only): password authentication and client TLS in cassandra.yaml, then
# the image's own entrypoint, exec'd, so that the JVM stays the process
# Docker signals (its shutdown hook drains the node on SIGTERM).
#
# The image sets only a few cassandra.yaml options from its environment
# (cluster name, addresses, seeds, snitch), none of these. So this replaces
# three top-level blocks of the image's cassandra.yaml, in the container's
# own copy, at every start:
#
#   authenticator              PasswordAuthenticator: every client logs in
#                              (the roles: the cassandra-roles service)
#   authorizer                 CassandraAuthorizer: a role may do what it
#                              was granted, no more
#   client_encryption_options  TLS only on 9042, with the PKCS#12 key store
#                              CASSANDRA_KEYSTORE (docker/secrets/tls/
#                              cassandra.p12, for the names cassandra,
#                              localhost, 127.0.0.1), whose password is in
#                              the file CASSANDRA_KEYSTORE_PASSWORD_FILE
#
# The key store's password is written into that copy (Cassandra reads it
# from nowhere else), inside the container only, never its environment.
set -euo pipefail

conf=${CASSANDRA_CONF:-/etc/cassandra}/cassandra.yaml
: "${CASSANDRA_KEYSTORE:?the PKCS#12 key store of the certificate of the node}"
: "${CASSANDRA_KEYSTORE_PASSWORD_FILE:?the file holding its password}"
password=$(<"$CASSANDRA_KEYSTORE_PASSWORD_FILE")
if [[ ! $password =~ ^[A-Za-z0-9._+/=-]+$ ]]; then
  echo "entrypoint.sh: the key store password in $CASSANDRA_KEYSTORE_PASSWORD_FILE must be letters, digits and ._+/=- (it goes into cassandra.yaml as is)" >&2
  exit 1
fi

# set_block KEY: replaces the top-level KEY of cassandra.yaml (its line and
# the indented or blank lines under it) with the text on stdin, or appends
# it when the file has no such key. Written back in place, as the image's
# entrypoint does (the file may be a bind mount).
set_block() {
  local tmp
  tmp=$(mktemp)
  BLOCK=$(cat) KEY=$1 awk '
    index($0, ENVIRON["KEY"] ":") == 1 { print ENVIRON["BLOCK"]; skip = 1; done = 1; next }
    skip && /^([ \t]|$)/ { next }
    { skip = 0; print }
    END { if (!done) print ENVIRON["BLOCK"] }' "$conf" >"$tmp"
  cat "$tmp" >"$conf"
  rm -f "$tmp"
}

set_block authenticator <<'YAML'
authenticator:
  class_name: org.apache.cassandra.auth.PasswordAuthenticator
YAML
set_block authorizer <<'YAML'
authorizer: CassandraAuthorizer
YAML
set_block client_encryption_options <<YAML
client_encryption_options:
  enabled: true
  optional: false
  keystore: $CASSANDRA_KEYSTORE
  keystore_password: $password
  store_type: PKCS12
  require_client_auth: false
YAML

exec docker-entrypoint.sh "$@"
