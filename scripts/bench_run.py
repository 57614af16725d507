#!/usr/bin/env python3
"""A whole FashionMTL run written plainly in PyTorch: the twin `mtlscope bench run` times
`mtlscope train` against (issue #17, part 3).

What a researcher would write without mtlscope: read the four Fashion-MNIST IDX files, build
the FashionMTL split (Mueller et al. 2025, App. B.1: 25,000 training, 5,000 validation and 5,000
test images per task; NoisyFashion is Fashion2's images with permuted labels), normalise with
the training images' mean and standard deviation, LeNet-5 with one linear head per task, Adam,
one backward pass of the summed task losses per step (UMTG, C = 1) on one batch per task, and
at epoch 0 and after every epoch the loss and accuracy of every task on its full training,
validation and test sets (no_grad, eval mode, chunks of --eval-batch-size), written to
OUT/trajectory.csv. The split and batches are torch's own (randperm): the work is the same as
mtlscope's, the numbers are not meant to match bit for bit (that is tests/pytorch_equivalence.rs).

Usage: bench_run.py --out DIR [--data-dir DIR] [--tasks fashion1,noisy_fashion] [--epochs 1]
                    [--batch-size 128] [--lr 1e-3] [--seed 1] [--threads N] [--eval-batch-size 256]
Needs only torch (the project's venv). Prints the wall seconds of its phases as JSON on stdout.
"""

import argparse
import gzip
import json
import math
import os
import struct
import sys
import time
import warnings

T_START = time.time()
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

T_IMPORT = time.time()
DEFAULT_DIRS = ("/usr/share/datasets/fashion-mnist",)
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def read_idx(data_dir, name):
    for path in (os.path.join(data_dir, name + ".gz"), os.path.join(data_dir, name)):
        if os.path.exists(path):
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rb") as f:
                raw = f.read()
            ndim = raw[3]
            dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
            body = raw[4 + 4 * ndim :]
            if len(body) != math.prod(dims):
                sys.exit(f"{path}: header says {dims}, body has {len(body)} bytes")
            return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(dims)
    sys.exit(f"{data_dir}: no {name}[.gz]")


def fashion_mtl(data_dir, tasks, split_seed):
    """{task: {split: (x float [N,1,28,28], y int64 [N])}}."""
    xtr, ytr, xte, yte = (read_idx(data_dir, f) for f in FILES)
    g = torch.Generator().manual_seed(split_seed)
    p, t = torch.randperm(len(ytr), generator=g), torch.randperm(len(yte), generator=g)
    n, half = len(ytr) * 5 // 12, len(yte) // 2
    nv = len(ytr) // 12
    rows = {
        1: {"train": p[:n], "val": p[2 * n : 2 * n + nv], "test": t[:half]},
        2: {"train": p[n : 2 * n], "val": p[2 * n + nv : 2 * n + 2 * nv], "test": t[half : 2 * half]},
    }
    pix = xtr[p[: 2 * n]].float() / 255.0
    mean, std = pix.mean().item(), pix.std().item()
    out = {}
    for task in tasks:
        which = 1 if task == "fashion1" else 2
        out[task] = {}
        for split, r in rows[which].items():
            x, y = (xtr, ytr) if split != "test" else (xte, yte)
            xs = ((x[r].float() / 255.0 - mean) / std).unsqueeze(1)
            ys = y[r].long()
            if task == "noisy_fashion":
                ys = ys[torch.randperm(len(ys), generator=g)]
            out[task][split] = (xs, ys)
    return out


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return F.relu(self.fc2(F.relu(self.fc1(x))))


class MultiTaskNet(nn.Module):
    def __init__(self, tasks):
        super().__init__()
        self.encoder = LeNet()
        self.head = nn.ModuleDict({t: nn.Linear(84, 10) for t in tasks})


@torch.no_grad()
def evaluate(net, data, chunk):
    net.eval()
    rows = []
    for task, splits in data.items():
        for split, (x, y) in splits.items():
            loss, correct = 0.0, 0
            for s in range(0, len(y), chunk):
                logits = net.head[task](net.encoder(x[s : s + chunk]))
                loss += F.cross_entropy(logits, y[s : s + chunk], reduction="sum").item()
                correct += int((logits.argmax(-1) == y[s : s + chunk]).sum())
            rows.append((task, split, loss / len(y), correct / len(y)))
    net.train()
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--data-dir")
    ap.add_argument("--tasks", default="fashion1,noisy_fashion")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--eval-batch-size", type=int, default=256)  # mtlscope's default
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    tasks = a.tasks.split(",")
    if any(t not in ("fashion1", "fashion2", "noisy_fashion") for t in tasks):
        sys.exit(f"--tasks: fashion1, fashion2 or noisy_fashion, got {a.tasks}")
    data_dir = a.data_dir or next((d for d in DEFAULT_DIRS if os.path.isdir(d)), None)
    if data_dir is None:
        sys.exit("no Fashion-MNIST copy: pass --data-dir")
    phases = {"import": T_IMPORT - T_START}
    t = time.time()
    data = fashion_mtl(data_dir, tasks, 0)
    phases["data"] = time.time() - t

    torch.manual_seed(a.seed)
    net = MultiTaskNet(tasks)
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    os.makedirs(a.out, exist_ok=True)
    csv = open(os.path.join(a.out, "trajectory.csv"), "w")
    csv.write("epoch,step,task,split,metric,value\n")
    steps_per_epoch = len(data[tasks[0]]["train"][1]) // a.batch_size
    phases["evaluation"] = phases["steps"] = 0.0

    def record(step):
        t = time.time()
        for task, split, loss, acc in evaluate(net, data, a.eval_batch_size):
            csv.write(f"{step / steps_per_epoch},{step},{task},{split},loss,{loss}\n")
            csv.write(f"{step / steps_per_epoch},{step},{task},{split},accuracy,{acc}\n")
        csv.flush()
        phases["evaluation"] += time.time() - t

    record(0)
    step = 0
    for _ in range(a.epochs):
        perms = {task: torch.randperm(len(data[task]["train"][1])) for task in tasks}
        t = time.time()
        for i in range(steps_per_epoch):
            loss = 0.0
            for task in tasks:
                rows = perms[task][i * a.batch_size : (i + 1) * a.batch_size]
                x, y = data[task]["train"]
                loss = loss + F.cross_entropy(net.head[task](net.encoder(x[rows])), y[rows])
            if not math.isfinite(loss.item()):
                sys.exit(f"diverged at step {step + 1}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
        phases["steps"] += time.time() - t
        record(step)
    csv.close()
    phases["total"] = time.time() - T_START
    print(json.dumps({k: round(v, 3) for k, v in phases.items()}))


if __name__ == "__main__":
    main()
