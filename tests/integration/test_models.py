#!/usr/bin/env python3
"""Model kinds (MLP, CNN, text), ONNX export and `driftrun predict`.

For each kind: train from config alone, predict on raw inputs (rows with missing
values included), and compare onnxruntime on the exported model.onnx with
driftrun predict: max abs diff <= 1e-5 at batch sizes 1, 7 and 1024 with graph
optimisations off and on. The digits CNN must reach 95% test accuracy; the text
model must beat the majority class by a wide margin. Text hashing is checked
against an independent Python implementation of kernels/text_math.h.
"""
import json
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

import onnx_check
from harness import final_weights, max_rel_diff, must_msg, summary

TASKS = ("regression", "classification")

MLP_CONFIG = """
name = "mlp-{task}"
[data]
train = "{data}/train.h5"
[model]
task = "{task}"
hidden = [32, 16]
activation = "gelu"
[preprocess]
clip_sigma = 3.0
columns = ["f1:impute=median"]
[train]
epochs = 3
batch_size = 64
"""

CNN_CONFIG = """
name = "digits"
[data]
train = "{digits}/train.h5"
val_fraction = 0.1
[model]
kind = "cnn"
task = "classification"
channels = [16, 32]
hidden = [64]
[train]
epochs = 25
batch_size = 32
lr = 2e-3
"""

TEXT_CONFIG = """
name = "tickets"
[data]
train = "{tickets}/train.h5"
[model]
kind = "text"
task = "classification"
hidden = []
embedding_dim = 32
[preprocess]
text_buckets = 65536
max_ngrams = 128
[train]
epochs = 6
batch_size = 64
lr = 1e-2
"""

DP_CONFIGS = {
    "cnn": """
name = "dp-cnn"
[data]
train = "{digits}/train.h5"
[model]
kind = "cnn"
task = "classification"
channels = [8]
hidden = [16]
[train]
max_steps = 30
batch_size = 32
[export]
onnx = false
""",
    "text": """
name = "dp-text"
[data]
train = "{tickets}/train.h5"
[model]
kind = "text"
task = "classification"
hidden = []
embedding_dim = 16
[preprocess]
text_buckets = 4096
[train]
max_steps = 30
batch_size = 32
[export]
onnx = false
""",
}


class Models:
    """The runs the tests share, each done once (Workspace.once); nothing here
    asserts: the tests check the processes and files these return."""

    def __init__(self, ws):
        self.ws = ws

    def train(self, cfg_name, text):
        """(train process, run dir)."""
        def run():
            cfg = self.ws.write_config(cfg_name, text)
            run_dir = self.ws.path("runs", cfg_name.replace(".toml", ""))
            return self.ws.run(["train", "--config", cfg, "--run-dir", run_dir, "--quiet", "--noprogress"]), run_dir
        return self.ws.once(("train", cfg_name), run)

    def predict(self, run, inp, out, *extra):
        """(predict process, the output file's datasets or None when there is none)."""
        def go():
            p = self.ws.run(["predict", "--run", run, "--in", inp, "--out", out] + list(extra))
            if not os.path.exists(out):
                return p, None
            with h5py.File(out) as f:
                return p, {k: f[k][()] for k in f.keys()}
        return self.ws.once(("predict", out), go)

    def script(self, name, out):
        """scripts/data/NAME --out OUT with this Python: (process, OUT)."""
        def run():
            return subprocess.run([sys.executable, os.path.join(self.ws.source, "scripts", "data", name),
                                   "--out", out], capture_output=True, text=True), out
        return self.ws.once(("script", name), run)

    # ---- MLP
    def mlp_data(self, task):
        def run():
            data = self.ws.path(f"tab-{task}")
            self.ws.make_data(data, "--rows", "3000", "--features", "6", "--task", task, "--missing", "0.05")
            return data
        return self.ws.once(("mlp-data", task), run)

    def mlp(self, task):
        data = self.mlp_data(task)
        return self.train(f"mlp-{task}.toml", MLP_CONFIG.format(task=task, data=data))

    def mlp_predict(self, task):
        """(raw input with a row of NaN and an Inf, predict process, its output)."""
        def inputs():
            data = self.mlp_data(task)
            test = os.path.join(data, "batch_000.h5")
            if not os.path.exists(test):
                test = os.path.join(data, "train.h5")
            with h5py.File(test) as f:
                x = f["features"][()].astype(np.float32)
            x[0, :] = np.nan  # a row with every value missing
            x[1, 2] = np.inf
            xin = self.ws.path(f"x-{task}.h5")
            with h5py.File(xin, "w") as f:
                f["features"] = x
            return x, xin
        x, xin = self.ws.once(("mlp-x", task), inputs)
        _, run = self.mlp(task)
        p, got = self.predict(run, xin, self.ws.path(f"y-{task}.h5"))
        return x, p, got

    # ---- CNN on scikit-learn's digits
    def digits(self):
        return self.script("digits_to_h5.py", self.ws.path("digits"))

    def cnn(self):
        _, digits = self.digits()
        return self.train("cnn.toml", CNN_CONFIG.format(digits=digits))

    # ---- text model on generated support tickets
    def tickets(self):
        return self.script("make_tickets.py", self.ws.path("tickets"))

    def text(self):
        _, tickets = self.tickets()
        return self.train("text.toml", TEXT_CONFIG.format(tickets=tickets))

    def text_predict(self):
        _, tickets = self.tickets()
        _, run = self.text()
        return self.predict(run, f"{tickets}/test.h5", self.ws.path("tickets-pred.h5"), "--save-ids")


@pytest.fixture(scope="module")
def models(module_workspace):
    return Models(module_workspace)


def check_trained(p, run, cfg_name):
    assert p.returncode == 0, must_msg(p, f"train {cfg_name}")
    assert os.path.exists(os.path.join(run, "model.onnx")), f"{cfg_name}: model.onnx written at the end of the run"


def check_predicted(p, got, run):
    assert p.returncode == 0, must_msg(p, f"predict {os.path.basename(run)}")
    assert got is not None, f"predict {os.path.basename(run)}: output file written"
    return got


def check_parity(run, x, got, what):
    diff, labels = onnx_check.max_diff(os.path.join(run, "model.onnx"), x, got["prediction"], got.get("label"))
    assert diff <= 1e-5, f"{what}: onnxruntime vs driftrun predict max abs diff {diff:.2e} <= 1e-5"
    if "label" in got:
        assert labels, f"{what}: onnxruntime labels equal driftrun's"


# ---- MLP, regression and classification, with missing values ------------------

@pytest.mark.parametrize("task", TASKS)
def test_mlp_trains_and_exports(models, task):
    p, run = models.mlp(task)
    check_trained(p, run, f"mlp-{task}.toml")


@pytest.mark.parametrize("task", TASKS)
def test_mlp_predicts_every_row(models, task):
    x, p, got = models.mlp_predict(task)
    _, run = models.mlp(task)
    got = check_predicted(p, got, run)
    assert got["prediction"].shape[0] == len(x) and np.all(np.isfinite(got["prediction"])), \
        f"mlp {task}: one finite prediction per row, missing values included " \
        f"({got['prediction'].shape[0]} rows of {len(x)}, {np.sum(~np.isfinite(got['prediction']))} not finite)"


@pytest.mark.parametrize("task", TASKS)
def test_mlp_onnx_parity(models, task):
    x, p, got = models.mlp_predict(task)
    _, run = models.mlp(task)
    check_parity(run, x, check_predicted(p, got, run), f"mlp {task}")


@pytest.mark.parametrize("task", TASKS)
def test_mlp_onnx_metadata(models, task):
    _, run = models.mlp(task)
    meta = onnx_check.metadata(os.path.join(run, "model.onnx"))
    s = summary(run)
    assert meta.get("driftrun.config_hash") == s["config_hash"] and meta.get("driftrun.kind") == "mlp", \
        f"mlp {task}: ONNX metadata_props carry the run's config hash and kind: {meta}"


# ---- export command: --run and --checkpoint, bad input ---------------------------

def test_export_run(models):
    _, run = models.mlp("classification")
    p = models.ws.run(["export", "--run", run, "--out", models.ws.path("again.onnx"), "--json"])
    assert p.returncode == 0, must_msg(p, "driftrun export --run")


def test_one_checkpoint_exports_with_its_lineage_and_predicts(models):
    """Found by a stranger: export --checkpoint wrote an ONNX file with no
    lineage, and predict said "use an older one explicitly" for a damaged
    newest checkpoint with no way to. The run's final checkpoint exports with
    the run's lineage, any other with its own; predict --checkpoint reads one
    checkpoint with its run's config."""
    ws = models.ws
    _, run = models.mlp("regression")
    final = summary(run)["checkpoint"]
    p = ws.run(["export", "--checkpoint", final, "--out", ws.path("final.onnx")])
    assert p.returncode == 0, must_msg(p, "export --checkpoint (the run's last)")
    assert onnx_check.metadata(ws.path("final.onnx")) == onnx_check.metadata(os.path.join(run, "model.onnx"))
    # The same checkpoint in a copy of the run that never finished (no summary): its own lineage.
    copy = ws.path("runs", "unfinished")
    shutil.copytree(run, copy)
    os.remove(os.path.join(copy, "summary.json"))
    ck = os.path.join(copy, "checkpoints", os.path.basename(final))
    p = ws.run(["export", "--checkpoint", ck, "--out", ws.path("mid.onnx")])
    assert p.returncode == 0, must_msg(p, "export --checkpoint (no summary)")
    meta = onnx_check.metadata(ws.path("mid.onnx"))
    step = json.load(open(final))["step"]
    assert meta["driftrun.checkpoint"] == f"{os.path.basename(final)} (step {step})", meta
    assert meta["driftrun.config_hash"] == summary(run)["config_hash"] and meta["driftrun.kind"] == "mlp", meta
    assert meta["driftrun.data_fingerprint"].startswith("sha256:"), meta
    # predict --checkpoint: the same predictions as --run.
    data = models.mlp_data("regression")
    inp = os.path.join(data, "batch-001.h5") if os.path.exists(os.path.join(data, "batch-001.h5")) else \
        os.path.join(data, "train.h5")
    p = ws.run(["predict", "--checkpoint", ck, "--in", inp, "--out", ws.path("by-ckpt.h5")])
    assert p.returncode == 0, must_msg(p, "predict --checkpoint")
    p = ws.run(["predict", "--run", run, "--in", inp, "--out", ws.path("by-run.h5")])
    assert p.returncode == 0, must_msg(p, "predict --run")
    with h5py.File(ws.path("by-ckpt.h5")) as a, h5py.File(ws.path("by-run.h5")) as b:
        np.testing.assert_array_equal(a["prediction"][()], b["prediction"][()])
    # A manifest outside a run folder has no config to read inputs with; a missing one does not exist.
    shutil.copy(ck, ws.path("loose.json"))
    for bad, what in ((ws.path("loose.json"), "checkpoints/"), (ws.path("nope.json"), "does not exist")):
        p = ws.run(["predict", "--checkpoint", bad, "--in", inp, "--out", ws.path("never.h5")])
        assert p.returncode == 2 and what in p.stderr and not os.path.exists(ws.path("never.h5")), \
            must_msg(p, f"predict --checkpoint {bad}")
    p = ws.run(["predict", "--checkpoint", ck, "--run", run, "--in", inp, "--out", ws.path("never.h5")])
    assert p.returncode == 2 and "exactly one of" in p.stderr, must_msg(p, "--checkpoint and --run")


def test_export_missing_checkpoint(models):
    ws = models.ws
    p = ws.run(["export", "--checkpoint", ws.path("nope.json"), "--out", ws.path("x.onnx")])
    # A path that does not exist is a usage error, as for --run (found by a stranger: it was exit 3).
    assert p.returncode == 2 and "does not exist" in p.stderr and not os.path.exists(ws.path("x.onnx")), \
        f"export of a missing checkpoint: exit 2, no file: (exit {p.returncode}) {p.stderr}"


# ---- CNN on scikit-learn's digits -------------------------------------------------

def test_digits_converted(models):
    p, _ = models.digits()
    assert p.returncode == 0, must_msg(p, "digits converted to HDF5")


def test_cnn_trains_and_exports(models):
    p, run = models.cnn()
    check_trained(p, run, "cnn.toml")


def test_cnn_accuracy(models):
    _, digits = models.digits()
    _, run = models.cnn()
    with h5py.File(f"{digits}/test.h5") as f:
        labels = f["labels"][()]
    got = check_predicted(*models.predict(run, f"{digits}/test.h5", models.ws.path("digits-pred.h5")), run)
    acc = float(np.mean(got["label"] == labels))
    assert acc >= 0.95, f"digits CNN test accuracy {acc:.4f} >= 0.95"


def test_cnn_onnx_parity(models):
    _, digits = models.digits()
    _, run = models.cnn()
    with h5py.File(f"{digits}/test.h5") as f:
        imgs = f["images"][()]
    imgs = imgs.copy()
    imgs[:5, 0, 3, 3] = np.nan  # missing pixels are imputed the same way in both
    xin = models.ws.path("digits-nan.h5")
    with h5py.File(xin, "w") as f:
        f["images"] = imgs
    got = check_predicted(*models.predict(run, xin, models.ws.path("digits-nan-pred.h5")), run)
    check_parity(run, imgs, got, "cnn")


# ---- text model on generated support tickets -------------------------------------

def test_tickets_generated(models):
    p, _ = models.tickets()
    assert p.returncode == 0, must_msg(p, "tickets generated")


def test_text_trains_and_exports(models):
    p, run = models.text()
    check_trained(p, run, "text.toml")


def test_text_accuracy(models):
    _, tickets = models.tickets()
    _, run = models.text()
    got = check_predicted(*models.text_predict(), run)
    with h5py.File(f"{tickets}/test.h5") as f:
        labels = f["labels"][()]
    acc = float(np.mean(got["label"] == labels))
    majority = float(np.max(np.bincount(labels)) / len(labels))
    assert acc >= majority + 0.3, f"text model accuracy {acc:.4f} beats the majority class {majority:.4f} by >= 0.3"


def test_text_onnx_parity(models):
    _, run = models.text()
    got = check_predicted(*models.text_predict(), run)
    check_parity(run, got["input"], got, "text")


def text_hashing(source):
    """scripts/text_ids.py, the shipped reference tokenizer: an independent
    Python implementation of kernels/text_math.h."""
    sys.path.insert(0, os.path.join(source, "scripts"))
    try:
        import text_ids
    finally:
        sys.path.pop(0)
    return text_ids


def test_text_hashing_equals_python(models):
    """The reference tokenizer, configured from model.onnx's metadata alone, gives
    the ids `predict --save-ids` wrote, and onnxruntime on those ids gives
    predict's probabilities: a text model is servable without driftrun."""
    _, tickets = models.tickets()
    _, run = models.text()
    got = check_predicted(*models.text_predict(), run)
    with h5py.File(f"{tickets}/test.h5") as f:
        texts = [t.decode() for t in f["text"][()]]
    tid = text_hashing(models.ws.source)
    onnx_path = os.path.join(run, "model.onnx")
    h = tid.TextHashing.from_onnx(onnx_path)
    assert (h.buckets, h.max_ids, h.word_ngrams, h.char_ngrams) == (65536, 128, 2, 3), vars(h)
    want = h.ids(texts[:200])
    assert np.array_equal(want, got["input"][:200]), \
        f"text hashing equals an independent Python implementation " \
        f"(rows that differ: {np.flatnonzero(np.any(want != got['input'][:200], axis=1))[:10].tolist()})"
    diff, _ = onnx_check.max_diff(onnx_path, want, got["prediction"][:200], None)
    assert diff <= 1e-5, f"onnxruntime on the reference ids vs predict: max abs diff {diff:.2e}"
    cli = models.ws.path("ids.npy")
    p = subprocess.run([sys.executable, os.path.join(models.ws.source, "scripts", "text_ids.py"), "--onnx",
                        onnx_path, "--h5", f"{tickets}/test.h5", "--out", cli], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert np.array_equal(np.load(cli), got["input"]), "the script's command line gives the same ids"


def test_text_onnx_marks_rows_with_ids_out_of_range(models):
    """Ids outside [0, pad_id] (a -1 would silently wrap in Gather; padding with
    0 instead of pad_id is another id) give NaN predictions and label -1 for
    their rows only; the other rows are unchanged."""
    import onnxruntime as ort
    _, run = models.text()
    got = check_predicted(*models.text_predict(), run)
    ids = got["input"][:4].copy()
    pad = int(ids.max())  # rows end with padding: the largest id is pad_id
    ids[1, 0] = -1
    ids[2, 3] = pad + 7
    sess = ort.InferenceSession(os.path.join(run, "model.onnx"), providers=["CPUExecutionProvider"])
    pred, label = sess.run(["prediction", "label"], {"input": ids})
    assert np.all(np.isnan(pred[1])) and np.all(np.isnan(pred[2])), pred
    assert label[1] == -1 and label[2] == -1, label
    np.testing.assert_allclose(pred[[0, 3]], got["prediction"][[0, 3]], atol=1e-5)
    assert list(label[[0, 3]]) == list(got["label"][[0, 3]])


# ---- the new kinds train data-parallel: 2 ranks end with the 1-rank weights -----

@pytest.mark.parametrize("kind", ("cnn", "text"))
def test_new_kinds_data_parallel(models, kind):
    ws = models.ws
    _, digits = models.digits()
    _, tickets = models.tickets()
    cfg = ws.write_config(f"dp-{kind}.toml", DP_CONFIGS[kind].format(digits=digits, tickets=tickets))
    runs = {}
    for n in (1, 2):
        runs[n] = ws.path("runs", f"dp-{kind}-{n}")
        p = ws.run(["train", "--config", cfg, "--run-dir", runs[n], "--quiet", "--noprogress"], ranks=n)
        assert p.returncode == 0, must_msg(p, f"{kind}: train on {n} rank(s)")
    diff = max_rel_diff(final_weights(runs[1]), final_weights(runs[2]))
    assert diff < 1e-4, f"{kind}: 2 ranks end with the 1-rank weights (rel diff {diff:.2e})"


def test_cnn_streams_images_data_parallel(models):
    """Images larger than data.memory_mb stream; 2 ranks still end with the 1-rank weights."""
    ws = models.ws
    _, digits = models.digits()
    cfg = ws.write_config("dp-cnn-stream.toml", DP_CONFIGS["cnn"].format(digits=digits, tickets=""))
    runs = {}
    for n in (1, 2):
        runs[n] = ws.path("runs", f"dp-cnn-stream-{n}")
        p = ws.run(["train", "--config", cfg, "--run-dir", runs[n], "--quiet", "--noprogress", "--set",
                    "data.memory_mb=0.1", "--set", "data.stream_chunk_rows=64"], ranks=n)
        assert p.returncode == 0, must_msg(p, f"cnn, streamed: train on {n} rank(s)")
        assert summary(runs[n])["data"]["mode"] == "stream", summary(runs[n])["data"]
    diff = max_rel_diff(final_weights(runs[1]), final_weights(runs[2]))
    assert diff < 1e-4, f"cnn, streamed: 2 ranks end with the 1-rank weights (rel diff {diff:.2e})"


def test_text_larger_than_the_budget_is_refused(models):
    ws = models.ws
    _, tickets = models.tickets()
    cfg = ws.write_config("text-stream.toml", DP_CONFIGS["text"].format(digits="", tickets=tickets))
    d = ws.path("runs", "text-stream")
    p = ws.run(["train", "--config", cfg, "--run-dir", d, "--quiet", "--set", "data.memory_mb=0.001"])
    assert p.returncode == 2 and "data.memory_mb" in p.stderr and "text" in p.stderr, \
        must_msg(p, "text data larger than data.memory_mb is refused (exit 2) naming the key")
    assert not os.path.exists(os.path.join(d, "checkpoints")), "nothing trained"


# ---- bad input to predict ---------------------------------------------------------

def test_predict_without_the_models_dataset(models):
    """The text model asked to predict on the digits test file (images, no text)."""
    ws = models.ws
    _, digits = models.digits()
    _, run = models.text()
    p = ws.run(["predict", "--run", run, "--in", f"{digits}/test.h5", "--out", ws.path("bad.h5")])
    assert p.returncode == 3 and not os.path.exists(ws.path("bad.h5")), \
        f"predict on a file without the model's dataset: exit 3, nothing written: (exit {p.returncode}) {p.stderr}"


# ---- suspect rows: counted in predict's console and --json -----------------------

def test_text_predict_counts_suspect_rows(models):
    _, run = models.text()
    texts = ["printer jams again", "", "   ...   ", " ".join(["word"] * 200), b"caf\xe9 broken".decode("latin-1")]
    raw = [t.encode("utf-8") for t in texts[:4]] + [b"caf\xe9 broken"]  # the last is not UTF-8
    path = models.ws.path("suspect-text.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("text", data=np.array(raw, dtype=object), dtype=h5py.string_dtype("ascii"))
    p = models.ws.run(["predict", "--run", run, "--in", path, "--out", models.ws.path("suspect-y.h5"), "--json"])
    assert p.returncode == 0, must_msg(p, "predict on suspect texts")
    got = json.loads(p.stdout)["suspect_rows"]
    # two rows without a word; 200 words give 600+ n-grams > 128; one invalid UTF-8 row
    assert got == {"empty": 2, "truncated": 1, "invalid_utf8": 1, "nonfinite_prediction": 0}, got
    assert "suspect rows" in p.stderr and "2 empty" in p.stderr, p.stderr


def test_feature_predict_counts_rows_without_a_finite_value(models):
    x, _, _ = models.mlp_predict("regression")
    _, run = models.mlp("regression")
    x = np.array(x[:50], dtype=np.float32)
    x[3, :] = np.nan
    x[7, :] = np.inf
    x[9, 0] = np.nan  # one missing value is not suspect
    x[11, :] = 3e38  # found by a stranger: overflowed predictions came with no word
    x[12, :] = -3e38
    path = models.ws.path("suspect-x.h5")
    with h5py.File(path, "w") as f:
        d = f.create_dataset("features", data=x)
        d.attrs["feature_names"] = np.array([f"f{j}" for j in range(x.shape[1])], dtype=h5py.string_dtype())
    p = models.ws.run(["predict", "--run", run, "--in", path, "--out", models.ws.path("suspect-xy.h5"), "--json"])
    assert p.returncode == 0, must_msg(p, "predict on rows without values")
    got = json.loads(p.stdout)["suspect_rows"]
    with h5py.File(models.ws.path("suspect-xy.h5"), "r") as f:
        overflowed = int((~np.isfinite(f["prediction"][()])).any(axis=1).sum())
    assert set(got) == {"all_missing", "infinite_input", "nonfinite_prediction", "far_outside_training"}, got
    assert got["all_missing"] == 3 and got["nonfinite_prediction"] == overflowed, (got, overflowed)
    assert got["infinite_input"] == 2, got  # rows 1 (mlp_predict's) and 7
    assert ("NaN or infinite prediction" in p.stderr) == (overflowed > 0), p.stderr


def test_shape_and_type_errors_say_what_was_found(models):
    _, run = models.cnn()
    path = models.ws.path("uint8-images.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=np.zeros((20, 1, 8, 8), dtype=np.uint8))
    p = models.ws.run(["predict", "--run", run, "--in", path, "--out", models.ws.path("u8-y.h5")])
    assert p.returncode == 3 and "must be float [rows, 1, 8, 8]" in p.stderr \
        and "got integer [20, 1, 8, 8]" in p.stderr, must_msg(p, "uint8 images")
