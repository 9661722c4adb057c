"""The pool executor (mpirun -np 3 driftrun serve --executor pool: a master and
two workers), measured:

  idle     CPU use of each rank while no job runs, over --idle-s seconds (from
           /proc/<pid>/stat; target: an idle worker under 2% of a core)
  train    samples/s of a job on the pool's 2 workers vs `mpirun -np 2
           driftrun train` of the same job config, alternated in the same run
           (median of the epochs of --reps runs each; target ratio >= 0.97)

    source scripts/mpi_env.sh
    .venv/bin/python scripts/bench/pool_bench.py --driftrun build/driftrun [--idle-s 30] [--reps 3]
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
ap.add_argument("--idle-s", type=float, default=30)
ap.add_argument("--reps", type=int, default=3)
ap.add_argument("--rows", type=int, default=100000)
a = ap.parse_args()
exe = os.path.abspath(a.driftrun)
tmp = tempfile.mkdtemp(prefix="driftrun-pool-bench-")
MPIRUN = ["mpirun", "--bind-to", "none"]


def run(*args):
    p = subprocess.run([exe] + list(args), cwd=tmp, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"driftrun {' '.join(args)} failed ({p.returncode}):\n{p.stderr}")
    return p


run("make-data", "--out", "data", "--rows", str(a.rows))
open(os.path.join(tmp, "model.toml"), "w").write("""
name = "bench"
[data]
train = "data/train.h5"
[model]
hidden = [64, 64]
[train]
epochs = 4
batch_size = 256
[registry]
path = "registry"
[retrain]
ranks = 2
""")
open(os.path.join(tmp, "svc.toml"), "w").write(
    '[service]\nmodels = ["model.toml"]\nstate = "state"\npoll_s = 0.2\n')
db = os.path.join(tmp, "state", "journal.db")
svc = subprocess.Popen(MPIRUN + ["-np", "3", exe, "serve", "--config", "svc.toml", "--executor", "pool"], cwd=tmp,
                       stdout=open(os.path.join(tmp, "serve.log"), "w"), stderr=subprocess.STDOUT)


def wait(sql, timeout=600):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if os.path.exists(db):
            try:
                with sqlite3.connect(db) as c:
                    r = c.execute(sql).fetchall()
            except sqlite3.OperationalError:
                r = None
            if r:
                return r
        if svc.poll() is not None:
            raise SystemExit("the service exited:\n" + open(os.path.join(tmp, "serve.log")).read())
        time.sleep(0.05)
    raise SystemExit("timeout: " + sql)


def samples_per_s(run_dir):
    rows = [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl"))]
    return statistics.median(r["samples_per_s"] for r in rows)


def ranks():
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        if b"serve" in cmd and not cmd[0].endswith(b"mpirun") and any(tmp.encode() in e for e in env):
            for e in env:
                if e.startswith(b"OMPI_COMM_WORLD_RANK="):
                    out[int(e.split(b"=")[1])] = int(pid)
    return out


def cpu_ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


wait("SELECT id FROM jobs WHERE id = 1 AND state = 'promoted'")
pids = ranks()
hz = os.sysconf("SC_CLK_TCK")
before = {r: cpu_ticks(p) for r, p in pids.items()}
time.sleep(a.idle_s)
idle = {r: (cpu_ticks(p) - before[r]) / hz / a.idle_s * 100 for r, p in pids.items()}

pool, alone = [samples_per_s(os.path.join(tmp, "state", "jobs", "1", "run"))], []
config = os.path.join(tmp, "state", "jobs", "1", "config.toml")
for i in range(a.reps):
    out = os.path.join(tmp, f"alone-{i}")
    p = subprocess.run(MPIRUN + ["-np", "2", exe, "train", "--config", config, "--run-dir", out, "--quiet"],
                       cwd=tmp, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    alone.append(samples_per_s(out))
    if i + 1 < a.reps:
        run("signal", "--config", "svc.toml", "--model", "bench", "--reason", "bench")
        job = i + 2
        wait(f"SELECT id FROM jobs WHERE id = {job} AND state IN ('promoted', 'rejected', 'failed')")
        pool.append(samples_per_s(os.path.join(tmp, "state", "jobs", str(job), "run")))
svc.send_signal(signal.SIGUSR1)
svc.wait(timeout=120)

print(f"pool executor, mpirun -np 3 (master + 2 workers), {os.cpu_count()} cores")
print(f"idle CPU over {a.idle_s:.0f} s (% of one core):")
for r in sorted(idle):
    print(f"  rank {r} ({'master' if r == 0 else 'worker'}) {idle[r]:6.2f}%")
print(f"training {a.rows} rows, MLP [64, 64], batch 256, 2 ranks (median samples/s of {a.reps} runs each):")
print(f"  pool job                       {statistics.median(pool):12.0f}   runs {[round(x) for x in pool]}")
print(f"  mpirun -np 2 driftrun train    {statistics.median(alone):12.0f}   runs {[round(x) for x in alone]}")
print(f"ratio pool / train: {statistics.median(pool) / statistics.median(alone):.3f}")
shutil.rmtree(tmp, ignore_errors=True)
