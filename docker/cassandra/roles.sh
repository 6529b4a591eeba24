#!/bin/bash
# cassandra-roles (docker/compose.yaml): the roles, made or repaired at
# every `up`, over TLS (the node's certificate checked against the compose
# CA), in the cassandra image, which has cqlsh.
#
#   admin      a superuser, password CQL_ADMIN_PASSWORD_FILE: made on the
#              first start as the default superuser cassandra/cassandra,
#              which is then disabled (no login, no superuser, a random
#              password): everybody knows its password
#   tagstream  the application's role, password CQL_TAGSTREAM_PASSWORD_FILE:
#              may create keyspaces, and so owns (all permissions on) the
#              keyspace cassandra-init creates; granted all on CQL_KEYSPACE
#              too when it already exists (made before authentication was on)
#
# Passwords go to cqlsh through a credentials file and the statements
# through a file, both 0600 in a temporary directory: never on a command
# line. Changing admin's password afterwards is an ALTER ROLE by hand (the
# old one is needed to log in); tagstream's is set again at every run.
set -euo pipefail
: "${CQL_HOST:?}" "${CQL_CA:?}" "${CQL_KEYSPACE:?}" "${CQL_ADMIN_PASSWORD_FILE:?}" "${CQL_TAGSTREAM_PASSWORD_FILE:?}"

die() {
  echo "roles.sh: $*" >&2
  exit 1
}
admin=$(<"$CQL_ADMIN_PASSWORD_FILE")
app=$(<"$CQL_TAGSTREAM_PASSWORD_FILE")
for v in "$admin" "$app"; do
  [[ $v =~ ^[A-Za-z0-9._+/=-]+$ ]] || die "a password must be letters, digits and ._+/=- (it goes into a CQL string as is)"
done
[[ $CQL_KEYSPACE =~ ^[a-z][a-z0-9_]*$ ]] || die "keyspace $CQL_KEYSPACE is not a plain CQL name"

umask 077
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME=$work # cqlsh keeps its history there
cat >"$work/cqlshrc" <<CQLSHRC
[connection]
ssl = true

[ssl]
certfile = $CQL_CA
validate = true
CQLSHRC

# cql USER PASSWORD CQLSH-ARGS...: cqlsh as USER.
cql() {
  local user=$1 pass=$2
  shift 2
  printf '[PlainTextAuthProvider]\nusername = %s\npassword = %s\n' "$user" "$pass" >"$work/credentials"
  cqlsh --cqlshrc "$work/cqlshrc" --credentials "$work/credentials" -u "$user" --request-timeout 30 "$@" "$CQL_HOST" 9042
}
can_login() { cql "$1" "$2" -e 'SELECT release_version FROM system.local' >/dev/null 2>&1; }

# The node makes its default superuser a few seconds after it starts
# answering (and the first login may race it): wait for either login.
for _ in $(seq 60); do
  if can_login admin "$admin"; then
    first=false
    break
  fi
  if can_login cassandra cassandra; then
    first=true
    break
  fi
  sleep 2
done
[[ -n ${first:-} ]] || die "neither admin (docker/secrets/cassandra_admin_password) nor the default superuser can log in to $CQL_HOST"

if [[ $first == true ]]; then
  cat >"$work/admin.cql" <<CQL
CREATE ROLE IF NOT EXISTS admin WITH SUPERUSER = true AND LOGIN = true AND PASSWORD = '$admin';
ALTER ROLE admin WITH PASSWORD = '$admin';
CQL
  cql cassandra cassandra -f "$work/admin.cql"
  echo "roles.sh: made the superuser admin"
fi

random=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
cat >"$work/roles.cql" <<CQL
ALTER ROLE cassandra WITH PASSWORD = '$random' AND SUPERUSER = false AND LOGIN = false;
CREATE ROLE IF NOT EXISTS tagstream WITH LOGIN = true AND PASSWORD = '$app';
ALTER ROLE tagstream WITH PASSWORD = '$app';
GRANT CREATE ON ALL KEYSPACES TO tagstream;
CQL
cql admin "$admin" -f "$work/roles.cql"
if cql admin "$admin" -e "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = '$CQL_KEYSPACE'" | grep -qw "$CQL_KEYSPACE"; then
  cql admin "$admin" -e "GRANT ALL PERMISSIONS ON KEYSPACE $CQL_KEYSPACE TO tagstream"
fi
echo "roles.sh: role tagstream may create keyspaces and owns $CQL_KEYSPACE; the default superuser cassandra is disabled"
