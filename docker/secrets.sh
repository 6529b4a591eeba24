#!/usr/bin/env bash
# Creates the secrets docker/compose.yaml needs, once; run it before the
# first `up`, and again after deleting a file to rotate it. Works on the
# directory it is in, from wherever it is run:
#
#   docker/secrets.sh
#
# docker/secrets/ gets one file per Compose secret of compose.yaml (the
# `secrets:` at its end), named after it and holding its value, without a
# newline. A missing file is filled with the value of the variable named
# after it in upper case, if that is exported and not empty (the variables
# the deployment used to read: an existing deployment keeps its
# credentials), else with `openssl rand -hex`. A file that exists is never
# rewritten. To rotate a secret: delete its file, unset its variable, run
# this again, and recreate what reads it (docker/README.md, Rotating a
# password).
#
# Modes. Compose mounts a `file:` secret as a bind mount of the host's
# file, with the host's owner and mode: outside Swarm it ignores a
# service's `mode`, `uid` and `gid` for such a secret. The processes reading
# them (uid 65532 in the tagstream image, 472 in Grafana's) own none of
# these files, so each is 0444, readable through its "other" bits. What
# keeps this host's other users out is the directory, 0700: they cannot
# reach a file in it. A container sees only the files it mounts, not the
# directory.
#
# docker/.env (mode 0600), which Compose reads for interpolation since it
# is next to compose.yaml, gets KAFKA_ADMIN_PASSWORD and S3_SECRET_KEY,
# copied from their files: the Kafka and S3 images take these in their
# environment (the brokers' JAAS setting, the S3 server's root key), and
# Compose cannot put a file's content there. Any other line of an existing
# docker/.env is kept.
#
# docker/secrets/tls/ gets a throwaway CA and a certificate for every
# service that serves TLS, each for its service name (and localhost, for
# the service's own health check), made by services/tls.sh (in the
# repository: this script must be run from a checkout): NAME.pem (the
# certificate and the CA's), NAME-key.pem, NAME.p12 (both, for Java key
# stores, password in p12-password), ca.pem, and ca-key.pem, which signs
# them and which no container mounts. Kept while valid (services/tls.sh
# makes one again when it expires within a day or its names change); to
# make a new CA, delete the directory. What containers mount is 0444, as
# above; ca-key.pem stays 0600. Never for production: use your own CA's
# certificates under the same names.
#
# Prints what it creates or changes, by name, never a value; and no value
# is ever on a command line (printf is the shell's own). bash 3.2 will do.
set -euo pipefail

cd -- "$(dirname -- "${BASH_SOURCE[0]}")"
umask 077

# file:VARIABLE:bytes of `openssl rand -hex`
secrets=(
  tagstream_secret:TAGSTREAM_SECRET:32
  s3_secret_key:S3_SECRET_KEY:24
  kafka_admin_password:KAFKA_ADMIN_PASSWORD:24
  kafka_api_password:KAFKA_API_PASSWORD:24
  kafka_worker_password:KAFKA_WORKER_PASSWORD:24
  kafka_rank_password:KAFKA_RANK_PASSWORD:24
  kafka_reader_password:KAFKA_READER_PASSWORD:24
  grafana_admin_password:GRAFANA_ADMIN_PASSWORD:16
  cassandra_admin_password:CASSANDRA_ADMIN_PASSWORD:24
  cassandra_tagstream_password:CASSANDRA_TAGSTREAM_PASSWORD:24
  s3_api_secret_key:S3_API_SECRET_KEY:24
)
# The certificates (services/tls.sh cert DIR NAME SAN...): each service
# that serves TLS, by the names its clients reach it by.
certs=(
  "kafka-1 kafka-1 localhost"
  "kafka-2 kafka-2 localhost"
  "kafka-3 kafka-3 localhost"
  "cassandra cassandra localhost 127.0.0.1"
  "s3 s3 localhost 127.0.0.1"
)

# The ones compose.yaml interpolates from docker/.env (file:VARIABLE), and
# what such a value may hold: it goes into docker/.env and the brokers'
# quoted JAAS string as is.
env_secrets=(kafka_admin_password:KAFKA_ADMIN_PASSWORD s3_secret_key:S3_SECRET_KEY)
env_safe='^[A-Za-z0-9._+/=-]+$'

dir=secrets
tls_dir=$dir/tls
env_file=.env
env_marker='# KAFKA_ADMIN_PASSWORD and S3_SECRET_KEY: docker/secrets.sh copies them from docker/secrets/'
changed=0
tmp=
trap '[[ -z $tmp ]] || rm -f -- "$tmp"' EXIT

say() { printf 'secrets.sh: %s\n' "$*"; }
warn() { printf 'secrets.sh: warning: %s\n' "$*" >&2; }
die() {
  printf 'secrets.sh: %s\n' "$*" >&2
  exit 1
}
# has_mode PATH MODE: PATH's permission bits are exactly MODE (GNU and BSD find).
has_mode() { [[ -n $(find "$1" -maxdepth 0 -perm "$2" -print) ]]; }
# check NAME VALUE WHAT: refuses a value the deployment could not use.
check() {
  [[ -n $2 && $2 != *$'\n'* ]] || die "$3 must be one non-empty line"
  case " ${env_secrets[*]} " in
  *" $1:"*) [[ $2 =~ $env_safe ]] ||
    die "$3 goes into docker/.env and a quoted JAAS string: only letters, digits and ._+/=- (use hex)" ;;
  esac
}

if [[ ! -d $dir ]]; then
  mkdir -m 0700 -- "$dir"
  say "created docker/$dir/ (mode 0700)"
  changed=1
elif ! has_mode "$dir" 0700; then
  chmod 0700 -- "$dir"
  say "docker/$dir/: mode set to 0700"
  changed=1
fi

for entry in "${secrets[@]}"; do
  IFS=: read -r name var bytes <<<"$entry"
  file=$dir/$name
  given=${!var:-}
  if [[ -e $file ]]; then
    [[ -f $file && -r $file ]] || die "docker/$file is not a readable file"
    value=$(<"$file")
    check "$name" "$value" "docker/$file"
    if [[ -n $given && $given != "$value" ]]; then
      warn "$var is set and differs from docker/$file, which is what the deployment uses: unset $var"
    fi
    if ! has_mode "$file" 0444; then
      chmod 0444 -- "$file"
      say "docker/$file: mode set to 0444"
      changed=1
    fi
    continue
  fi
  if [[ -n $given ]]; then
    check "$name" "$given" "$var"
    value=$given
    from="from $var"
  else
    command -v openssl >/dev/null || die "openssl is needed to generate docker/$file"
    value=$(openssl rand -hex "$bytes")
    from="openssl rand -hex $bytes"
  fi
  tmp=$(mktemp "$dir/.$name.XXXXXX")
  printf '%s' "$value" >"$tmp"
  chmod 0444 -- "$tmp"
  mv -- "$tmp" "$file"
  tmp=
  say "created docker/$file ($from)"
  changed=1
done

tmp=$(mktemp ".env.XXXXXX")
if [[ -f $env_file ]]; then
  # Everything but this script's own lines, which follow.
  awk -v marker="$env_marker" '$0 != marker && !/^[ \t]*(export[ \t]+)?(KAFKA_ADMIN_PASSWORD|S3_SECRET_KEY)[ \t]*=/' "$env_file" >"$tmp"
fi
printf '%s\n' "$env_marker" >>"$tmp"
names=
for entry in "${env_secrets[@]}"; do
  IFS=: read -r name var <<<"$entry"
  value=$(<"$dir/$name")
  printf '%s=%s\n' "$var" "$value" >>"$tmp"
  names="$names${names:+, }$var"
done
if [[ -f $env_file ]] && cmp -s -- "$tmp" "$env_file"; then
  rm -f -- "$tmp"
  if ! has_mode "$env_file" 0600; then
    chmod 0600 -- "$env_file"
    say "docker/$env_file: mode set to 0600"
    changed=1
  fi
else
  chmod 0600 -- "$tmp"
  mv -- "$tmp" "$env_file"
  say "wrote $names to docker/$env_file (mode 0600)"
  changed=1
fi
tmp=

# The certificates. services/tls.sh writes keys 0600; the containers' users
# (Kafka's, Cassandra's, the gateway's) read them through the other bits, as
# the secrets above, so they are 0444 here, made writable again only while
# services/tls.sh may replace them.
tls_sh=../services/tls.sh
[[ -x $tls_sh ]] || die "services/tls.sh not found: run docker/secrets.sh from a checkout of the repository"
mounted=(ca.pem p12-password)
for entry in "${certs[@]}"; do
  read -r name _ <<<"$entry"
  mounted+=("$name.pem" "$name-key.pem" "$name.p12")
done
# tls_state: the directory's files and their checksums (what changed).
tls_state() {
  [[ -d $tls_dir ]] || return 0
  local f
  for f in "$tls_dir"/*; do
    [[ -f $f ]] && printf '%s %s\n' "$f" "$(cksum <"$f")"
  done
  return 0
}
before=$(tls_state)
if [[ -d $tls_dir ]]; then
  for f in "${mounted[@]}"; do
    [[ ! -e $tls_dir/$f ]] || chmod u+w -- "$tls_dir/$f"
  done
fi
for entry in "${certs[@]}"; do
  # shellcheck disable=SC2086 # the SANs are words
  "$tls_sh" cert "$tls_dir" $entry 2>/dev/null ||
    die "services/tls.sh cert $tls_dir $entry failed (run it by hand to see why)"
done
for f in "${mounted[@]}"; do
  chmod 0444 -- "$tls_dir/$f"
done
after=$(tls_state)
if [[ $before != "$after" ]]; then
  say "made certificates in docker/$tls_dir/ (services/tls.sh; the CA's key stays there, 0600)"
  changed=1
fi

if [[ $changed == 0 ]]; then
  say "docker/$dir/ (certificates included) and docker/$env_file are complete; nothing changed"
fi
