#!/bin/sh
# s3-init (docker/compose.yaml): the API's S3 account and its bucket, made
# or repaired at every `up`, with versitygw's admin CLI over https, as the
# gateway's root (ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY). The
# account has versitygw's least role, "user": it may not create buckets,
# sees only its own, and is refused in any other; in the bucket it owns it
# may put, get, delete and presign, which is all the API does. A changed
# secret (docker/secrets/s3_api_secret_key) is put back; a bucket that
# exists (made by root, as before this account) is handed to the account.
#
# The gateway's certificate is checked against the compose CA
# (SSL_CERT_FILE: Go's TLS reads it). The account's secret is on the admin
# CLI's command line, which has no other way to take it: seen by `ps` in
# this container while it runs, never in `docker inspect`.
set -eu
: "${API_ACCESS_KEY:?}" "${API_SECRET_KEY_FILE:?}" "${BUCKET:?}"
secret=$(cat "$API_SECRET_KEY_FILE")
vgw() { /app/versitygw admin "$@"; }

if ! out=$(vgw create-user --access "$API_ACCESS_KEY" --secret "$secret" --role user 2>&1); then
  case $out in
  *xist*) vgw update-user --access "$API_ACCESS_KEY" --secret "$secret" --role user ;;
  *) echo "s3-init: cannot create account $API_ACCESS_KEY: $out" >&2; exit 1 ;;
  esac
fi
if ! out=$(vgw create-bucket --owner "$API_ACCESS_KEY" --bucket "$BUCKET" 2>&1); then
  case $out in
  *BucketAlready*) vgw change-bucket-owner --bucket "$BUCKET" --owner "$API_ACCESS_KEY" ;;
  *) echo "s3-init: cannot create bucket $BUCKET for $API_ACCESS_KEY: $out" >&2; exit 1 ;;
  esac
fi
echo "s3-init: account $API_ACCESS_KEY (role user) owns bucket $BUCKET"
