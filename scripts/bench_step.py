"""The training step of `mtlscope bench step`, written plainly in PyTorch eager, for a
side-by-side comparison on the same torch wheel.

Same networks (LeNet-5; ResNet-18 with the CIFAR or ImageNet stem, torchvision's layout; for
NYUv2's segmentation, depth and normals at 288x384, MTAN's SegNet with conv decoder heads or
DeepLabV3+ as LibMTL's, from deeplab_reference.py beside this file; for GLUE, Hugging Face
`transformers`' RobertaModel at RoBERTa-base's size, randomly initialised, with linear heads on
the <s> token's last hidden state for the 8 tasks: 2-class heads with cross-entropy, STS-B's
1-output head with MSE, MNLI's 3 classes), same shapes, tasks, heads and losses, same Adam, random inputs and targets of the setting's shape; prints the
median, 10th and 90th percentile of the UMTG step (one backward of the summed loss) and of
the Jacobian step (K backwards of the shared parameters' gradients into J, as mtlscope: one encoder pass for
shared inputs, one per task for disjoint inputs; J J^T in f64,
d = 1^T J written back), and the process's peak resident memory after each path.

    ~/.cache/mtlscope/venv/bin/python scripts/bench_step.py --setting cifar --tasks 20 \
        --batch-size 8 --steps 10 --warmup 2 --threads 2

Compare with: mtlscope bench step --setting cifar --tasks 20 --batch-size 8 --steps 10 \
    --warmup 2 --threads 2
"""

import argparse
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from deeplab_reference import DeepLabHead, ResNet


class LeNet(nn.Module):
    def __init__(self, c, h, w):
        super().__init__()
        self.conv1 = nn.Conv2d(c, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        h2, w2 = (h // 2 - 4) // 2, (w // 2 - 4) // 2
        self.fc1 = nn.Linear(16 * h2 * w2, 120)
        self.fc2 = nn.Linear(120, 84)
        self.out = 84

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return F.relu(self.fc2(F.relu(self.fc1(x.flatten(1)))))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ResNet18(nn.Module):
    def __init__(self, c, imagenet):
        super().__init__()
        if imagenet:
            self.conv1 = nn.Conv2d(c, 64, 7, 2, 3, bias=False)
        else:
            self.conv1 = nn.Conv2d(c, 64, 3, 1, 1, bias=False)
        self.imagenet = imagenet
        self.bn1 = nn.BatchNorm2d(64)
        blocks, cin = [], 64
        for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            blocks += [Block(cin, cout, stride), Block(cout, cout, 1)]
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.out = 512

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        if self.imagenet:
            x = F.max_pool2d(x, 3, 2, 1)
        return self.blocks(x).mean((2, 3))


class SegNet(nn.Module):
    """mtlscope's `segnet` encoder (model/segnet.rs): MTAN's split SegNet, the shared
    encoder-decoder with pooling indices, a 64-channel full-resolution map."""

    def __init__(self, c):
        super().__init__()
        f = [64, 128, 256, 512, 512]
        layer = lambda i, o: nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU())
        extra = lambda i: 1 if i <= 1 else 2
        self.enc = nn.ModuleList(
            nn.Sequential(layer(c if i == 0 else f[i - 1], f[i]), *[layer(f[i], f[i]) for _ in range(extra(i))])
            for i in range(5)
        )
        out = lambda j: f[0] if j == 0 else f[j - 1]
        self.dec = nn.ModuleList(
            nn.Sequential(layer(f[j], out(j)), *[layer(out(j), out(j)) for _ in range(extra(j))])
            for j in range(5)
        )

    def forward(self, x):
        pools = []
        for stage in self.enc:
            x = stage(x)
            size = x.shape[-2:]
            x, idx = F.max_pool2d(x, 2, 2, return_indices=True)
            pools.append((idx, size))
        for stage, (idx, size) in reversed(list(zip(self.dec, pools))):
            x = stage(F.max_unpool2d(x, idx, 2, 2, output_size=size))
        return x


class DilatedResNet50(ResNet):
    """DeepLabV3+'s encoder: torchvision's ResNet-50 with replace_stride_with_dilation
    [False, True, True], without avgpool and fc (mtlscope's `deeplabv3plus`)."""

    def __init__(self):
        super().__init__([3, 4, 6, 3], [False, True, True])
        del self.fc, self.avgpool

    def forward(self, x):
        return self.features(x)


class Dense(nn.Module):
    """A per-pixel head as mtlscope's: `head` on the map, bilinear upsampling to the input
    size (align_corners as the head: False for the decoder, True for DeepLab's), unit-length
    pixels for normals."""

    def __init__(self, head, size, align_corners, unit):
        super().__init__()
        self.head, self.size, self.align, self.unit = head, size, align_corners, unit

    def forward(self, z):
        y = F.interpolate(self.head(z), self.size, mode="bilinear", align_corners=self.align)
        return y / y.norm(dim=1, keepdim=True).clamp_min(1e-12) if self.unit else y


def decoder(c, out):
    """mtlscope's DecoderHead: conv3x3 (C -> C) - ReLU - conv1x1 (C -> out)."""
    return nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, out, 1))


def masked_mean(per_pixel, target):
    """Sum over valid pixels (sum_c target != 0) / their count, as LibMTL's NYUv2 losses."""
    m = (target.sum(1) != 0).to(per_pixel.dtype)
    return (per_pixel * m).sum() / m.sum().clamp_min(1)


def depth_loss(out, y):
    return masked_mean((out - y).abs().sum(1), y)


def normal_loss(out, y):
    n = out / out.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return masked_mean(1 - (n * y).sum(1), y)


# GLUE's 8 tasks in mtlscope's order: classes (1 = STS-B's regression).
GLUE_OUTPUTS = [2, 2, 2, 1, 2, 3, 2, 2]


class RobertaCls(nn.Module):
    """RoBERTa-base (random weights: the timing does not depend on them), returning the <s>
    token's last hidden state; `x` is [B, L] token ids, every token real (mask all ones)."""

    def __init__(self):
        super().__init__()
        from transformers import RobertaConfig, RobertaModel

        cfg = RobertaConfig(
            vocab_size=50265, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
            intermediate_size=3072, max_position_embeddings=514, type_vocab_size=1,
            layer_norm_eps=1e-5, pad_token_id=1, bos_token_id=0, eos_token_id=2,
        )
        self.model = RobertaModel(cfg, add_pooling_layer=False)
        self.model.train()
        self.out = 768

    def forward(self, x):
        return self.model(input_ids=x, attention_mask=torch.ones_like(x)).last_hidden_state[:, 0]


def glue(tasks, length, pool):
    """Encoder, heads, losses, `pool` random token sequences of `length` per task and their
    targets, as `mtlscope bench step --setting glue-roberta`."""
    if tasks > len(GLUE_OUTPUTS):
        raise SystemExit(f"--setting glue-roberta has at most 8 tasks, got --tasks {tasks}")
    outs = GLUE_OUTPUTS[:tasks]
    enc = RobertaCls()
    heads = nn.ModuleList(nn.Linear(enc.out, o) for o in outs)
    mse = lambda out, y: F.mse_loss(out.squeeze(-1), y)
    loss_fns = [mse if o == 1 else F.cross_entropy for o in outs]
    targets = [torch.rand(pool) * 5 if o == 1 else torch.randint(o, (pool,)) for o in outs]
    inputs = [torch.randint(3, 50265, (pool, length)) for _ in outs]
    return enc, heads, loss_fns, targets, inputs


def nyuv2(enc_name, h, w, pool):
    """Encoder, heads, losses and `pool` random targets of NYUv2's three tasks, as
    `mtlscope bench step --setting nyuv2-*`."""
    if enc_name == "segnet":
        enc, c, make, align = SegNet(3), 64, decoder, False
    else:
        enc, c, make, align = DilatedResNet50(), 2048, DeepLabHead, True
    heads = nn.ModuleList(Dense(make(c, o), (h, w), align, o == 3) for o in (13, 1, 3))
    seg = lambda out, y: F.cross_entropy(out, y, ignore_index=-1)
    labels = torch.randint(14, (pool, h, w)) - 1
    depth = (torch.rand(pool, 1, h, w) * 9.99 + 0.01) * (torch.rand(pool, 1, h, w) >= 0.05)
    n = torch.randn(pool, 3, h, w)
    normals = n / n.norm(dim=1, keepdim=True)
    return enc, heads, [seg, depth_loss, normal_loss], [labels, depth, normals]


SETTINGS = {
    # encoder, input shape, classes (None: NYUv2's tasks), shared inputs, batch size: as
    # `mtlscope bench step --setting`.
    "fashion": ("lenet", (1, 28, 28), 10, False, 128),
    "cifar": ("resnet_cifar", (3, 32, 32), 5, False, 128),
    "celeba": ("resnet_imagenet", (3, 64, 64), 2, True, 128),
    "nyuv2-segnet": ("segnet", (3, 288, 384), None, True, 8),
    "nyuv2-deeplab": ("deeplabv3plus", (3, 288, 384), None, True, 8),
    # Token sequences of length 128 (the "shape" is [1, 1, L]).
    "glue-roberta": ("roberta", (1, 1, 128), "glue", False, 32),
}


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def summary(ms):
    ms = sorted(ms)
    # Half rounds up, as mtlscope's f64::round (Python's round would take the lower of two).
    q = lambda p: ms[int((len(ms) - 1) * p + 0.5)]
    return q(0.5), q(0.1), q(0.9)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--setting", choices=sorted(SETTINGS), default="fashion")
    ap.add_argument("--tasks", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=None, help="default: 8 for nyuv2-*, 32 for glue-roberta, else 128")
    ap.add_argument("--seq-len", type=int, default=128, help="tokens per sequence (glue-roberta)")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    enc_name, (c, h, w), classes, shared, batch_size = SETTINGS[a.setting]
    a.batch_size = a.batch_size or batch_size
    pool = min(max(8 * a.batch_size, a.batch_size), 4096)
    if classes == "glue":
        enc, heads, loss_fns, targets, inputs = glue(a.tasks, a.seq_len, pool)
        w = a.seq_len
    else:
        inputs = [torch.randn(pool, c, h, w) for _ in range(1 if shared else a.tasks)]
    if classes == "glue":
        pass
    elif classes is None:
        if a.tasks != 3:
            ap.error(f"--setting {a.setting} has NYUv2's 3 tasks, got --tasks {a.tasks}")
        enc, heads, loss_fns, targets = nyuv2(enc_name, h, w, pool)
    else:
        enc = LeNet(c, h, w) if enc_name == "lenet" else ResNet18(c, enc_name == "resnet_imagenet")
        heads = nn.ModuleList(nn.Linear(enc.out, classes) for _ in range(a.tasks))
        loss_fns = [F.cross_entropy] * a.tasks
        targets = [torch.randint(classes, (pool,)) for _ in range(a.tasks)]
    params = list(enc.parameters()) + list(heads.parameters())
    shared_params = list(enc.parameters())
    gen = torch.Generator().manual_seed(0)

    def batches():
        if shared:
            idx = torch.randint(pool, (a.batch_size,), generator=gen)
            x = inputs[0][idx]
            return [(x, y[idx]) for y in targets]
        out = []
        for k in range(a.tasks):
            idx = torch.randint(pool, (a.batch_size,), generator=gen)
            out.append((inputs[k][idx], targets[k][idx]))
        return out

    def losses(bs):
        if shared:
            z = enc(bs[0][0])
            return [loss_fns[k](heads[k](z), y) for k, (_, y) in enumerate(bs)]
        # One concatenated encoder pass over every task's batch, as mtlscope's UMTG path.
        z = enc(torch.cat([x for x, _ in bs])).split(a.batch_size)
        return [loss_fns[k](heads[k](z[k]), y) for k, (_, y) in enumerate(bs)]

    print(
        f"pytorch bench step: {a.setting} ({enc_name}, {c}x{h}x{w}), {a.tasks} tasks, batch "
        f"{a.batch_size} per task, {sum(p.numel() for p in shared_params)} shared parameters, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(f"{'path':<10} {'part':<22} {'median ms':>10} {'p10 ms':>10} {'p90 ms':>10}")

    opt = torch.optim.Adam(params, lr=1e-3)
    ms = []
    for step in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        bs = batches()
        opt.zero_grad(set_to_none=True)
        sum(losses(bs)).backward()
        opt.step()
        if step >= a.warmup:
            ms.append((time.perf_counter() - t0) * 1e3)
    print("{:<10} {:<22} {:>10.2f} {:>10.2f} {:>10.2f}".format("umtg", "step (total)", *summary(ms)))
    rss_umtg = peak_rss_mb()

    opt = torch.optim.Adam(params, lr=1e-3)
    ms = []
    for step in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        bs = batches()
        opt.zero_grad(set_to_none=True)
        # Shared inputs: one encoder pass, K backwards through it. Disjoint inputs: each task's
        # batch through the encoder on its own, so each backward covers its own graph only.
        ls = losses(bs) if shared else None
        rows, head_grads = [], []
        for k in range(a.tasks):
            if shared:
                l = ls[k]
            else:
                x, y = bs[k]
                l = loss_fns[k](heads[k](enc(x)), y)
            g = torch.autograd.grad(
                l,
                shared_params + list(heads[k].parameters()),
                retain_graph=shared and k + 1 < a.tasks,
            )
            rows.append(torch.cat([t.flatten() for t in g[: len(shared_params)]]))
            head_grads.append(g[len(shared_params):])
        jac = torch.stack(rows)
        gram = (jac @ jac.T).double()
        assert gram.shape == (a.tasks, a.tasks)
        d = torch.ones(a.tasks) @ jac
        off = 0
        for p in shared_params:
            p.grad = d[off : off + p.numel()].view_as(p)
            off += p.numel()
        for k, hg in enumerate(head_grads):
            for p, g in zip(heads[k].parameters(), hg):
                p.grad = g
        opt.step()
        if step >= a.warmup:
            ms.append((time.perf_counter() - t0) * 1e3)
    print("{:<10} {:<22} {:>10.2f} {:>10.2f} {:>10.2f}".format("jacobian", "step (total)", *summary(ms)))
    print(
        f"peak resident memory: {rss_umtg:.0f} MB after the UMTG path, {peak_rss_mb():.0f} MB "
        f"after the Jacobian path (m = {a.tasks})"
    )


if __name__ == "__main__":
    main()
