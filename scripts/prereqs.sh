# scripts/prereqs.sh: sourced by the scripts that start services or run
# tests. `prereqs` names every tool they use that is missing, one line
# each with where to get it, and fails once after checking them all.
prereqs() {
  local missing=0 spec tool hint
  for spec in \
    "go|Go 1.26 (go.dev/dl): builds and runs the tests" \
    "java|JDK 17 (Debian: apt-get install openjdk-17-jdk-headless): runs Kafka and Cassandra" \
    "mvn|Maven (Debian: apt-get install maven): fetches Kafka and Cassandra from Maven Central" \
    "curl|curl (Debian: apt-get install curl): health checks" \
    "openssl|openssl (Debian: apt-get install openssl): services/tls.sh's certificates for the TLS listeners, and docker/secrets.sh, which the compose test runs" \
    "ss|iproute2 (Debian: apt-get install iproute2): which process holds a service's port" \
    "setsid|util-linux (Debian: apt-get install util-linux): services run in their own process group" \
    "flock|util-linux (Debian: apt-get install util-linux): one start or stop of a service at a time" \
    "sha256sum|coreutils: cache keys of the services' class paths" \
    "timeout|coreutils: bounded health probes" \
    "od|coreutils: the Kafka health probe reads its answer" \
    "awk|awk (Debian: apt-get install mawk)" \
    "sed|sed" \
    "grep|grep"; do
    tool=${spec%%|*} hint=${spec#*|}
    command -v "$tool" >/dev/null 2>&1 || { echo "missing: $tool - $hint" >&2; missing=1; }
  done
  if command -v java >/dev/null 2>&1; then
    local v
    v=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
    if [[ $v != 17 ]]; then echo "missing: JDK 17 - found Java $v; Cassandra 5.0 needs 17 (18+ removed its security manager)" >&2; missing=1; fi
  fi
  return $missing
}
