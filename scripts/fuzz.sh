#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each (default 10s).
# go test -fuzz takes one target of one package at a time, so they are listed
# here; scripts/fuzz.sh fails if a Fuzz function exists that is not listed.
set -euo pipefail
cd "$(dirname "$0")/.."
time=${FUZZTIME:-10s}
targets=(
  ./hashtag:FuzzKeys
  ./events:FuzzDecodePostEvent
  ./events:FuzzDecodeTopPosts
  ./events:FuzzDecodeDelta
  ./events:FuzzDecodeLikeEvent
  ./events:FuzzDecodePostChanges
  ./events:FuzzAppendJSONEqualsMarshal
  ./processors:FuzzExtractorMatchesTruth
  ./api:FuzzCreatePost
  ./api:FuzzGetHashtag
  ./api:FuzzDecodeStrict
  ./media:FuzzReadHeader
)
declared=$(grep -rhoE '^func (Fuzz[A-Za-z0-9_]+)\(' --include='*_test.go' . | sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(/\1/' | sort)
listed=$(printf '%s\n' "${targets[@]}" | sed 's/.*://' | sort)
if [[ $declared != "$listed" ]]; then
  echo "fuzz: targets in the code and in scripts/fuzz.sh differ:" >&2
  diff <(echo "$declared") <(echo "$listed") >&2 || true
  exit 1
fi
for t in "${targets[@]}"; do
  pkg=${t%%:*} name=${t##*:}
  echo "fuzz: $name in $pkg for $time"
  go test "$pkg" -run '^$' -fuzz "^$name\$" -fuzztime "$time"
done
