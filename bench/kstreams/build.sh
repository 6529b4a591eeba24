#!/usr/bin/env bash
# bench/kstreams/build.sh: build the Kafka Streams app (if its sources
# changed) without running it, so a benchmark can build before timing.
exec "$(dirname "${BASH_SOURCE[0]}")/run.sh" --build-only
