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
# (usage or config error: restarting would fail the same way) or 3 (bad input
# data), after N restarts in a row that each ran less than 10 minutes (default
# 5), or on SIGTERM/SIGINT to this script (passed on to the service, which then
# stops its jobs at a checkpoint). The back-off doubles from S seconds
# (default 2) up to 60. Exit: the command's last exit code.
# A systemd unit does the same with Restart=on-failure, RestartSec=2 and
# RestartPreventExitStatus=2 3 (README, "The retraining service").
set -uo pipefail
max_restarts=5
backoff=2
while [[ $# -gt 0 ]]; do
  case "$1" in
    --max-restarts) max_restarts="$2"; shift 2 ;;
    --backoff-s) backoff="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) break ;;
  esac
done
if [[ $# -eq 0 ]]; then
  echo "serve-supervised.sh: give the command to run, e.g. -- mpirun -np 3 driftrun serve --config svc.toml --executor pool" >&2
  exit 2
fi
if ! [[ "$max_restarts" =~ ^[0-9]+$ && "$backoff" =~ ^[0-9]+$ ]]; then
  echo "serve-supervised.sh: --max-restarts and --backoff-s take whole numbers" >&2
  exit 2
fi

child=0
stopping=0
on_stop() {
  stopping=1
  [[ $child -gt 0 ]] && kill -TERM "$child" 2>/dev/null
}
trap on_stop TERM INT

restarts=0
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
  esac
  if (( $(date +%s) - started >= 600 )); then
    restarts=0
    delay=$backoff
  fi
  if (( restarts >= max_restarts )); then
    echo "serve-supervised.sh: the service failed $restarts times in a row (last exit $code); giving up" >&2
    exit "$code"
  fi
  restarts=$((restarts + 1))
  echo "serve-supervised.sh: the service exited $code; restart $restarts of $max_restarts in ${delay} s" >&2
  sleep "$delay" &
  wait $! || true
  [[ $stopping -eq 1 ]] && exit "$code"
  delay=$(( delay * 2 > 60 ? 60 : delay * 2 ))
done
