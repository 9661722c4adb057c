"""Collective deadlines (dist.timeout_s): a rank that hangs outside MPI inside a
step (DRIFTRUN_FAULT_SLEEP_AT_STEP on DRIFTRUN_FAULT_RANK) makes the others stop
within the deadline (plus a short check), exit 5, and name that rank, the
operation, its size and the step; the job resumes afterwards."""
import os
import re
import time

import pytest

from harness import must_msg, summary

CONFIG = """
name = "deadline"
[data]
train = "{train}"
val_fraction = 0.1
[model]
hidden = [16]
[train]
epochs = 2
batch_size = 60
[dist]
timeout_s = {timeout}
shared_memory = "{shared}"
[checkpoint]
every_steps = 2
[export]
onnx = false
"""

HANG_S = 120  # how long the faulty rank sleeps: the others must not wait for it


@pytest.fixture(scope="module")
def data(module_workspace):
    ws = module_workspace
    ws.make_data(ws.path("data"), "--rows", "1200", "--features", "6")
    return ws.path("data/train.h5")


def hang(ws, config, run_dir, ranks, rank, step):
    env = {"DRIFTRUN_FAULT_SLEEP_AT_STEP": str(step), "DRIFTRUN_FAULT_RANK": str(rank),
           "DRIFTRUN_FAULT_SLEEP_S": str(HANG_S)}
    t0 = time.monotonic()
    p = ws.run(["train", "--config", config, "--run-dir", run_dir, "--quiet"], ranks=ranks, env=env,
               timeout=HANG_S * 2)
    return p, time.monotonic() - t0


@pytest.mark.parametrize("ranks,rank,shared", [(3, 1, "off"), (2, 0, "off"), (3, 1, "on"), (2, 0, "on")])
def test_a_hung_rank_is_named_and_the_job_exits_5(module_workspace, data, ranks, rank, shared):
    """With the all-reduce and with the shared-memory step (whose barrier is
    where the others wait)."""
    ws = module_workspace
    config = ws.write_config(f"c{ranks}{rank}{shared}.toml", CONFIG.format(train=data, timeout=2, shared=shared))
    p, wall = hang(ws, config, ws.path(f"run{ranks}{rank}{shared}"), ranks, rank, step=5)
    out = p.stdout + p.stderr
    assert p.returncode == 5, must_msg(p, "a hung rank must end the job with exit 5")
    # Not a timing assertion: the job ended on the deadline, not when the sleeper woke.
    assert wall < HANG_S, must_msg(p, f"the job waited for the hung rank ({wall:.0f} s)")
    if shared == "off":
        m = re.search(r"all-reduce of (\d+) float32 \(.*?\) at step 5 \(collective #\d+\) did not complete "
                      r"within 2 s \(dist\.timeout_s", out)
        assert m, must_msg(p, "the message names the operation, its size and the step")
        assert int(m.group(1)) > 0
    else:
        assert re.search(r"waiting for every rank's gradients \(shared-memory step, \d+ float32\): barrier at "
                         r"step 5 \(collective #\d+\) did not complete within 2 s \(dist\.timeout_s", out), \
            must_msg(p, "the message names what the ranks waited for and the step")
    assert re.search(rf"\brank {rank} never arrived", out), must_msg(p, f"rank {rank} is named")
    others = [r for r in range(ranks) if r != rank]
    waited = ("rank " if len(others) == 1 else "ranks ") + ", ".join(map(str, others)) + " waited in it"
    assert waited in out, must_msg(p, "the ranks that waited are listed")
    assert out.count("did not complete within") == 1, must_msg(p, "one message, not one per rank")


def test_the_job_resumes_after_a_deadline(module_workspace, data):
    ws = module_workspace
    config = ws.write_config("resume.toml", CONFIG.format(train=data, timeout=2, shared="auto"))
    run = ws.path("run-resume")
    p, _ = hang(ws, config, run, 2, 1, step=7)
    assert p.returncode == 5, must_msg(p, "hung rank")
    assert os.path.exists(os.path.join(run, "checkpoints")), "checkpoints before the hang survive"
    # The message's advice: resume, raising dist.timeout_s if the rank was only
    # slow. How ranks meet and wait changes no result: not a config change.
    p = ws.run(["train", "--config", config, "--run-dir", run, "--resume", "auto", "--quiet", "--set",
                "dist.timeout_s=30", "--set", "dist.shared_memory=\"off\""], ranks=2)
    assert p.returncode == 0, must_msg(p, "resume after the deadline with a longer deadline")
    assert summary(run)["steps"] == 2 * 18


def test_a_slow_but_punctual_rank_is_not_a_timeout(module_workspace, data):
    """A rank that lags by less than the deadline only delays the step."""
    ws = module_workspace
    config = ws.write_config("slow.toml", CONFIG.format(train=data, timeout=30, shared="auto"))
    env = {"DRIFTRUN_FAULT_SLEEP_AT_STEP": "3", "DRIFTRUN_FAULT_RANK": "1", "DRIFTRUN_FAULT_SLEEP_S": "2"}
    p = ws.run(["train", "--config", config, "--run-dir", ws.path("run-slow"), "--quiet"], ranks=2, env=env)
    assert p.returncode == 0, must_msg(p, "a 2 s lag under a 30 s deadline")


@pytest.mark.parametrize("value", ["0", "-1", "1e9"])
def test_timeout_must_be_positive_and_sane(module_workspace, data, value):
    ws = module_workspace
    config = ws.write_config("bad.toml", CONFIG.format(train=data, timeout=value, shared="auto"))
    p = ws.run(["train", "--config", config, "--run-dir", ws.path("run-bad"), "--quiet"])
    assert p.returncode == 2, must_msg(p, f"dist.timeout_s = {value}")
    assert "dist.timeout_s" in p.stderr
