#!/usr/bin/env bash
# A single-node Slurm cluster (munged, slurmctld, slurmd) with all its state in
# one folder, for tests and for trying `driftrun submit` on a laptop. Runs as
# root without systemd.
#
#   scripts/slurm/cluster.sh start DIR [--cpus N]   # prints: export SLURM_CONF=DIR/slurm.conf
#   scripts/slurm/cluster.sh stop DIR               # by the pid files in DIR
#
# Slurm 22.05 and munge 0.5.15 (Debian's slurm-wlm munge; scripts/setup.sh).
set -euo pipefail

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
die() { echo "cluster.sh: $*" >&2; exit 5; }

[[ $# -ge 2 ]] || usage
cmd=$1
dir=$2
shift 2
cpus=8
while [[ $# -gt 0 ]]; do
  case $1 in
    --cpus) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || { echo "cluster.sh: --cpus needs a positive number" >&2; exit 2; }
            cpus=$2; shift 2 ;;
    *) echo "cluster.sh: unknown option '$1'" >&2; usage ;;
  esac
done

stop() {
  local d=$1
  [[ -f $d/slurm.conf ]] && SLURM_CONF=$d/slurm.conf timeout 5 scontrol shutdown >/dev/null 2>&1 || true
  for name in slurmd slurmctld munged; do
    local pf=$d/$name.pid
    [[ -f $pf ]] || continue
    local pid
    pid=$(cat "$pf" 2>/dev/null || true)
    [[ $pid =~ ^[0-9]+$ ]] || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; kill "$pid" 2>/dev/null || true; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pf"
  done
  # A job step's slurmstepd can outlive slurmd: end those that belong to this cluster.
  for p in /proc/[0-9]*; do
    [[ -r $p/cmdline ]] || continue
    if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q "^slurmstepd" &&
       tr '\0' '\n' <"$p/environ" 2>/dev/null | grep -qx "SLURM_CONF=$d/slurm.conf"; then
      kill -9 "${p#/proc/}" 2>/dev/null || true
    fi
  done
}

start() {
  local d
  mkdir -p "$1"
  d=$(cd "$1" && pwd)
  for b in munged mungekey slurmctld slurmd scontrol sinfo; do
    command -v "$b" >/dev/null || die "'$b' is not installed: run scripts/setup.sh (Debian packages slurm-wlm munge)"
  done
  stop "$d"
  mkdir -p "$d/munge" "$d/state" "$d/spool" "$d/log"
  chmod 755 "$d" "$d/munge"
  [[ -f $d/munge.key ]] || mungekey --create --keyfile="$d/munge.key" >/dev/null
  chmod 600 "$d/munge.key"
  munged --key-file="$d/munge.key" --socket="$d/munge/munge.socket" --pid-file="$d/munged.pid" \
    --log-file="$d/log/munged.log" --seed-file="$d/munge/seed" --force ||
    die "munged did not start: see $d/log/munged.log"
  cat >"$d/slurm.conf" <<CONF
ClusterName=driftrun-test
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge/munge.socket
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
SlurmctldPort=$((7000 + RANDOM % 20000))
SlurmdPort=$((27000 + RANDOM % 20000))
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=pmix
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=10
MinJobAge=600
MaxArraySize=1001
# sbatch refuses a job no partition can ever run (more nodes or CPUs than it
# has), as most sites set it; without it such a job waits in the queue for ever.
EnforcePartLimits=ALL
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  # PMIx's per-step folders under this cluster's own folder: with the default
  # (/tmp/spmix_appdir_<uid>_<job>.<step>) two clusters on one machine, or a
  # folder left by a killed step, make the next step with that job id fail.
  mkdir -p "$d/pmix"
  printf 'PMIxCliTmpDirBase=%s\n' "$d/pmix" >"$d/mpi.conf"
  export SLURM_CONF=$d/slurm.conf
  slurmctld -f "$d/slurm.conf" || die "slurmctld did not start: see $d/log/slurmctld.log"
  slurmd -f "$d/slurm.conf" -N localhost || die "slurmd did not start: see $d/log/slurmd.log"
  for _ in $(seq 100); do
    if sinfo -h -o %t 2>/dev/null | grep -qx idle; then
      echo "export SLURM_CONF=$d/slurm.conf"
      return 0
    fi
    sleep 0.1
  done
  die "the node did not become idle in 10 s: see $d/log/slurmctld.log and $d/log/slurmd.log"
}

case $cmd in
  start) start "$dir" ;;
  stop) stop "$dir" ;;
  *) usage ;;
esac
