"""Cross-check with PyTorch: the same initial weights (driftrun's step-0
checkpoint) and the same data through a plain PyTorch script give the same loss
curve within 1e-4 for 20 steps, for AdamW, SGD with momentum and Adam, regression
and classification, on 1 and 2 ranks. The fitted preprocessing is checked
against numpy first."""
import h5py
import numpy as np
import pytest
import torch

from harness import checkpoint_arrays, must_msg, read_jsonl, summary

torch.set_num_threads(1)

VARIANTS = [
    # name, data, task, optimizer settings, ranks
    ("adamw regression", "reg", "regression", dict(optimizer="adamw", lr=1e-2, weight_decay=0.05), 1),
    ("adamw regression on 2 ranks", "reg", "regression", dict(optimizer="adamw", lr=1e-2, weight_decay=0.05), 2),
    ("sgd momentum regression", "reg", "regression",
     dict(optimizer="sgd", lr=0.05, weight_decay=1e-3, momentum=0.9), 1),
    ("adam classification", "cls", "classification", dict(optimizer="adam", lr=5e-3, weight_decay=1e-3), 2),
]
STEPS = 20
# One rank: batches of 32. Two ranks: whole-data batches, so that every batch
# holds rows of both ranks' shards (shuffle is off; shards are contiguous).
BATCH = {1: 32, 2: 512}


def torch_losses(data_path, task, opt, ckpt0, batch):
    a = checkpoint_arrays(ckpt0)
    with h5py.File(data_path, "r") as f:
        x = f["/features"][()].astype(np.float64)
        y = f["/labels"][()]
    # Preprocessing, independently: mean imputation, standardisation (population std).
    mean = np.nanmean(x, axis=0)
    std = np.nanstd(x, axis=0)
    ok_shift = np.allclose(a["preprocess/shift"], mean, rtol=1e-5, atol=1e-6)
    ok_scale = np.allclose(a["preprocess/scale"], 1 / std, rtol=1e-5)
    # Train with driftrun's float32 statistics so both sides see identical inputs.
    xf = np.where(np.isnan(x), a["preprocess/fill"], x).astype(np.float32)
    xf = (xf - a["preprocess/shift"]) * a["preprocess/scale"]
    X = torch.from_numpy(xf.astype(np.float32))
    Y = torch.from_numpy(y)
    layers, i = [], 0
    while f"model/layers.{i}.weight" in a:
        w = a[f"model/layers.{i}.weight"]
        lin = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w))
            lin.bias.copy_(torch.from_numpy(a[f"model/layers.{i}.bias"]))
        layers += [lin, torch.nn.Tanh()]
        i += 1
    model = torch.nn.Sequential(*layers[:-1])
    kind = opt["optimizer"]
    kw = dict(lr=opt["lr"], weight_decay=opt["weight_decay"])
    if kind == "sgd":
        o = torch.optim.SGD(model.parameters(), momentum=opt["momentum"], **kw)
    elif kind == "adam":
        o = torch.optim.Adam(model.parameters(), **kw)
    else:
        o = torch.optim.AdamW(model.parameters(), **kw)
    losses = []
    n_batches = len(X) // batch
    for step in range(STEPS):
        b = step % n_batches
        xb, yb = X[b * batch:(b + 1) * batch], Y[b * batch:(b + 1) * batch]
        out = model(xb)
        loss = (torch.nn.functional.cross_entropy(out, yb) if task == "classification"
                else torch.nn.functional.mse_loss(out.squeeze(1), yb))
        o.zero_grad()
        loss.backward()
        o.step()
        losses.append(loss.item())
    return ok_shift, ok_scale, losses, model


@pytest.fixture(scope="module")
def data(module_workspace):
    ws = module_workspace
    ws.make_data(ws.path("reg"), "--rows", "512", "--features", "6", "--missing", "0.05")
    ws.make_data(ws.path("cls"), "--rows", "512", "--features", "6", "--missing", "0.05", "--task",
                 "classification", "--classes", "3")
    return ws


@pytest.fixture(scope="module")
def crosscheck(data):
    """crosscheck(variant) -> the driftrun run and its PyTorch replay, each done once."""
    ws = data

    def get(name, data_name, task, opt, ranks):
        def run():
            extra = "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in opt.items())
            cfg = ws.write_config(name.replace(" ", "_") + ".toml", f"""
name = "xcheck"
[data]
train = "{ws.path(data_name, 'train.h5')}"
val_fraction = 0.0
[model]
task = "{task}"
hidden = [16, 8]
activation = "tanh"
[train]
max_steps = {STEPS}
batch_size = {BATCH[ranks]}
shuffle = false
log_every_steps = 1
{extra}
[checkpoint]
initial = true
keep = 100
every_steps = 1000
""")
            d = ws.path("run-" + name.replace(" ", "_"))
            p = ws.run(["train", "--config", cfg, "--run-dir", d, "--quiet"], ranks=ranks if ranks > 1 else None)
            if p.returncode != 0:
                return p, d, None
            ours = [e["loss"] for e in read_jsonl(f"{d}/events.jsonl") if e["event"] == "step"]
            replay = torch_losses(ws.path(data_name, "train.h5"), task, opt,
                                  f"{d}/checkpoints/ckpt-000000000.json", BATCH[ranks])
            return p, d, (ours,) + replay
        result = ws.once(("variant", name), run)
        p, d, replay = result
        assert p.returncode == 0, must_msg(p, f"{name}: driftrun trains")
        return d, replay
    return get


PARAMS = pytest.mark.parametrize("name, data_name, task, opt, ranks", VARIANTS, ids=[v[0] for v in VARIANTS])


@PARAMS
def test_fitted_preprocessing_equals_numpy(crosscheck, name, data_name, task, opt, ranks):
    _, (_, ok_shift, ok_scale, _, _) = crosscheck(name, data_name, task, opt, ranks)
    assert ok_shift and ok_scale, \
        f"{name}: fitted mean/std equal numpy's nanmean/nanstd (shift ok {ok_shift}, scale ok {ok_scale})"


@PARAMS
def test_loss_curve_matches_pytorch(crosscheck, name, data_name, task, opt, ranks):
    _, (ours, _, _, theirs, _) = crosscheck(name, data_name, task, opt, ranks)
    diff = max(abs(a - b) for a, b in zip(ours, theirs)) if len(ours) == STEPS else float("inf")
    assert diff < 1e-4, \
        f"{name}: {STEPS}-step loss curve matches PyTorch (max diff {diff:.2e}; {len(ours)} driftrun steps)"


@PARAMS
def test_final_weights_match_pytorch(crosscheck, name, data_name, task, opt, ranks):
    d, (_, _, _, _, model) = crosscheck(name, data_name, task, opt, ranks)
    final = checkpoint_arrays(summary(d)["checkpoint"])
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    wdiff = max(max(float(np.max(np.abs(final[f"model/layers.{k}.weight"] - lin.weight.detach().numpy()))),
                    float(np.max(np.abs(final[f"model/layers.{k}.bias"] - lin.bias.detach().numpy()))))
                for k, lin in enumerate(linears))
    assert wdiff < 1e-4, f"{name}: final weights match PyTorch's (max abs diff {wdiff:.2e})"
