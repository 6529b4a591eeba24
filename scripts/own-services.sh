# shellcheck shell=bash
# Sourced by the scripts behind make targets. own_services SVC... starts
# each of kafka, cassandra, s3 that is not already running and stops, when
# the script exits, only those it started: a service a developer had up
# stays up, and a target leaves no broker behind to hold the port of the
# next checkout's run (CI runs a fresh clone on the same machine).
own_services_started=()
own_services_stop() {
  local svc
  for svc in "${own_services_started[@]}"; do services/$svc.sh down >/dev/null 2>&1 || true; done
}
own_services() {
  local svc
  for svc in "$@"; do
    services/$svc.sh status >/dev/null 2>&1 || own_services_started+=("$svc")
  done
  trap own_services_stop EXIT
  trap 'exit 130' INT TERM
  if (($# == 3)); then services/all.sh up; else
    for svc in "$@"; do services/$svc.sh up; done
  fi
}
