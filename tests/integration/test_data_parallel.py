"""Data-parallel equivalence: N = 2 and 3 ranks with global batch B end with the
weights of 1 rank with batch B (1e-5 relative), dropout included (each mask
follows its sample's row, not the rank), and every rank holds bit-identical
weights after every step (dist.verify_every_steps = 1). Each run twice: with the
shards held in memory and streamed (data.memory_mb below the data's size,
windows of 128 rows that batches straddle)."""
import os
import subprocess

import pytest

from harness import checkpoint_arrays, final_weights, max_rel_diff, must_msg, read_jsonl, summary

CONFIG = """
name = "dp"
[data]
train = "{train}"
val_fraction = 0.1
[model]
task = "{task}"
hidden = [32, 16]
dropout = {dropout}
[train]
epochs = 2
batch_size = 48
optimizer = "adamw"
lr = 3e-3
weight_decay = 0.01
schedule = "cosine"
warmup_steps = 5
grad_clip = 1.0
[dist]
verify_every_steps = 1
[checkpoint]
every_steps = 1000
"""

LABELS = ("regression", "classification", "dropout")
MODES = ("memory", "stream")
STREAM = ["--set", "data.memory_mb=0.05", "--set", "data.stream_chunk_rows=128"]


@pytest.fixture(scope="module")
def configs(module_workspace):
    ws = module_workspace
    ws.make_data(ws.path("data"), "--rows", "3000", "--features", "10", "--missing", "0.05")
    ws.make_data(ws.path("cls"), "--rows", "2400", "--features", "6", "--task", "classification",
                 "--classes", "4")
    return {
        "regression": ws.write_config("reg.toml", CONFIG.format(train=ws.path("data/train.h5"), task="regression",
                                                                dropout=0)),
        "classification": ws.write_config("cls.toml", CONFIG.format(train=ws.path("cls/train.h5"),
                                                                    task="classification", dropout=0)),
        "dropout": ws.write_config("drop.toml", CONFIG.format(train=ws.path("cls/train.h5"),
                                                              task="classification", dropout=0.5)),
    }


@pytest.fixture(scope="module")
def trained(module_workspace, configs):
    """trained(label, n) -> (process, run dir): each training run happens once."""
    ws = module_workspace

    def get(label, n, mode="memory"):
        def train():
            d = ws.path(f"run-{label}-{n}-{mode}")
            p = ws.run(["train", "--config", configs[label], "--run-dir", d, "--quiet"] +
                       (STREAM if mode == "stream" else []), ranks=None if n == 1 else n)
            return p, d
        return ws.once(("train", label, n, mode), train)
    return get


def ok_run(trained, label, n, mode="memory"):
    p, d = trained(label, n, mode)
    assert p.returncode == 0, must_msg(p, f"{label}: training on {n} rank(s), {mode}, exits 0")
    return d


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n", (1, 2, 3))
@pytest.mark.parametrize("label", LABELS)
def test_training_run(trained, label, n, mode):
    d = ok_run(trained, label, n, mode)
    s = summary(d)
    assert s["data"]["mode"] == mode, f"{label}: the run's data mode is {mode}: {s['data']}"
    assert s["world_size"] == n, f"{label}: summary world_size = {n} (got {s['world_size']})"
    if n > 1:
        assert s["replica_checks"] == s["steps"] and s["steps"] > 0, \
            f"{label}: {n} ranks identical after every one of {s['steps']} steps " \
            f"(replica_checks {s['replica_checks']})"
    metrics = read_jsonl(f"{d}/metrics.jsonl")
    assert len(metrics) == 2 and all(k in m for m in metrics for k in
                                     ("epoch", "step", "train_loss", "val_loss", "val_metric", "samples_per_s")), \
        f"{label}: metrics.jsonl has one complete row per epoch: {metrics}"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n", (2, 3))
@pytest.mark.parametrize("label", LABELS)
def test_ranks_end_with_one_rank_weights(trained, label, n, mode):
    one, many = ok_run(trained, label, 1, mode), ok_run(trained, label, n, mode)
    diff = max_rel_diff(final_weights(one), final_weights(many))
    assert diff < 1e-5, f"{label}, {mode}: {n} ranks end with the 1-rank weights (rel diff {diff:.2e})"


@pytest.mark.parametrize("label", LABELS)
def test_streaming_trains_another_order_to_the_same_quality(trained, label):
    """Streaming changes the order (chunks and a shuffle window), so weights
    differ from the held run's; the validation loss must not get worse."""
    held, streamed = summary(ok_run(trained, label, 1)), summary(ok_run(trained, label, 1, "stream"))
    assert streamed["val_loss"] < 1.25 * held["val_loss"], \
        f"{label}: streamed val_loss {streamed['val_loss']:.4f} vs held {held['val_loss']:.4f}"


def allreduce_run(ws, configs, label, n, *extra):
    """The run of `label` on n ranks with the MPI all-reduce (no shared memory)."""
    def train():
        d = ws.path(f"run-{label}-{n}-allreduce{''.join(extra)}")
        p = ws.run(["train", "--config", configs[label], "--run-dir", d, "--quiet", "--set",
                    "dist.shared_memory=off", *extra], ranks=n)
        assert p.returncode == 0, must_msg(p, f"{label}: {n} ranks with dist.shared_memory = off exit 0")
        assert summary(d)["grad_sync"] == "allreduce", summary(d)
        return d
    return ws.once(("allreduce", label, n, extra), train)


def test_small_buckets_same_weights(module_workspace, configs):
    """Bucket size changes how gradients travel, not what they are."""
    ws = module_workspace
    d = allreduce_run(ws, configs, "regression", 2, "--set", "dist.bucket_mb=0.002")
    diff = max_rel_diff(final_weights(allreduce_run(ws, configs, "regression", 2)), final_weights(d))
    assert diff < 1e-6, f"small buckets give the same weights (rel diff {diff:.2e})"


@pytest.mark.parametrize("n", (2, 3))
@pytest.mark.parametrize("label", LABELS)
def test_shared_memory_step_equals_the_allreduce(module_workspace, configs, trained, label, n):
    """Ranks on one host meet through shared memory by default (dist.shared_memory
    = auto). With 2 ranks the gradient sum is one addition either way, so the
    weights and optimizer state are the all-reduce's bit for bit (grad_clip and
    the cosine schedule included); with 3 the additions may be ordered
    otherwise."""
    ws = module_workspace
    shared = ok_run(trained, label, n)
    s = summary(shared)
    assert s["grad_sync"] == "shared_memory", f"{label}: {n} ranks on one host share memory: {s['grad_sync']}"
    a = checkpoint_arrays(summary(allreduce_run(ws, configs, label, n))["checkpoint"])
    b = checkpoint_arrays(s["checkpoint"])
    state = sorted(k for k in a if k.startswith(("model/", "optim")))
    assert state and sorted(k for k in b if k.startswith(("model/", "optim"))) == state
    diff = max(max_rel_diff({k: a[k]}, {k: b[k]}) for k in state)
    if n == 2:
        assert diff == 0, f"{label}: 2 ranks, shared memory vs all-reduce differ (rel diff {diff:.2e})"
    else:
        assert diff < 1e-5, f"{label}: 3 ranks, shared memory vs all-reduce (rel diff {diff:.2e})"


def test_shared_memory_on_and_off_are_reported(module_workspace, configs, trained):
    s = summary(ok_run(trained, "regression", 1))
    assert s["grad_sync"] == "none", f"one rank reduces nothing: {s['grad_sync']}"
    ws = module_workspace
    d = ws.path("run-shared-on")
    p = ws.run(["train", "--config", configs["regression"], "--run-dir", d, "--quiet", "--set",
                "dist.shared_memory=on"], ranks=2)
    assert p.returncode == 0, must_msg(p, "dist.shared_memory = on with 2 ranks on one host exits 0")
    start = [e for e in read_jsonl(f"{d}/events.jsonl") if e.get("event") == "start"][0]
    assert start["grad_sync"] == "shared_memory" and start["grad_sync_note"] == "", start
    p = ws.run(["train", "--config", configs["regression"], "--run-dir", ws.path("run-shared-cuda"), "--quiet",
                "--set", "dist.shared_memory=on", "--set", "train.device=cuda"], ranks=2)
    assert p.returncode == 2 and "dist.shared_memory" in p.stderr, must_msg(p, "on with CUDA is a usage error")


def test_shared_memory_on_without_room_in_dev_shm_is_an_infrastructure_failure(module_workspace, configs):
    """A host with a full /dev/shm (here a 2 MiB tmpfs in a private mount
    namespace): "on" fails with exit 5 and one message naming /dev/shm; "auto"
    falls back to the all-reduce and says why."""
    ws = module_workspace
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=2m tmpfs /dev/shm"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a small /dev/shm here (needs root): {probe.stderr.strip()}")
    big = ["--quiet", "--set", "model.hidden=[512, 512]", "--set", "train.epochs=1"]

    def run(d, mode):
        cmd = ["mpirun", "-np", "2", "--bind-to", "none", ws.driftrun, "train", "--config", configs["regression"],
               "--run-dir", d, *big, "--set", f"dist.shared_memory={mode}"]
        return subprocess.run(["unshare", "-m", "sh", "-c", 'mount -t tmpfs -o size=2m tmpfs /dev/shm && exec "$@"',
                               "sh", *cmd], cwd=ws.tmp, capture_output=True, text=True, timeout=300)
    p = run(ws.path("run-shm-full-on"), "on")
    mine = [ln for ln in p.stderr.splitlines() if ln.startswith("driftrun train:")]
    assert p.returncode == 5 and len(mine) == 1 and "/dev/shm" in mine[0] and "No space" in mine[0], \
        must_msg(p, "dist.shared_memory = on with /dev/shm full: exit 5, one message naming /dev/shm")
    d = ws.path("run-shm-full-auto")
    p = run(d, "auto")
    assert p.returncode == 0, must_msg(p, "dist.shared_memory = auto with /dev/shm full falls back and exits 0")
    s = summary(d)
    assert s["grad_sync"] == "allreduce", s["grad_sync"]
    start = [e for e in read_jsonl(f"{d}/events.jsonl") if e.get("event") == "start"][0]
    assert "/dev/shm" in start["grad_sync_note"], start["grad_sync_note"]


MPMD_CASES = {
    "lr": ([], ["--set", "train.lr=0.1"], "rank 1 was started with another configuration than rank 0"),
    # The message names the key (it gave a config hash).
    "lr-key": ([], ["--set", "train.lr=0.1"], "(rank 0 -> rank 1: train.lr: "),
    "shm": ([], ["--set", "dist.shared_memory=\"off\""], "rank 1 was started with another configuration"),
    # Found by a stranger: these hung (in MPI_Comm_dup, or until dist.timeout_s) with no message.
    "bad-key": ([], ["--set", "train.bogus=1"], "rank 1: --set train.bogus=1: unknown key"),
    "env": (["env", "DRIFTRUN_STEP_PIPELINE=maybe"], [], "rank 1: DRIFTRUN_STEP_PIPELINE='maybe'"),
    # Found by a stranger: another --run-dir on rank 1 was ignored without a word.
    "run-dir": ([], ["--run-dir", "elsewhere"], "rank 1 was started with other folder options"),
}


@pytest.mark.parametrize("case", list(MPMD_CASES))
def test_ranks_started_with_different_configs_are_refused(module_workspace, configs, case):
    """mpirun's ':' form gives each rank its own command line: a rank with
    another learning rate would update its share of the weights its own way,
    and one without shared memory would issue other collectives; a rank whose
    config or environment is refused must not leave the other waiting. Refused
    (exit 2) before anything is written, naming the rank, in seconds."""
    ws = module_workspace
    prefix, other, message = MPMD_CASES[case]
    d = ws.path("run-mpmd-" + case)
    base = [ws.driftrun, "train", "--config", configs["regression"], "--run-dir", d, "--quiet"]
    p = subprocess.run(["mpirun", "--bind-to", "none", "-np", "1"] + base + [":", "-np", "1"] + prefix + base +
                       other, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, must_msg(p, "ranks with different configs must exit 2")
    assert message in p.stderr, p.stderr
    assert not os.path.exists(d), "a refused job left a run folder"
    if case == "lr-key":
        assert "-> 0.1)" in p.stderr, p.stderr


def test_ranks_may_spell_the_same_run_folder_differently(module_workspace, configs):
    """Found by a stranger: an absolute path on one rank and ./x relative on
    the other is one folder, and was refused as other folder options."""
    ws = module_workspace
    d = ws.path("run-mpmd-spelling")
    other = "./" + os.path.basename(d)
    base = [ws.driftrun, "train", "--config", configs["regression"], "--quiet", "--set", "train.max_steps=2"]
    p = subprocess.run(["mpirun", "--bind-to", "none", "-np", "1"] + base + ["--run-dir", d, ":", "-np", "1"] +
                       base + ["--run-dir", other], capture_output=True, text=True, timeout=180,
                       cwd=os.path.dirname(d))
    assert p.returncode == 0, must_msg(p, "one folder spelled two ways is one folder")
    assert summary(d)["world_size"] == 2
