#!/usr/bin/env python3
"""Plain-PyTorch reference trainer for FashionMTL, independent of mtlscope's code.

It reads what `mtlscope export` wrote (manifest.json, data.safetensors, batches.safetensors,
init.safetensors) and the Fashion-MNIST IDX files themselves, and trains the protocol of
`mtlscope train` with ordinary PyTorch: `nn.Conv2d`/`nn.Linear` modules, `F.cross_entropy`,
`torch.optim.{SGD,Adam,AdamW}`, one backward pass of C * sum_k L_k (UMTG, `reduction = "sum"`)
or C * mean_k L_k (`"mean"`), and evaluation passes on every task's full train/val/test sets at
the exported evaluation steps. It writes OUT/trajectory.csv in mtlscope's run format 2 (long
form `epoch,step,task,split,metric,value`, the metrics `loss` then `accuracy`, numbers printed as
Rust prints f64; docs/run-format.md) and OUT/reference.json.

Batches: by default the exported batch rows are used, so the export must cover every step
trained (`mtlscope export` writes all steps of the run unless `--steps N`); the script stops
with an error rather than invent batches. The investigation options replace one ingredient
with the reference's own choice, keeping the rest from the export:

  --sampler torch   per task and epoch a torch.randperm of the training rows (generator
                    seeded with 1000 * seed + task), batches of `batch_size`, last partial batch
                    dropped, like DataLoader(shuffle=True, drop_last=True)
  --init torch      PyTorch's default initialisation after torch.manual_seed(seed)
  --noisy permute   NoisyFashion's labels: Fashion2's true labels of the same images permuted
                    with torch.randperm (generator seeded with --noisy-seed), per split
  --noisy uniform   NoisyFashion's labels drawn uniformly from the 10 classes
  --seed S          the seed these options use (default: the config's train.seed)

Usage: pytorch_reference.py EXPORT_DIR OUT_DIR [EXPORT_DIR OUT_DIR ...] [--threads N] [options]
Several (export, out) pairs run in one process, so PyTorch is imported once.
Exit status: 0 completed, 3 diverged (non-finite loss; the message names step and task), 1 bad input.

Needs only torch (the project's venv, ~/.cache/mtlscope/venv or $MTLSCOPE_CACHE/venv); reads
safetensors and IDX files with the standard library.
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
from decimal import Decimal

# The venv holds torch alone; its numpy bridge is not used.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

FORMAT = "mtlscope-export/1"
DTYPES = {
    "F32": torch.float32,
    "F64": torch.float64,
    "I64": torch.int64,
    "I32": torch.int32,
    "U8": torch.uint8,
}
SPLITS = ("train", "val", "test")
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
EXIT_DIVERGED = 3


class BadInput(Exception):
    """An export or data file that cannot be used; the message names it."""


# ---------------------------------------------------------------------------------------------
# Files


def read_safetensors(path):
    """Tensors of a safetensors file: 8-byte little-endian header length, JSON header, data."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise BadInput(f"{path}: {e}") from e
    if len(raw) < 8:
        raise BadInput(f"{path}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", raw[:8])
    try:
        header = json.loads(raw[8 : 8 + n])
    except ValueError as e:
        raise BadInput(f"{path}: bad safetensors header: {e}") from e
    base = 8 + n
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        if meta["dtype"] not in DTYPES:
            raise BadInput(f"{path}: tensor {name} has unsupported dtype {meta['dtype']}")
        dtype = DTYPES[meta["dtype"]]
        a, b = meta["data_offsets"]
        if base + b > len(raw):
            raise BadInput(f"{path}: tensor {name} runs past the end of the file")
        if b == a:
            t = torch.empty(0, dtype=dtype)
        else:
            t = torch.frombuffer(bytearray(raw[base + a : base + b]), dtype=dtype)
        out[name] = t.reshape(meta["shape"])
    return out


def find_idx(data_dir, name):
    """`name.gz` if present, else `name`, in data_dir."""
    for candidate in (os.path.join(data_dir, name + ".gz"), os.path.join(data_dir, name)):
        if os.path.exists(candidate):
            return candidate
    raise BadInput(f"{data_dir}: no {name}[.gz]")


def read_idx(path):
    """An IDX file of unsigned bytes (raw or gzip) as a uint8 tensor of its dimensions."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise BadInput(f"{path}: not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    body = raw[4 + 4 * ndim :]
    if len(body) != math.prod(dims):
        raise BadInput(f"{path}: header says {dims}, body has {len(body)} bytes")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(dims)


def rust_f64(x):
    """`x` as Rust's `f64` Display prints it: shortest round-trip digits, never an exponent,
    no trailing `.0` (so the CSVs of both implementations are written alike)."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    s = format(Decimal(repr(float(x))), "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


# ---------------------------------------------------------------------------------------------
# Model


class LeNet(nn.Module):
    """LeNet-5: conv(6, 5x5, pad 2)-ReLU-maxpool 2-conv(16, 5x5)-ReLU-maxpool 2-fc 120-ReLU-fc 84-ReLU."""

    def __init__(self, c, h, w):
        super().__init__()
        h2, w2 = (h // 2 - 4) // 2, (w // 2 - 4) // 2
        self.conv1 = nn.Conv2d(c, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * h2 * w2, 120)
        self.fc2 = nn.Linear(120, 84)
        self.out_dim = 84

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return F.relu(self.fc2(F.relu(self.fc1(x))))


class Mlp(nn.Module):
    """Flatten, then fc1..fcL, each followed by ReLU."""

    def __init__(self, c, h, w, hidden):
        super().__init__()
        fan_in = c * h * w
        self.n = len(hidden)
        for i, width in enumerate(hidden):
            setattr(self, f"fc{i + 1}", nn.Linear(fan_in, width))
            fan_in = width
        self.out_dim = fan_in

    def forward(self, x):
        x = torch.flatten(x, 1)
        for i in range(self.n):
            x = F.relu(getattr(self, f"fc{i + 1}")(x))
        return x


class MultiTaskNet(nn.Module):
    """Shared encoder, one linear head per task (`head.<task>`)."""

    def __init__(self, model_cfg, tasks, input_shape):
        super().__init__()
        c, h, w = input_shape
        if model_cfg["encoder"] == "lenet":
            self.encoder = LeNet(c, h, w)
        elif model_cfg["encoder"] == "mlp":
            self.encoder = Mlp(c, h, w, model_cfg["hidden"])
        else:
            raise BadInput(f"model.encoder `{model_cfg['encoder']}` is not supported")
        self.head = nn.ModuleDict(
            {t["name"]: nn.Linear(self.encoder.out_dim, t["classes"]) for t in tasks}
        )

    def logits(self, task, x):
        return self.head[task](self.encoder(x))


def make_optimizer(cfg, params):
    name, lr, wd = cfg["name"], cfg["lr"], cfg["weight_decay"]
    if name == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=cfg["momentum"], nesterov=cfg["nesterov"], weight_decay=wd
        )
    betas = tuple(cfg["betas"])
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, eps=cfg["eps"], weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, eps=cfg["eps"], weight_decay=wd)
    raise BadInput(f"optim.name `{name}` is not supported")


# ---------------------------------------------------------------------------------------------
# Data


def load_data(export_dir, man, opts):
    """Per task and split, normalised inputs and labels, rebuilt from the IDX files."""
    data_dir = man["data_dir"]
    idx = {k: read_idx(find_idx(data_dir, v)) for k, v in IDX_FILES.items()}
    files = {"train": (idx["train_images"], idx["train_labels"]),
             "test": (idx["test_images"], idx["test_labels"])}
    st = read_safetensors(os.path.join(export_dir, man["files"]["data"]))

    # Normalisation: recompute the pool's pixel statistics and check the export's constants
    # (those are used, so inputs are the same float32 values on both sides).
    norm = man["normalization"]
    # Exact integer moments from the pool's pixel histogram (no 50,000 x 784 float copy).
    counts = torch.bincount(idx["train_images"][st[norm["pool"]]].flatten(), minlength=256)
    values = torch.arange(256, dtype=torch.float64)
    n = counts.sum().item()
    mean = (counts.double() * values).sum().item() / 255.0 / n
    second = (counts.double() * values * values).sum().item() / (255.0 * 255.0) / n
    std = math.sqrt(max(second - mean * mean, 1e-12))
    if abs(mean - norm["mean"]) > 1e-9 or abs(std - norm["std"]) > 1e-9:
        raise BadInput(
            f"{export_dir}: normalisation in the manifest ({norm['mean']}, {norm['std']}) "
            f"differs from the pool's pixels ({mean}, {std})"
        )
    mean, std = norm["mean"], norm["std"]

    out = {}
    for t in man["tasks"]:
        name = t["name"]
        out[name] = {}
        for split in SPLITS:
            images, labels = files[man["split_source"][split]]
            rows = st[f"{name}.{split}.index"]
            x = images[rows].to(torch.float32).unsqueeze(1) / 255.0
            x = (x - mean) / std
            y = st[f"{name}.{split}.label"].clone()
            true_y = labels[rows].to(torch.int64)
            if name != "noisy_fashion" and not torch.equal(y, true_y):
                raise BadInput(f"{export_dir}: {name}.{split} labels differ from the IDX file")
            if name == "noisy_fashion" and opts.noisy != "export":
                y = own_noisy_labels(true_y, opts, split)
            out[name][split] = (x, y)
    return out


def own_noisy_labels(true_y, opts, split):
    """NoisyFashion labels as an independent implementation builds them."""
    g = torch.Generator().manual_seed(opts.noisy_seed * 10 + SPLITS.index(split))
    if opts.noisy == "permute":
        return true_y[torch.randperm(len(true_y), generator=g)]
    return torch.randint(0, 10, (len(true_y),), generator=g)


class TorchSampler:
    """A fresh torch.randperm of the training rows each epoch, full batches only."""

    def __init__(self, n, batch, seed, task):
        self.n, self.batch = n, batch
        self.g = torch.Generator().manual_seed(1000 * seed + task)
        self.per = max(n // batch, 1)
        self.pass_no, self.perm = -1, None

    def rows(self, step):
        p = step // self.per
        while self.pass_no < p:
            self.perm = torch.randperm(self.n, generator=self.g)
            self.pass_no += 1
        pos = step % self.per
        return self.perm[pos * self.batch : (pos + 1) * self.batch]


# ---------------------------------------------------------------------------------------------
# Training


@torch.no_grad()
def evaluate(net, data, tasks, chunk):
    """Mean loss and accuracy of every task on every split, in chunks of `chunk` examples."""
    net.eval()
    rows = []
    for t in tasks:
        for split in SPLITS:
            x, y = data[t][split]
            n = len(y)
            loss, correct = 0.0, 0
            for s in range(0, n, chunk):
                logits = net.logits(t, x[s : s + chunk])
                yy = y[s : s + chunk]
                loss += F.cross_entropy(logits, yy).item() * len(yy)
                correct += int((logits.argmax(-1) == yy).sum().item())
            rows.append((t, split, loss / n if n else math.nan, correct / n if n else math.nan))
    net.train()
    return rows


def train_one(export_dir, out_dir, opts):
    with open(os.path.join(export_dir, "manifest.json")) as f:
        man = json.load(f)
    if man.get("format") != FORMAT:
        raise BadInput(f"{export_dir}/manifest.json: format {man.get('format')!r}, expected {FORMAT}")
    cfg = man["config"]
    obj = cfg["objective"]
    if obj["kind"] != "umtg":
        raise BadInput(f"objective.kind `{obj['kind']}`: the reference trains the UMTG only")
    if cfg["train"].get("eval_schedule", "epoch") != "epoch":
        # The export's eval_steps follow the regular grid (step 0, every eval_every, the last).
        raise BadInput(f"train.eval_schedule `{cfg['train']['eval_schedule']}`: only `epoch` is exported")
    tasks = [t["name"] for t in man["tasks"]]
    seed = cfg["train"]["seed"] if opts.seed is None else opts.seed
    total = man["total_steps"]
    if opts.sampler == "export" and man["exported_steps"] < total:
        raise BadInput(
            f"{export_dir}: the export holds batches for {man['exported_steps']} of {total} steps; "
            "export all steps (omit --steps) or pass --sampler torch"
        )
    data = load_data(export_dir, man, opts)

    if opts.init == "torch":
        torch.manual_seed(seed)
        net = MultiTaskNet(cfg["model"], man["tasks"], man["input_shape"])
    else:
        net = MultiTaskNet(cfg["model"], man["tasks"], man["input_shape"])
        state = read_safetensors(os.path.join(export_dir, man["files"]["init"]))
        net.load_state_dict(state, strict=True)
    opt = make_optimizer(cfg["optim"], net.parameters())

    if opts.sampler == "export":
        exported = read_safetensors(os.path.join(export_dir, man["files"]["batches"]))
        batch_rows = lambda k, t, step: exported[t][step]  # noqa: E731
    else:
        samplers = [
            TorchSampler(len(data[t]["train"][1]), man["tasks"][k]["batch_size"], seed, k)
            for k, t in enumerate(tasks)
        ]
        batch_rows = lambda k, t, step: samplers[k].rows(step)  # noqa: E731

    c = obj["scale"] if obj["reduction"] == "sum" else obj["scale"] / len(tasks)
    spe = man["steps_per_epoch"]
    eval_steps = set(man["eval_steps"])
    os.makedirs(out_dir, exist_ok=True)
    csv = open(os.path.join(out_dir, "trajectory.csv"), "w")
    csv.write("epoch,step,task,split,metric,value\n")

    def record(step):
        epoch = rust_f64(step / spe)
        for t, split, loss, acc in evaluate(net, data, tasks, man["eval_batch_size"]):
            # One row per metric, in the order of mtlscope's multiclass kind: loss, accuracy.
            for metric, value in (("loss", loss), ("accuracy", acc)):
                csv.write(f"{epoch},{step},{t},{split},{metric},{rust_f64(value)}\n")
        csv.flush()

    t0 = time.time()
    status, message = "completed", f"completed {total} steps"
    record(0)
    net.train()
    for step in range(total):
        losses = []
        for k, t in enumerate(tasks):
            rows = batch_rows(k, t, step)
            x, y = data[t]["train"]
            losses.append(F.cross_entropy(net.logits(t, x[rows]), y[rows]))
        losses = torch.stack(losses)
        bad = [k for k in range(len(tasks)) if not math.isfinite(losses[k].item())]
        if bad:
            status = "diverged"
            message = f"diverged: loss of task `{tasks[bad[0]]}` is {losses[bad[0]].item()} at step {step + 1}"
            break
        opt.zero_grad(set_to_none=True)
        (losses.sum() * c).backward()
        opt.step()
        if step + 1 in eval_steps:
            record(step + 1)
    csv.close()
    info = {
        "status": status,
        "message": message,
        "export": os.path.abspath(export_dir),
        "seed": seed,
        "sampler": opts.sampler,
        "init": opts.init,
        "noisy": opts.noisy,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "wall_seconds": time.time() - t0,
    }
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(info, f, indent=2)
    print(f"{out_dir}: {message} ({info['wall_seconds']:.1f} s)", file=sys.stderr)
    return status


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dirs", nargs="+", help="EXPORT_DIR OUT_DIR pairs")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    ap.add_argument("--sampler", choices=["export", "torch"], default="export")
    ap.add_argument("--init", choices=["export", "torch"], default="export")
    ap.add_argument("--noisy", choices=["export", "permute", "uniform"], default="export")
    ap.add_argument("--noisy-seed", type=int, default=0)
    ap.add_argument("--seed", type=int, default=None)
    opts = ap.parse_args()
    if len(opts.dirs) % 2:
        ap.error("expected EXPORT_DIR OUT_DIR pairs")
    if opts.threads is not None:
        if opts.threads < 1:
            ap.error(f"--threads must be >= 1, got {opts.threads}")
        torch.set_num_threads(opts.threads)
    worst = 0
    try:
        for i in range(0, len(opts.dirs), 2):
            if train_one(opts.dirs[i], opts.dirs[i + 1], opts) == "diverged":
                worst = EXIT_DIVERGED
    except (BadInput, KeyError, OSError) as e:
        print(f"pytorch_reference: {e}", file=sys.stderr)
        return 1
    return worst


if __name__ == "__main__":
    sys.exit(main())
