"""driftrun submit on the one-node test cluster (scripts/slurm/cluster.sh),
measured against `mpirun -np 2 driftrun train` of the same config in the same run:

  start    seconds from the start of `driftrun submit` (or of mpirun) to the
           run's first training step (events.jsonl, train.log_every_steps = 1);
           median of --reps runs each, alternated
  requeue  the wall time a checkpoint-requeue-resume cycle adds: a job sent the
           time-limit signal (scancel --signal=USR1) mid-run, released at once
           from Slurm's requeue hold (scontrol update StartTime=now), vs the same
           job uninterrupted; from submit to COMPLETED, median of --reps pairs

    source scripts/mpi_env.sh
    .venv/bin/python scripts/bench/slurm_bench.py --driftrun build/driftrun [--reps 3]
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("--driftrun", required=True)
ap.add_argument("--reps", type=int, default=3)
a = ap.parse_args()
exe = os.path.abspath(a.driftrun)
src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
tmp = tempfile.mkdtemp(prefix="driftrun-slurm-bench-")
cluster = os.path.join(tmp, "cluster")
script = os.path.join(src, "scripts", "slurm", "cluster.sh")
subprocess.run(["bash", script, "start", cluster, "--cpus", "8"], check=True, capture_output=True)
env = dict(os.environ, SLURM_CONF=os.path.join(cluster, "slurm.conf"))
CONFIG = """
name = "bench"
[data]
train = "data/train.h5"
[model]
hidden = [64, 64]
[train]
epochs = {epochs}
batch_size = 256
log_every_steps = 1
[checkpoint]
every_steps = 200
"""


def sh(*args, check=True):
    p = subprocess.run(list(args), cwd=tmp, env=env, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def first_step(run_dir, t0, timeout=120):
    path = os.path.join(run_dir, "events.jsonl")
    while time.time() - t0 < timeout:
        if os.path.exists(path):
            for line in open(path):
                e = json.loads(line)
                if e.get("event") == "step":
                    return e["time"]
        time.sleep(0.01)
    raise SystemExit(f"no step event in {path}")


def job_state(job):
    out = sh("scontrol", "show", "job", "-o", job).stdout
    return dict(w.split("=", 1) for w in out.split() if "=" in w)


def wait_done(job, release=False):
    while True:
        f = job_state(job)
        if f["JobState"] in ("COMPLETED", "FAILED", "CANCELLED"):
            assert f["JobState"] == "COMPLETED", f
            return time.time()
        if release and f["JobState"] == "PENDING" and f.get("Reason") == "BeginTime":
            sh("scontrol", "update", f"jobid={job}", "StartTime=now")
        time.sleep(0.05)


def submit(cfg, run_dir):
    return json.loads(sh(exe, "submit", "--config", cfg, "--run-dir", run_dir, "--ntasks-per-node", "2",
                         "--json").stdout)["job_id"]


try:
    sh(exe, "make-data", "--out", "data", "--rows", "50000")
    short = os.path.join(tmp, "short.toml")
    open(short, "w").write(CONFIG.format(epochs=1))
    longer = os.path.join(tmp, "long.toml")
    open(longer, "w").write(CONFIG.format(epochs=8))
    sub, mpi = [], []
    for r in range(a.reps):
        t0 = time.time()
        run = os.path.join(tmp, f"mpirun-{r}")
        sh("mpirun", "-np", "2", "--bind-to", "none", exe, "train", "--config", short, "--run-dir", run, "--quiet")
        mpi.append(first_step(run, t0) - t0)
        t0 = time.time()
        run = os.path.join(tmp, f"submit-{r}")
        job = submit(short, run)
        sub.append(first_step(run, t0) - t0)
        wait_done(job)
    straight, cycled = [], []
    for r in range(a.reps):
        t0 = time.time()
        wait_done(submit(longer, os.path.join(tmp, f"straight-{r}")))
        straight.append(time.time() - t0)
        t0 = time.time()
        run = os.path.join(tmp, f"cycled-{r}")
        job = submit(longer, run)
        ck = os.path.join(run, "checkpoints")
        while not (os.path.isdir(ck) and any(n.endswith(".json") for n in os.listdir(ck))):
            time.sleep(0.02)
        sh("scancel", "--signal=USR1", job)
        wait_done(job, release=True)
        cycled.append(time.time() - t0)
    m = statistics.median
    print(f"start: submit to first step {m(sub):.2f} s, mpirun to first step {m(mpi):.2f} s "
          f"(+{m(sub) - m(mpi):.2f} s for Slurm; medians of {a.reps})")
    print(f"requeue: uninterrupted {m(straight):.2f} s, with one checkpoint-requeue-resume {m(cycled):.2f} s: "
          f"+{m(cycled) - m(straight):.2f} s per cycle (Slurm's ~120 s requeue hold released at once)")
finally:
    subprocess.run(["bash", script, "stop", cluster], capture_output=True)
