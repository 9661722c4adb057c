"""GPU busy over a training's steady state, for scripts/gpu/check.sh: the mean of
nvidia-smi's utilization.gpu (the share of each sample period in which a kernel
ran) over the samples taken between two times, so that the process start, data
upload, graph capture and first epoch are left out.
Usage: busy.py UTIL_LOG (--run RUN_DIR | --window T0 T1)
UTIL_LOG: `nvidia-smi --query-gpu=timestamp,utilization.gpu --format=csv,noheader,nounits -lms 100`.
--run: from the end of a driftrun run's first epoch to the end of its last
(metrics.jsonl wall_s, events.jsonl's done event). --window: unix times.
Prints the percentage and the sample count, or "n/a 0" when no sample fell in."""
import argparse
import datetime
import json


def samples(path):
    for line in open(path):
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 2:
            continue
        try:
            t = datetime.datetime.strptime(parts[0], "%Y/%m/%d %H:%M:%S.%f").timestamp()
            yield t, float(parts[1])
        except ValueError:
            continue


def run_window(run):
    rows = [json.loads(line) for line in open(f"{run}/metrics.jsonl")]
    done = [e for e in map(json.loads, open(f"{run}/events.jsonl")) if e.get("event") == "done"][-1]
    start = done["time"] - done["wall_s"]  # the run's start on the clock of events.jsonl
    return start + rows[0]["wall_s"], start + rows[-1]["wall_s"]


ap = argparse.ArgumentParser()
ap.add_argument("log")
ap.add_argument("--run")
ap.add_argument("--window", nargs=2, type=float)
a = ap.parse_args()
try:
    t0, t1 = run_window(a.run) if a.run else a.window
    u = [v for t, v in samples(a.log) if t0 <= t <= t1]
    print(f"{sum(u) / len(u):.0f} {len(u)}" if u else "n/a 0")
except (OSError, ValueError, KeyError, IndexError, TypeError):
    print("n/a 0")
