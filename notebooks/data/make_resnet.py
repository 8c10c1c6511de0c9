"""Data of notebooks/05-finetune-resnet.ipynb, made with PyTorch 1.13 (Debian's python3-torch):

    /usr/bin/python3 notebooks/data/make_resnet.py [OUT_DIR]      (default notebooks/data/generated)

Writes, deterministically (seeded), nothing downloaded:
  resnet_shapes.pth        state_dict of torchvision's ResNet(BasicBlock, [1, 1, 1, 1], num_classes=4),
                           trained here for a few epochs to tell four shapes apart on 32x32 images
  resnet_shapes_whole.pt   the same model saved whole (torch.save(model))
  shapes_data.pth          the fine-tuning task (three new shapes: ring, bars, diamond; uint8 NHWC images,
                           int64 labels), probe images (float32 NCHW) with the pretrained model's eval logits,
                           and a probe for the full-size model below
  resnet18_random.pth      a full-size torchvision resnet18 state dict: random weights, BatchNorm
                           statistics moved by train-mode passes (shows the same code handles it)
The files are large (20-45 MB), so they are generated, not committed: the test suite runs this script
before it runs the notebook.
"""
import math
import os
import sys

import numpy as np
import torch
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

SIZE = 32
PRETRAIN = ['circle', 'square', 'triangle', 'cross']
FINETUNE = ['ring', 'bars', 'diamond']


def shape_mask(kind, rng):
    """A binary 32x32 mask of one shape at a random place, size and angle."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    cx, cy = rng.uniform(10, 22, size=2)
    r = rng.uniform(5, 9)
    a = rng.uniform(0, math.pi)
    u = (xx - cx) * math.cos(a) + (yy - cy) * math.sin(a)
    v = -(xx - cx) * math.sin(a) + (yy - cy) * math.cos(a)
    d = np.hypot(xx - cx, yy - cy)
    if kind == 'circle':
        return d <= r
    if kind == 'ring':
        return (d <= r) & (d >= r - 2.5)
    if kind == 'square':
        return (abs(u) <= r * 0.8) & (abs(v) <= r * 0.8)
    if kind == 'diamond':
        return abs(u) + abs(v) <= r
    if kind == 'cross':
        return ((abs(u) <= 1.6) & (abs(v) <= r)) | ((abs(v) <= 1.6) & (abs(u) <= r))
    if kind == 'bars':
        return (abs(u) <= r) & (abs(v) <= r) & ((np.floor((v + r) / 2.5) % 2) == 0)
    if kind == 'triangle':
        return (v >= -r * 0.6) & (v <= r * 0.9) & (abs(u) <= (r * 0.9 - v) * 0.6)
    raise ValueError(kind)


def dataset(kinds, n, seed):
    """n images (uint8, NHWC) of the given shapes in random colours on noisy backgrounds, and labels."""
    rng = np.random.default_rng(seed)
    x = np.empty((n, SIZE, SIZE, 3), np.uint8)
    y = np.empty(n, np.int64)
    for i in range(n):
        label = i % len(kinds)
        bg = rng.uniform(0, 120, size=3)
        fg = rng.uniform(120, 255, size=3)
        img = np.clip(bg + rng.normal(0, 18, size=(SIZE, SIZE, 3)), 0, 255)
        m = shape_mask(kinds[label], rng)
        img[m] = np.clip(fg + rng.normal(0, 18, size=(int(m.sum()), 3)), 0, 255)
        x[i] = img.astype(np.uint8)
        y[i] = label
    return x, y


def to_input(x):
    """uint8 NHWC -> float32 NCHW in [-1, 1], what the model takes."""
    return torch.from_numpy(x).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def accuracy(m, x, y):
    m.eval()
    with torch.no_grad():
        return float((m(to_input(x)).argmax(1) == torch.from_numpy(y)).float().mean())


def pretrain():
    torch.manual_seed(0)
    m = ResNet(BasicBlock, [1, 1, 1, 1], num_classes=len(PRETRAIN))
    x, y = dataset(PRETRAIN, 1600, seed=1)
    vx, vy = dataset(PRETRAIN, 400, seed=2)
    opt = torch.optim.Adam(m.parameters(), lr=2e-3)
    # Halving the rate each epoch settles the weights and the BatchNorm statistics eval mode uses.
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    g = torch.Generator().manual_seed(0)
    for epoch in range(6):
        m.train()
        order = torch.randperm(len(x), generator=g)
        for b in range(0, len(x), 32):
            idx = order[b:b + 32].numpy()
            loss = nn.functional.cross_entropy(m(to_input(x[idx])), torch.from_numpy(y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        print(f'pretrain epoch {epoch + 1}: loss {float(loss):.3f}, validation accuracy {accuracy(m, vx, vy):.3f}', file=sys.stderr)
    m.eval()
    return m


def full_size_resnet18():
    torch.manual_seed(18)
    m = torchvision.models.resnet18()
    m.train()
    with torch.no_grad():
        for i in range(3):
            m(torch.randn(8, 3, 64, 64, generator=torch.Generator().manual_seed(100 + i)))
    m.eval()
    return m


def main(out):
    os.makedirs(out, exist_ok=True)
    m = pretrain()
    torch.save(m.state_dict(), os.path.join(out, 'resnet_shapes.pth'))
    torch.save(m, os.path.join(out, 'resnet_shapes_whole.pt'))

    probe_x, _ = dataset(PRETRAIN, 8, seed=3)
    probe = to_input(probe_x)
    fx, fy = dataset(FINETUNE, 480, seed=4)
    vx, vy = dataset(FINETUNE, 240, seed=5)
    big = full_size_resnet18()
    big_probe = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(6))
    torch.save(big.state_dict(), os.path.join(out, 'resnet18_random.pth'))
    with torch.no_grad():
        data = {
            'probe.x': probe.contiguous(),
            'probe.logits': m(probe),
            'finetune.train.x': torch.from_numpy(fx),
            'finetune.train.y': torch.from_numpy(fy),
            'finetune.val.x': torch.from_numpy(vx),
            'finetune.val.y': torch.from_numpy(vy),
            'resnet18.probe.x': big_probe,
            'resnet18.probe.logits': big(big_probe),
        }
    torch.save(data, os.path.join(out, 'shapes_data.pth'))
    print(f'wrote {out}', file=sys.stderr)


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), 'generated'))
