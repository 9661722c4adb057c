"""data.train as a list of files (the retraining service's window: the base
training file plus recent labelled batches), read as one table.

Training on [a, b] (b's columns in another order) ends with exactly the weights
of training on one file holding a's rows then b's in a's column order, on one
rank and on two (whose shards cross the file boundary). Each file keeps its own
holdout rows. A file that cannot join the table is refused (exit 3) naming it.
"""
import json
import os

import h5py
import numpy as np
import pytest

from harness import final_weights, must_msg, summary

CONFIG = """
name = "window"
[data]
train = "{train}"
val_fraction = 0.0
[model]
hidden = [8]
[train]
epochs = 2
batch_size = 100
seed = 3
[checkpoint]
every_steps = 0
[export]
onnx = false
"""


def read(path):
    with h5py.File(path, "r") as f:
        x, y = f["features"][()], f["labels"][()]
        names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["feature_names"]]
    return x, y, names


def write(path, x, y, names):
    with h5py.File(path, "w") as f:
        f.create_dataset("features", data=x)
        f.create_dataset("labels", data=y)
        f.attrs["feature_names"] = np.array(names, dtype=h5py.string_dtype())
    return path


@pytest.fixture(scope="module")
def files(module_workspace):
    ws = module_workspace
    data = ws.path("data")
    ws.make_data(data, "--rows", "1200", "--features", "5", "--batches", "1", "--batch-rows", "700")
    a = os.path.join(data, "train.h5")
    xa, ya, names = read(a)
    xb, yb, _ = read(os.path.join(data, "batch-001.h5"))
    order = [4, 2, 0, 3, 1]
    b = write(ws.path("b-reordered.h5"), xb[:, order], yb, [names[j] for j in order])
    joined = write(ws.path("joined.h5"), np.concatenate([xa, xb]), np.concatenate([ya, yb]), names)
    return ws, a, b, joined


def train(ws, run, train_value, ranks=None, *sets):
    cfg = ws.write_config(f"{run}.toml", CONFIG.format(train="x"))
    d = ws.path(run)
    p = ws.run(["train", "--config", cfg, "--run-dir", d, "--quiet", "--noprogress",
                "--set", f"data.train={train_value}"] + list(sets), ranks=ranks)
    return p, d


@pytest.mark.parametrize("ranks", (None, 2))
def test_a_list_trains_exactly_like_the_joined_file(files, ranks):
    ws, a, b, joined = files
    tag = f"r{ranks or 1}"
    p, listed = train(ws, f"listed-{tag}", json.dumps([a, b]), ranks)
    assert p.returncode == 0, must_msg(p, f"training on [a, b] ({tag})")
    p, one = train(ws, f"joined-{tag}", json.dumps(joined), ranks)
    assert p.returncode == 0, must_msg(p, f"training on the joined file ({tag})")
    wl, wj = final_weights(listed), final_weights(one)
    assert wl.keys() == wj.keys()
    for k in wl:
        np.testing.assert_array_equal(wl[k], wj[k], err_msg=f"{tag}: {k}")
    assert summary(listed)["train_rows"] == 1900


def test_each_file_holds_out_its_own_rows(files):
    ws, a, b, _ = files
    rows = {}
    for name, value in (("a", json.dumps(a)), ("b", json.dumps(b)), ("ab", json.dumps([a, b]))):
        p, d = train(ws, f"holdout-{name}", value, None, "--set", "data.val_fraction=0.2",
                     "--set", "train.max_steps=1")
        assert p.returncode == 0, must_msg(p, f"holdout run on {name}")
        rows[name] = summary(d)["val_rows"]
    assert rows["ab"] == rows["a"] + rows["b"], rows


def test_a_file_that_cannot_join_is_refused_naming_it(files):
    ws, a, _, _ = files
    x, y, names = read(a)
    other = write(ws.path("other-columns.h5"), x, y, names[:-1] + ["zz"])
    p, d = train(ws, "refused", json.dumps([a, other]), None)
    assert p.returncode == 3 and "other-columns.h5" in p.stderr and "zz" in p.stderr, \
        must_msg(p, "a file with another column")
    assert not os.path.exists(os.path.join(d, "checkpoints")), "nothing trained"
    p = ws.run(["config", "--set", "data.train=[]"])
    assert p.returncode == 2 and "data.train" in p.stderr, must_msg(p, "an empty list")


def reordered(ws, src, name):
    x, y, names = read(src)
    order = [4, 2, 0, 3, 1]
    return write(ws.path(name), x[:, order], y, [names[j] for j in order])


def test_a_warm_start_meets_its_checkpoints_columns_by_name(files):
    """Found by a stranger: a warm start (train.init_from) from a checkpoint
    trained on another column order took the data by position, trained on
    mismatched columns and exited 0; predict and the ONNX file then reordered
    by name, and every prediction was wrong. From one checkpoint, the same data
    in either column order now trains to the same weights."""
    ws, a, _, _ = files
    ra = reordered(ws, a, "a-reordered.h5")
    p, base = train(ws, "warm-base", json.dumps(ra))
    assert p.returncode == 0, must_msg(p, "the checkpoint, trained on reordered columns")
    ck = summary(base)["checkpoint"]
    got = {}
    for name, value in (("as-checkpoint", ra), ("file-order", a)):
        p, d = train(ws, f"warm-{name}", json.dumps(value), None, "--set", f"train.init_from={json.dumps(ck)}",
                     "--set", "data.val_fraction=0.2")
        assert p.returncode == 0, must_msg(p, f"warm start on {name} columns")
        got[name] = (final_weights(d), summary(d)["val_loss"])
    w1, w2 = got["as-checkpoint"][0], got["file-order"][0]
    assert w1.keys() == w2.keys()
    for k in w1:
        np.testing.assert_array_equal(w1[k], w2[k], err_msg=k)
    assert got["as-checkpoint"][1] == got["file-order"][1], got


def test_data_val_meets_the_training_columns_by_name(files):
    """data.val with the training columns in another order: the same val_loss
    (before, its columns were taken by position)."""
    ws, a, b, _ = files
    ordered = os.path.join(os.path.dirname(a), "batch-001.h5")
    loss = {}
    for name, val in (("ordered", ordered), ("reordered", b)):
        p, d = train(ws, f"val-{name}", json.dumps(a), None, "--set", f"data.val={json.dumps(val)}")
        assert p.returncode == 0, must_msg(p, f"data.val {name}")
        loss[name] = summary(d)["val_loss"]
    assert loss["ordered"] == loss["reordered"], loss
