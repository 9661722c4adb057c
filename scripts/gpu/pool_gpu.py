"""The pool executor on a GPU (scripts/gpu/check.sh): `mpirun -np 2 driftrun
serve --executor pool` (a master and one worker) trains two jobs in a row on
the same one-rank group with dist.backend = "nccl", so the second job reuses
the group's kept NCCL communicator. Prints one line: both jobs' states and
samples/s. Usage: pool_gpu.py DRIFTRUN DATA_H5 WORKDIR"""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

exe, data, w = (os.path.abspath(a) for a in sys.argv[1:4])
os.makedirs(w, exist_ok=True)
open(f"{w}/m.toml", "w").write(f"""name = "gpupool"
[data]
train = "{data}"
[model]
hidden = [64]
[train]
epochs = 1
batch_size = 4096
device = "cuda"
[dist]
backend = "nccl"
[registry]
path = "{w}/registry"
[retrain]
ranks = 1
""")
open(f"{w}/svc.toml", "w").write('[service]\nmodels = ["m.toml"]\nstate = "state"\npoll_s = 0.2\n')
p = subprocess.Popen(["mpirun", "-np", "2", "--bind-to", "none", exe, "serve", "--config", "svc.toml",
                      "--executor", "pool"], cwd=w, stdout=open(f"{w}/pool.log", "w"), stderr=subprocess.STDOUT)


def done(job):
    t0 = time.time()
    while time.time() - t0 < 90 and p.poll() is None:
        try:
            with sqlite3.connect(f"{w}/state/journal.db") as c:
                r = c.execute("SELECT state, reason FROM jobs WHERE id = ? AND state IN "
                              "('promoted', 'rejected', 'failed')", (job,)).fetchall()
            if r:
                return r[0]
        except sqlite3.OperationalError:
            pass
        time.sleep(0.2)
    return ("timeout", open(f"{w}/pool.log").read()[-500:])


first = done(1)
subprocess.run([exe, "signal", "--config", "svc.toml", "--model", "gpupool", "--reason", "gpu check"], cwd=w,
               capture_output=True)
second = done(2)
p.send_signal(signal.SIGUSR1)
try:
    p.wait(timeout=60)
except subprocess.TimeoutExpired:
    p.kill()


def speed(job):
    try:
        return round(json.load(open(f"{w}/state/jobs/{job}/run/summary.json"))["samples_per_s"])
    except (OSError, KeyError, ValueError):
        return 0


print(f"pool on the GPU (1 worker, nccl): job 1 {first[0]} ({speed(1)} samples/s), job 2 on the kept "
      f"communicator {second[0]} ({speed(2)} samples/s)" +
      ("" if first[0] in ("promoted", "rejected") and second[0] in ("promoted", "rejected")
       else "; " + f"{first[1]} | {second[1]}".replace("\n", " / ")))
