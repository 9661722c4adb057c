"""PyTorch baseline for scripts/gpu/check.sh: the same MLP, data, batch and
optimizer as driftrun's GPU benchmark, one process on one GPU, data resident on
the GPU, reshuffled every epoch. Prints samples/s over the training steps, and
the unix times of the second epoch's start and the end (for GPU busy).
--compile: the model under torch.compile(mode="reduce-overhead") (CUDA graphs),
after warm-up steps that are not timed (the compilation). --no-item: the loss
is not read on the host each step (the loop never waits for the GPU)."""
import argparse
import json
import time

import h5py
import numpy as np
import torch

ap = argparse.ArgumentParser()
ap.add_argument("--data", required=True)
ap.add_argument("--hidden", default="512,512")
ap.add_argument("--batch", type=int, default=4096)
ap.add_argument("--epochs", type=int, default=3)
ap.add_argument("--compile", action="store_true")
ap.add_argument("--no-item", action="store_true")
a = ap.parse_args()
dev = torch.device("cuda")
torch.manual_seed(42)
with h5py.File(a.data, "r") as f:
    x, y = f["/features"][()], f["/labels"][()]
mean, std = np.nanmean(x, 0), np.nanstd(x, 0)
x = (np.where(np.isnan(x), mean, x) - mean) / std
X = torch.from_numpy(x.astype(np.float32)).to(dev)
Y = torch.from_numpy(y.astype(np.float32)).unsqueeze(1).to(dev)
layers, width = [], X.shape[1]
for h in map(int, a.hidden.split(",")):
    layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
    width = h
model = torch.nn.Sequential(*layers, torch.nn.Linear(width, 1)).to(dev)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
step_model = torch.compile(model, mode="reduce-overhead") if a.compile else model
if a.compile:  # compilation and graph capture, untimed
    for _ in range(5):
        idx = torch.randint(len(X), (a.batch,), device=dev)
        loss = torch.nn.functional.mse_loss(step_model(X[idx]), Y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    torch.cuda.synchronize()
steps, secs, t_steady = 0, 0.0, 0.0
for epoch in range(a.epochs):
    perm = torch.randperm(len(X), device=dev)
    torch.cuda.synchronize()
    if epoch == 1:
        t_steady = time.time()  # scripts/gpu/busy.py: GPU busy from here (after the first epoch) to the end
    t0 = time.perf_counter()
    for b in range(len(X) // a.batch):
        idx = perm[b * a.batch:(b + 1) * a.batch]
        loss = torch.nn.functional.mse_loss(step_model(X[idx]), Y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        steps += 1
        if not a.no_item:
            loss.item()  # driftrun reads every step's loss too (one step later on CUDA)
    torch.cuda.synchronize()
    secs += time.perf_counter() - t0
print(json.dumps({"samples_per_s": steps * a.batch / secs, "steps": steps, "t_steady": t_steady or time.time(),
                  "t_end": time.time()}))
