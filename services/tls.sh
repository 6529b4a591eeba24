#!/usr/bin/env bash
# services/tls.sh up|ca DIR|cert DIR NAME SAN...|env
#
# A throwaway certificate authority and the certificates signed by it, for
# the TLS paths of the tests (Kafka SASL_SSL, Cassandra, S3 over https) and
# for the compose file (docker/secrets.sh). Never for production: the CA's
# key sits beside its certificate, unencrypted.
#
#   up             the test set in $SERVICES_DIR/tls: the CA, "server" for
#                  localhost, 127.0.0.1 and 127.0.0.2 (what the services
#                  on loopback present) and "client" (a client certificate,
#                  for mutual TLS)
#   ca DIR         make DIR/ca.pem and DIR/ca-key.pem unless both exist
#   cert DIR NAME SAN...
#                  make DIR/NAME.pem (the certificate, then the CA's: a full
#                  chain), DIR/NAME-key.pem (PKCS#8, unencrypted, which Kafka's
#                  PEM key stores and Go read as they are) and DIR/NAME.p12
#                  (key and chain for Java key stores; password in
#                  DIR/p12-password), signed by DIR's CA. A SAN that parses as
#                  an IP address goes in as one, any other as a DNS name; the
#                  first is also the subject's CN. Kept if it exists, is
#                  signed by DIR's CA, names the same SANs and is valid for
#                  at least another day; otherwise made again.
#   env            print the TAGSTREAM_TEST_TLS_* export lines naming the
#                  test set's files (after `up`)
#
# Keys are ECDSA P-256; certificates are valid for TLS_DAYS days (default
# 825, the longest any client accepts). Files are 0600 in a 0700 DIR except
# the certificates, which are 0644.
set -euo pipefail

SERVICE=tls
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need openssl "OpenSSL (Debian: openssl), to make the test certificates"

DAYS=${TLS_DAYS:-825}
TEST_DIR=$SERVICES_DIR/tls

# ca DIR: a self-signed CA that may sign server and client certificates.
ca() {
  local dir=$1
  mkdir -p "$dir" && chmod 0700 "$dir"
  [[ -s $dir/ca.pem && -s $dir/ca-key.pem ]] && return 0
  umask 077
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/ca-key.pem" 2>/dev/null
  openssl req -x509 -new -key "$dir/ca-key.pem" -sha256 -days "$DAYS" \
    -subj "/O=tagstream/CN=tagstream throwaway CA $(date -u +%Y%m%dT%H%M%SZ)" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" \
    -out "$dir/ca.pem"
  chmod 0644 "$dir/ca.pem"
  # Certificates signed by a CA that is no longer there must be made again.
  rm -f "$dir"/*.p12
  say "made a throwaway CA in $dir"
}

# san_list SAN...: the subjectAltName value.
san_list() {
  local out=() s
  for s in "$@"; do
    if [[ $s =~ ^[0-9.]+$ || $s == *:* ]]; then out+=("IP:$s"); else out+=("DNS:$s"); fi
  done
  local IFS=,
  echo "${out[*]}"
}

# current DIR NAME SAN...: the certificate exists, chains to DIR's CA, has
# exactly these SANs and does not expire within a day.
current() {
  local dir=$1 name=$2; shift 2
  [[ -s $dir/$name.pem && -s $dir/$name-key.pem && -s $dir/$name.p12 ]] || return 1
  openssl verify -CAfile "$dir/ca.pem" "$dir/$name.pem" >/dev/null 2>&1 || return 1
  openssl x509 -in "$dir/$name.pem" -noout -checkend 86400 >/dev/null 2>&1 || return 1
  local want have
  want=$(san_list "$@" | tr ',' '\n' | sed 's/^IP:/IP Address:/' | sort | tr '\n' ',')
  have=$(openssl x509 -in "$dir/$name.pem" -noout -ext subjectAltName 2>/dev/null |
    tail -n +2 | tr ',' '\n' | sed 's/^ *//' | sort | tr '\n' ',')
  [[ $want == "$have" ]]
}

# cert DIR NAME SAN...: a certificate for both server and client use (the
# same file serves a broker and, in mutual TLS, a client).
cert() {
  local dir=$1 name=$2; shift 2
  (($# > 0)) || die "cert $dir $name: name at least one SAN"
  [[ $name =~ ^[A-Za-z0-9_.-]+$ ]] || die "cert: name $name: letters, digits, '.', '_', '-' only"
  ca "$dir"
  current "$dir" "$name" "$@" && return 0
  umask 077
  [[ -s $dir/p12-password ]] || openssl rand -hex 16 >"$dir/p12-password"
  local csr
  csr=$(mktemp)
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/$name-key.pem" 2>/dev/null
  openssl req -new -key "$dir/$name-key.pem" -subj "/O=tagstream/CN=$1" -out "$csr"
  openssl x509 -req -in "$csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" -CAcreateserial \
    -days "$DAYS" -sha256 -out "$dir/$name.pem" -extfile <(cat <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
subjectAltName=$(san_list "$@")
EXT
) 2>/dev/null
  rm -f "$csr" "$dir/ca.srl"
  cat "$dir/ca.pem" >>"$dir/$name.pem"
  # Java reads PKCS#12 key stores as they are (keytool is not needed).
  openssl pkcs12 -export -name "$name" -inkey "$dir/$name-key.pem" -in "$dir/$name.pem" \
    -passout "file:$dir/p12-password" -out "$dir/$name.p12"
  chmod 0644 "$dir/$name.pem"
  say "made $dir/$name.pem for $*"
}

# lock: one making of certificates at a time. services/all.sh up starts the
# services in parallel, and each TLS service runs `tls.sh up`: two runs
# that both found no CA would each make one, and a certificate could end up
# signed by the CA the other wrote over. fd 8: the service scripts hold
# their own lock on fd 9, which this script inherits.
lock() { exec 8>"$SERVICES_DIR/tls.lock"; flock 8; }

case ${1:-} in
up|ca|cert) lock ;;
esac

case ${1:-} in
up)
  cert "$TEST_DIR" server localhost 127.0.0.1 127.0.0.2
  cert "$TEST_DIR" client tagstream-client ;;
ca)
  [[ $# == 2 ]] || die "usage: services/tls.sh ca DIR"
  ca "$2" ;;
cert)
  [[ $# -ge 4 ]] || die "usage: services/tls.sh cert DIR NAME SAN..."
  shift
  cert "$@" ;;
env)
  cat <<ENV
export TAGSTREAM_TEST_TLS_CA=$TEST_DIR/ca.pem
export TAGSTREAM_TEST_TLS_SERVER_CERT=$TEST_DIR/server.pem
export TAGSTREAM_TEST_TLS_SERVER_KEY=$TEST_DIR/server-key.pem
export TAGSTREAM_TEST_TLS_CLIENT_CERT=$TEST_DIR/client.pem
export TAGSTREAM_TEST_TLS_CLIENT_KEY=$TEST_DIR/client-key.pem
ENV
  ;;
*) echo "usage: services/tls.sh up|ca DIR|cert DIR NAME SAN...|env" >&2; exit 2 ;;
esac
