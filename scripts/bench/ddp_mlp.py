"""PyTorch DDP baseline for scripts/bench/train_vs_ddp.sh: the same MLP, data,
global batch, optimizer and epochs as driftrun's benchmark config, on the gloo
backend with one intra-op thread per rank. Prints one JSON line with samples/s
over the training steps (data loading, preprocessing and evaluation excluded,
as in driftrun's summary.json)."""
import argparse
import json
import os
import time

import h5py
import numpy as np
import torch
import torch.distributed as dist

ap = argparse.ArgumentParser()
ap.add_argument("--data", required=True)
ap.add_argument("--hidden", default="256,256")
ap.add_argument("--batch", type=int, default=256)
ap.add_argument("--epochs", type=int, default=3)
ap.add_argument("--lr", type=float, default=1e-3)
ap.add_argument("--threads", type=int, default=1)
a = ap.parse_args()

torch.set_num_threads(a.threads)
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
torch.manual_seed(42)

with h5py.File(a.data, "r") as f:
    n = f["/features"].shape[0]
    lo, hi = rank * n // world, (rank + 1) * n // world
    x = f["/features"][lo:hi]
    y = f["/labels"][lo:hi]
# Same preprocessing as driftrun: mean imputation and standardisation (local
# statistics here; the cost is outside the timed loop either way).
mean = np.nanmean(x, 0)
std = np.nanstd(x, 0)
x = (np.where(np.isnan(x), mean, x) - mean) / std
X = torch.from_numpy(x.astype(np.float32))
Y = torch.from_numpy(y.astype(np.float32)).unsqueeze(1)

layers, width = [], X.shape[1]
for h in map(int, a.hidden.split(",")):
    layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
    width = h
model = torch.nn.parallel.DistributedDataParallel(torch.nn.Sequential(*layers, torch.nn.Linear(width, 1)))
opt = torch.optim.AdamW(model.parameters(), lr=a.lr)
local = a.batch // world
steps = 0
train_s = 0.0
for epoch in range(a.epochs):
    g = torch.Generator().manual_seed(epoch)
    perm = torch.randperm(len(X), generator=g)
    dist.barrier()
    t0 = time.perf_counter()
    for b in range(len(X) // local):
        idx = perm[b * local:(b + 1) * local]
        loss = torch.nn.functional.mse_loss(model(X[idx]), Y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        steps += 1
    train_s += time.perf_counter() - t0
if rank == 0:
    print(json.dumps({"samples_per_s": steps * a.batch / train_s, "steps": steps, "world_size": world}))
dist.destroy_process_group()
