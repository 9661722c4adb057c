"""A long check (minutes; not in CI, which sends the same signal with scancel):
a job with a real time limit (--time 2 --signal-before 60) that trains longer
than that. Slurm itself sends the warning signal; every attempt checkpoints and
requeues; the job completes and its weights equal an uninterrupted
`mpirun -np 2 driftrun train` of the same config.

    source scripts/mpi_env.sh
    .venv/bin/python scripts/slurm/time_limit_check.py --driftrun build/driftrun
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "integration"))
from harness import final_weights  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--driftrun", required=True)
ap.add_argument("--epochs", type=int, default=2500)
a = ap.parse_args()
exe = os.path.abspath(a.driftrun)
src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
tmp = tempfile.mkdtemp(prefix="driftrun-time-limit-")
cluster = os.path.join(tmp, "cluster")
script = os.path.join(src, "scripts", "slurm", "cluster.sh")
subprocess.run(["bash", script, "start", cluster, "--cpus", "8"], check=True, capture_output=True)
env = dict(os.environ, SLURM_CONF=os.path.join(cluster, "slurm.conf"))


def sh(*args):
    p = subprocess.run(list(args), cwd=tmp, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p.stdout


try:
    sh(exe, "make-data", "--out", "data", "--rows", "4000")
    cfg = os.path.join(tmp, "job.toml")
    open(cfg, "w").write(f"""name = "tl"
[data]
train = "data/train.h5"
[model]
hidden = [16]
[train]
epochs = {a.epochs}
batch_size = 128
seed = 3
[checkpoint]
every_steps = 500
""")
    t0 = time.time()
    job = json.loads(sh(exe, "submit", "--config", cfg, "--run-dir", os.path.join(tmp, "run"), "--ntasks-per-node",
                        "2", "--time", "2", "--signal-before", "60", "--set", "slurm.max_requeues=10", "--json"))
    jid = job["job_id"]
    while True:
        f = dict(w.split("=", 1) for w in sh("scontrol", "show", "job", "-o", jid).split() if "=" in w)
        if f["JobState"] in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"):
            break
        if f["JobState"] == "PENDING" and f.get("Reason") == "BeginTime":
            sh("scontrol", "update", f"jobid={jid}", "StartTime=now")
        time.sleep(1)
    wall = time.time() - t0
    events = [json.loads(x) for x in open(os.path.join(tmp, "run", "slurm", "attempts.jsonl"))]
    causes = [e.get("cause") for e in events if e["event"] == "end"]
    print(f"job {jid}: {f['JobState']} after {wall:.0f} s, restarts {f['Restarts']}, attempt ends {causes}")
    assert f["JobState"] == "COMPLETED" and int(f["Restarts"]) >= 1 and "time_limit" in causes, f
    ref = os.path.join(tmp, "ref")
    subprocess.run(["mpirun", "-np", "2", "--bind-to", "none", exe, "train", "--config", cfg, "--run-dir", ref,
                    "--quiet"], cwd=tmp, check=True, capture_output=True)
    a_w, b_w = final_weights(os.path.join(tmp, "run")), final_weights(ref)
    assert sorted(a_w) == sorted(b_w) and all(np.array_equal(a_w[k], b_w[k]) for k in a_w)
    print("weights equal to the uninterrupted run: OK")
finally:
    subprocess.run(["bash", script, "stop", cluster], capture_output=True)
