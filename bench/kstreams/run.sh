#!/usr/bin/env bash
# bench/kstreams/run.sh [--build-only | APP FLAGS...]
#
# Builds the Kafka Streams app if pom.xml or src/ changed since the last
# build (target/.build-sum), then execs the JVM with the given flags (see
# README.md), so the caller's child process *is* the JVM. Build output goes
# to stderr; stdout carries only the app's "kstreams: running" line.
# The first build downloads from Maven Central into ~/.m2; later ones run
# offline (mvn -o), falling back to online only if offline fails.
set -euo pipefail
DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TARGET=$DIR/target
mkdir -p "$TARGET"

sources_sum() {
  (cd "$DIR" && find pom.xml src -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
}

build() {
  # One build at a time (two benchmark rounds may start together).
  exec 9>"$TARGET/.build.lock"
  flock 9
  local sum
  sum=$(sources_sum)
  if [[ -f $TARGET/.build-sum && $(cat "$TARGET/.build-sum") == "$sum" \
        && -s $TARGET/classpath.txt && -d $TARGET/classes ]]; then
    exec 9>&-
    return
  fi
  echo "kstreams: building $DIR" >&2
  rm -rf "$TARGET/classes" "$TARGET/classpath.txt" "$TARGET/.build-sum"
  local start=$SECONDS
  local mvn=(mvn -B -q -Dstyle.color=never compile)
  if ! (cd "$DIR" && "${mvn[@]}" -o) >"$TARGET/build-offline.log" 2>&1; then
    echo "kstreams: offline build failed (target/build-offline.log), trying online;" \
      "the first build downloads into ~/.m2" >&2
    (cd "$DIR" && "${mvn[@]}") >&2
  fi
  [[ -s $TARGET/classpath.txt ]] || { echo "kstreams: build left no classpath" >&2; exit 1; }
  echo "$sum" > "$TARGET/.build-sum"
  echo "kstreams: built in $((SECONDS - start)) s" >&2
  exec 9>&-
}

build
if [[ ${1:-} == --build-only ]]; then
  exit 0
fi
# MAIN_CLASS lets the test tool (tagstream.kstreams.Check) reuse the build.
exec java -Xms1g -Xmx1g -cp "$TARGET/classes:$(cat "$TARGET/classpath.txt")" \
  "${MAIN_CLASS:-tagstream.kstreams.KStreamsApp}" "$@"
