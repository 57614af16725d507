"""DeepLabV3+ in plain PyTorch, as LibMTL builds it, for `tests/deeplab.rs`: writes random
weights, an input batch and the eval-mode outputs, which mtlscope's `deeplabv3plus` encoder and
ASPP heads must reproduce.

The encoder is torchvision's ResNet (`torchvision/models/resnet.py`: Bottleneck with the stride
on the 3x3 conv, `_make_layer` with `replace_stride_with_dilation=[False, True, True]`), written
out here because the project's venv holds torch alone; module names are torchvision's, `fc`
included, so `encoder.safetensors` is keyed exactly like
`torchvision.models.resnet50().state_dict()` (with `fc.*` and `*.num_batches_tracked`). The heads
are LibMTL's `examples/nyu/aspp.py` `DeepLabHead(2048, out)` (ASPP with rates 12, 24, 36,
projection with Dropout(0.5), conv3x3, conv1x1), their outputs upsampled to the input size as
LibMTL's NYUv2 trainer does (`F.interpolate(..., mode='bilinear', align_corners=True)`), normals
unit-normalised per pixel.

Weights: torchvision's initialisation, then every batch norm gets a random affine transform and
running statistics from one train-mode pass over the input (cumulative average), so eval mode
normalises with non-trivial buffers. Safetensors are written with the standard library.

    ~/.cache/mtlscope/venv/bin/python scripts/deeplab_reference.py OUT_DIR \
        [--backbone resnet50] [--size 160 224] [--batch 2]

Writes OUT_DIR/encoder.safetensors (torchvision keys), heads.safetensors
(`head.segmentation.*`, `head.normal.*`, LibMTL's keys), ref.safetensors (`input`, `features`,
`out.segmentation`, `out.normal`, and `out.normal_raw` before the normalisation) and
counts.json (parameter counts).
"""

import argparse
import ctypes
import json
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, dilation=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(
            planes, planes, 3, stride=stride, padding=dilation, dilation=dilation, bias=False
        )
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    def __init__(self, layers, replace_stride_with_dilation):
        super().__init__()
        self.inplanes, self.dilation = 64, 1
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(64, layers[0])
        self.layer2 = self._make_layer(128, layers[1], 2, replace_stride_with_dilation[0])
        self.layer3 = self._make_layer(256, layers[2], 2, replace_stride_with_dilation[1])
        self.layer4 = self._make_layer(512, layers[3], 2, replace_stride_with_dilation[2])
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(2048, 1000)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes, blocks, stride=1, dilate=False):
        downsample = None
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * 4, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * 4),
            )
        layers = [Bottleneck(self.inplanes, planes, stride, downsample, previous_dilation)]
        self.inplanes = planes * 4
        for _ in range(1, blocks):
            layers.append(Bottleneck(self.inplanes, planes, dilation=self.dilation))
        return nn.Sequential(*layers)

    def features(self, x):
        """LibMTL's ResnetDilated.forward: everything but avgpool and fc."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class ASPPConv(nn.Sequential):
    def __init__(self, cin, cout, dilation):
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
        )


class ASPPPooling(nn.Sequential):
    def __init__(self, cin, cout):
        super().__init__(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()
        )

    def forward(self, x):
        size = x.shape[-2:]
        x = super().forward(x)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    def __init__(self, cin, rates):
        super().__init__()
        c = 256
        modules = [nn.Sequential(nn.Conv2d(cin, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU())]
        modules += [ASPPConv(cin, c, r) for r in rates]
        modules.append(ASPPPooling(cin, c))
        self.convs = nn.ModuleList(modules)
        self.project = nn.Sequential(
            nn.Conv2d(5 * c, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(), nn.Dropout(0.5)
        )

    def forward(self, x):
        return self.project(torch.cat([conv(x) for conv in self.convs], dim=1))


class DeepLabHead(nn.Sequential):
    def __init__(self, cin, out):
        super().__init__(
            ASPP(cin, [12, 24, 36]),
            nn.Conv2d(256, 256, 3, padding=1, bias=False),
            nn.BatchNorm2d(256),
            nn.ReLU(),
            nn.Conv2d(256, out, 1),
        )


DTYPES = {torch.float32: "F32", torch.int64: "I64"}


def save_safetensors(tensors, path):
    """`tensors` (name -> CPU tensor) in the safetensors layout: 8-byte little-endian header
    length, JSON header (padded to 8 bytes), raw little-endian data."""
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        n = t.numel() * t.element_size()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + n]}
        blobs.append(ctypes.string_at(t.data_ptr(), n))
        off += n
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def settle_batch_norms(model, run, gen):
    """Random affine batch norms, running statistics of one train-mode pass of `run`."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.normal_(0.0, 0.1, generator=gen)
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        run()
    model.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--backbone", choices=["resnet50", "resnet101"], default="resnet50")
    ap.add_argument("--size", type=int, nargs=2, default=[160, 224])
    ap.add_argument("--batch", type=int, default=2)
    a = ap.parse_args()
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    layers = {"resnet50": [3, 4, 6, 3], "resnet101": [3, 4, 23, 3]}[a.backbone]
    enc = ResNet(layers, [False, True, True])
    heads = nn.ModuleDict({"segmentation": DeepLabHead(2048, 13), "normal": DeepLabHead(2048, 3)})
    h, w = a.size
    x = torch.randn(a.batch, 3, h, w, generator=gen)
    settle_batch_norms(enc, lambda: enc.features(x), gen)
    feats = enc.features(x).detach()
    settle_batch_norms(heads, lambda: [m(feats) for m in heads.values()], gen)

    with torch.no_grad():
        z = enc.features(x)
        out = {k: F.interpolate(m(z), (h, w), mode="bilinear", align_corners=True) for k, m in heads.items()}
        out["normal_raw"] = out["normal"]
        out["normal"] = F.normalize(out["normal"], dim=1)

    os.makedirs(a.out, exist_ok=True)
    save_safetensors(enc.state_dict(), os.path.join(a.out, "encoder.safetensors"))
    save_safetensors(
        {
            f"head.{k}.{n}": t
            for k, m in heads.items()
            for n, t in m.state_dict().items()
            if not n.endswith("num_batches_tracked")
        },
        os.path.join(a.out, "heads.safetensors"),
    )
    save_safetensors(
        {"input": x, "features": z, **{f"out.{k}": v for k, v in out.items()}},
        os.path.join(a.out, "ref.safetensors"),
    )
    count = lambda ps: sum(p.numel() for p in ps)
    counts = {
        "encoder": count(p for n, p in enc.named_parameters() if not n.startswith("fc.")),
        "head_segmentation": count(heads["segmentation"].parameters()),
    }
    with open(os.path.join(a.out, "counts.json"), "w") as f:
        json.dump(counts, f)
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
