#!/usr/bin/env bash
# Keeps a retraining service running: starts the command it is given (usually
# `mpirun -np N driftrun serve --config svc.toml --executor pool`), and when it
# ends with a failure, starts it again after a back-off. A killed worker rank
# ends the whole MPI world (Open MPI cannot drop a rank from a running world):
# the restarted service replays its journal and each unfinished job resumes
# from its last checkpoint on a new rank group, so "kill a worker" heals by
# itself.
#
#   scripts/serve-supervised.sh [--max-restarts N] [--backoff-s S] -- COMMAND ...
#
# Stops supervising when the command exits 0 (done, or stopped cleanly), 2
# (usage or config error: restarting would fail the same way), 3 (bad input
# data) or 126/127 (the command cannot run), after N restarts in a row that
# each ran less than 10 minutes (default 5), or on SIGTERM, SIGINT or SIGUSR1
# to this script: it sends the service SIGUSR1 (mpirun relays it to every
# rank; the jobs checkpoint and the service exits 0) and exits with the
# service's code. The back-off doubles from S seconds (default 2) up to 60.
# Exit: the command's last exit code (2 for a usage error of this script).
# A systemd unit does the same with Restart=on-failure, RestartSec=2 and
# RestartPreventExitStatus=2 3 (README, "The retraining service").
set -uo pipefail
usage() {
  echo "usage: serve-supervised.sh [--max-restarts N] [--backoff-s S] -- COMMAND ..." >&2
  echo "  e.g. serve-supervised.sh -- mpirun -np 3 driftrun serve --config svc.toml --executor pool" >&2
  exit 2
}
max_restarts=5
backoff=2
while [[ $# -gt 0 ]]; do
  case "$1" in
    --max-restarts|--backoff-s)
      [[ $# -ge 2 && "$2" =~ ^[0-9]+$ ]] || { echo "serve-supervised.sh: $1 takes a whole number" >&2; usage; }
      if [[ $1 == --max-restarts ]]; then max_restarts=$2; else backoff=$2; fi
      shift 2 ;;
    --) shift; break ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    -*) echo "serve-supervised.sh: unknown option '$1'" >&2; usage ;;
    *) break ;;
  esac
done
[[ $# -gt 0 ]] || { echo "serve-supervised.sh: no command to supervise" >&2; usage; }
(( backoff >= 1 )) || backoff=1

child=0
stopping=0
on_stop() {
  stopping=1
  # SIGUSR1: the service's clean stop (mpirun relays it; SIGTERM would make mpirun exit 1).
  [[ $child -gt 0 ]] && kill -USR1 "$child" 2>/dev/null
}
trap on_stop TERM INT USR1

failures=0
delay=$backoff
while :; do
  started=$(date +%s)
  "$@" &
  child=$!
  wait "$child"
  code=$?
  # wait returns early when a trapped signal arrives: wait for the child itself.
  while kill -0 "$child" 2>/dev/null; do wait "$child"; code=$?; done
  child=0
  if [[ $stopping -eq 1 ]]; then
    echo "serve-supervised.sh: stopped (the service exited $code)" >&2
    exit "$code"
  fi
  case "$code" in
    0) exit 0 ;;
    2|3) echo "serve-supervised.sh: the service exited $code (a usage, config or data error); not restarting" >&2
         exit "$code" ;;
    126|127) echo "serve-supervised.sh: the command could not run (exit $code); not restarting" >&2
         exit "$code" ;;
  esac
  if (( $(date +%s) - started >= 600 )); then
    failures=0
    delay=$backoff
  fi
  failures=$((failures + 1))
  if (( failures > max_restarts )); then
    echo "serve-supervised.sh: the service failed $failures times in a row (last exit $code); giving up" >&2
    exit "$code"
  fi
  echo "serve-supervised.sh: the service exited $code; restart $failures of $max_restarts in ${delay} s" >&2
  sleep "$delay" &
  wait $! || true
  [[ $stopping -eq 1 ]] && exit "$code"
  delay=$(( delay * 2 > 60 ? 60 : delay * 2 ))
done
