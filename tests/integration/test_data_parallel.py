"""Data-parallel equivalence: N = 2 and 3 ranks with global batch B end with the
weights of 1 rank with batch B (1e-5 relative), and every rank holds bit-identical
weights after every step (dist.verify_every_steps = 1)."""
from harness import Harness, final_weights, max_rel_diff, read_jsonl, summary

h = Harness("data_parallel")
h.make_data(h.path("data"), "--rows", "3000", "--features", "10", "--missing", "0.05")
h.make_data(h.path("cls"), "--rows", "2400", "--features", "6", "--task", "classification",
            "--classes", "4")

CONFIG = """
name = "dp"
[data]
train = "{train}"
val_fraction = 0.1
[model]
task = "{task}"
hidden = [32, 16]
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
reg = h.write_config("reg.toml", CONFIG.format(train=h.path("data/train.h5"), task="regression"))
cls = h.write_config("cls.toml", CONFIG.format(train=h.path("cls/train.h5"), task="classification"))

for label, cfg in (("regression", reg), ("classification", cls)):
    runs = {}
    for n in (1, 2, 3):
        d = h.path(f"run-{label}-{n}")
        p = h.run(["train", "--config", cfg, "--run-dir", d, "--quiet"], ranks=None if n == 1 else n)
        if not h.must(p, f"{label}: training on {n} rank(s) exits 0"):
            continue
        s = summary(d)
        h.check(s["world_size"] == n, f"{label}: summary world_size = {n}")
        if n > 1:
            h.check(s["replica_checks"] == s["steps"] and s["steps"] > 0,
                    f"{label}: {n} ranks identical after every one of {s['steps']} steps")
        metrics = read_jsonl(f"{d}/metrics.jsonl")
        h.check(len(metrics) == 2 and all(k in m for m in metrics for k in
                ("epoch", "step", "train_loss", "val_loss", "val_metric", "samples_per_s")),
                f"{label}: metrics.jsonl has one complete row per epoch")
        runs[n] = final_weights(d)
    for n in (2, 3):
        if 1 in runs and n in runs:
            diff = max_rel_diff(runs[1], runs[n])
            h.check(diff < 1e-5, f"{label}: {n} ranks end with the 1-rank weights (rel diff {diff:.2e})")

# Bucket size changes how gradients travel, not what they are.
d = h.path("run-small-buckets")
p = h.run(["train", "--config", reg, "--run-dir", d, "--quiet", "--set", "dist.bucket_mb=0.002"], ranks=2)
if h.must(p, "2 ranks with 2 KB gradient buckets exit 0"):
    diff = max_rel_diff(final_weights(h.path("run-regression-2")), final_weights(d))
    h.check(diff < 1e-6, f"small buckets give the same weights (rel diff {diff:.2e})")

h.finish()
