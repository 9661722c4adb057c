"""Batch renamed into monitor.incoming -> the retraining job's first training
step, with the local executor (an mpirun child per job) or the pool executor
(--executor pool: `mpirun -np 3 driftrun serve`, the job on the two resident
workers), split into its parts:

  rename->launch  the wait for the next poll, sha256, drift against the
                  production profile, concept check, trigger and job in the
                  journal, the job's config written, fork+exec of mpirun (local)
                  or the start message to the workers (pool)
  scored->step    drift detected (the batch's scores in the journal) -> the
                  job's first step
  launch->step    launch -> the job's `start` event (local: process start,
                LibTorch load, MPI init; both: data read and preprocessing);
                its first step follows at once

Baseline in the same run: `mpirun -np 2 driftrun train` started by hand, from
exec to its `start` event (what any job costs). Prints the median of --reps
rounds (each round drops a batch that drifts from the last retrain's reference:
the shifted and the original regime in turn; --set trigger.cooldown_s=0).

    source scripts/mpi_env.sh
    .venv/bin/python scripts/bench/service_latency.py --driftrun build/driftrun [--poll 1.0] [--reps 5]
        [--executor local|pool]
"""
import argparse
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("--driftrun", required=True)
ap.add_argument("--poll", type=float, default=1.0)
ap.add_argument("--reps", type=int, default=5)
ap.add_argument("--rows", type=int, default=20000)
ap.add_argument("--executor", choices=["local", "pool"], default="local")
a = ap.parse_args()
exe = os.path.abspath(a.driftrun)
tmp = tempfile.mkdtemp(prefix="driftrun-latency-")


def run(*args, **kw):
    p = subprocess.run([exe] + list(args), cwd=tmp, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise SystemExit(f"driftrun {' '.join(args)} failed ({p.returncode}):\n{p.stderr}")
    return p


run("make-data", "--out", "data", "--rows", str(a.rows), "--batches", str(a.reps), "--drift", "mean",
    "--drift-from", "1", "--drift-magnitude", "1.0")
# A retrained version's reference is the batches since its drift, so the next
# batch of the same regime is no drift: the rounds alternate between the
# shifted regime and the original one (same seed, no drift), each a drift.
run("make-data", "--out", "clean", "--rows", "1000", "--batches", str(a.reps))
MODEL = f"""
name = "lat"
[data]
train = "data/train.h5"
[model]
hidden = [64, 64]
[train]
epochs = 2
batch_size = 256
[registry]
path = "registry"
[monitor]
incoming = "incoming"
[retrain]
ranks = 2
"""
open(os.path.join(tmp, "model.toml"), "w").write(MODEL)
open(os.path.join(tmp, "svc.toml"), "w").write(
    f'[service]\nmodels = ["model.toml"]\nstate = "state"\npoll_s = {a.poll}\n')
os.makedirs(os.path.join(tmp, "incoming"))


def start_time(run_dir):
    with open(os.path.join(run_dir, "events.jsonl")) as f:
        for line in f:
            e = json.loads(line)
            if e["event"] == "start":
                return e["time"]
    return None


# Baseline: a job started by hand.
base = []
for i in range(a.reps):
    t0 = time.time()
    run_dir = os.path.join(tmp, f"manual-{i}")
    p = subprocess.run(["mpirun", "-np", "2", "--bind-to", "none", exe, "train", "--config", "model.toml",
                        "--run-dir", run_dir, "--quiet", "--set", "export.onnx=false"], cwd=tmp,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    base.append(start_time(run_dir) - t0)

log = open(os.path.join(tmp, "serve.log"), "w")
cmd = [exe, "serve", "--config", "svc.toml", "--executor", a.executor]
if a.executor == "pool":
    cmd = ["mpirun", "-np", "3", "--bind-to", "none"] + cmd
svc = subprocess.Popen(cmd, cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
db = os.path.join(tmp, "state", "journal.db")


def query(sql, *p):
    with sqlite3.connect(db) as c:
        return c.execute(sql, p).fetchall()


def wait(sql, *p, timeout=300):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if os.path.exists(db):
            try:
                r = query(sql, *p)
            except sqlite3.OperationalError:  # the service is still creating the journal
                r = None
            if r:
                return r
        assert svc.poll() is None, open(os.path.join(tmp, "serve.log")).read()
        time.sleep(0.02)
    raise SystemExit("timeout: " + sql)


wait("SELECT id FROM jobs WHERE state = 'promoted'")
parts = {"rename->launch": [], "launch->step": [], "scored->step": [], "total": []}
for i in range(1, a.reps + 1):
    src = os.path.join(tmp, "data" if i % 2 else "clean", f"batch-{i:03d}.h5")
    shutil.copyfile(src, os.path.join(tmp, "incoming", ".b.tmp"))
    t0 = time.time()
    os.rename(os.path.join(tmp, "incoming", ".b.tmp"), os.path.join(tmp, "incoming", f"b{i}.h5"))
    job = wait("SELECT consumed_by, scored_at FROM batches WHERE file LIKE ? AND consumed_by IS NOT NULL",
               f"%/b{i}.h5")
    trig = query("SELECT job FROM triggers WHERE id = ?", job[0][0])[0]
    run_dir = os.path.join(tmp, "state", "jobs", str(trig[0]), "run")
    launched = wait("SELECT at FROM job_events WHERE job = ? AND state = 'running'", trig[0])[0][0]
    t_start = None
    while t_start is None:
        if os.path.exists(os.path.join(run_dir, "events.jsonl")):
            t_start = start_time(run_dir)
        time.sleep(0.01)
    parts["rename->launch"].append(launched - t0)
    parts["launch->step"].append(t_start - launched)
    parts["scored->step"].append(t_start - job[0][1])  # drift detected -> the job's first step
    parts["total"].append(t_start - t0)
    wait("SELECT id FROM jobs WHERE id = ? AND state IN ('promoted', 'rejected', 'failed')", trig[0])
svc.send_signal(signal.SIGUSR1 if a.executor == "pool" else signal.SIGTERM)
svc.wait(timeout=120)

med = {k: statistics.median(v) for k, v in parts.items()}
b = statistics.median(base)
print(f"batch renamed -> first training step, {a.executor} executor, poll_s {a.poll}, {a.reps} rounds (median s)")
for k in ("rename->launch", "launch->step", "scored->step", "total"):
    print(f"  {k:14s} {med[k]:7.3f}")
print(f"baseline: mpirun -np 2 driftrun train, exec -> first step   {b:7.3f}")
print(f"ratio total / baseline: {med['total'] / b:.2f}x")
shutil.rmtree(tmp, ignore_errors=True)
