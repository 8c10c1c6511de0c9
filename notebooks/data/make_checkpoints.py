"""Make the small PyTorch files the tutorial notebooks load.

Run with Debian's interpreter (torch 1.13):

    /usr/bin/python3 notebooks/data/make_checkpoints.py

Everything is seeded; the files are small (a few KB each) and committed, so the notebooks never
download or train anything in PyTorch at run time. What each file is for:

  stripes_pretrained_dp.pth  A small conv + BatchNorm net "pretrained" by PyTorch on a synthetic
                             task (16x16 images of stripes; 4 classes: horizontal, vertical, and
                             the two diagonals), saved as nn.DataParallel(net).state_dict(), so
                             every key starts with `module.`. Used by the flagship and seeds 001/002.
  stripes_probe.pt           8 images of that task and the logits PyTorch's net gives them in
                             eval mode: the TF.js mirror must reproduce them.
  attention_resnet.pth       {'net': state_dict, 'epoch': N} of a tiny "AttentionResNet" (seed 000)
                             trained to find a bright square: its keys have no `attention_map.`.
  attention_probe.pt         4 images, the masks PyTorch's net predicts for them, and the truth.
  m.pth, m3.pth              torch.save(m) of seed 004's whole modules (liner1 3->2, liner2 2->1;
                             and the 3-layer variant), after one SGD step as in the article.
  seed004_reference.json     What PyTorch computes in seed 004's experiments, for comparison.

The image generators mirror the ones in the notebooks (same distributions, not the same draws).
"""

import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.optim as optim

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
torch.set_num_threads(1)


def out(name):
    return os.path.join(HERE, name)


# --------------------------------------------------------------------------------------------
# Stripes: the flagship's "pretrained" backbone

ANGLES = [0.0, math.pi / 2, math.pi / 4, 3 * math.pi / 4]  # horizontal, vertical, '\', '/'


def stripes(n, gen, size=16, noise=0.3):
    """n images [n, 1, size, size] of stripes at one of four angles, random period and phase, plus noise."""
    labels = torch.randint(0, 4, (n,), generator=gen)
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij")
    imgs = torch.empty(n, 1, size, size)
    for i in range(n):
        a = ANGLES[int(labels[i])]
        period = 3 + 3 * torch.rand(1, generator=gen).item()
        phase = 2 * math.pi * torch.rand(1, generator=gen).item()
        # Stripes run along the angle: the wave varies across it.
        u = -math.sin(a) * xs + math.cos(a) * ys
        imgs[i, 0] = torch.sin(2 * math.pi * u / period + phase)
    imgs += noise * torch.randn(imgs.shape, generator=gen)
    return imgs, labels


class StripesNet(nn.Module):
    """features: two conv3x3 + BatchNorm + ReLU + max-pool blocks, flattened; classifier: Linear."""

    def __init__(self, classes=4):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(16 * 4 * 4, classes)

    def forward(self, x):
        return self.classifier(self.features(x))


def make_stripes():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    x, y = stripes(2000, gen)
    xt, yt = stripes(400, gen)
    net = StripesNet()
    dp = nn.DataParallel(net)  # no GPU needed: it only wraps, and its state_dict adds `module.`
    opt = optim.Adam(dp.parameters(), lr=1e-2)
    for epoch in range(4):
        dp.train()
        perm = torch.randperm(len(x), generator=gen)
        for b in range(0, len(x), 64):
            idx = perm[b:b + 64]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(dp(x[idx]), y[idx])
            loss.backward()
            opt.step()
        dp.eval()
        with torch.no_grad():
            acc = (dp(xt).argmax(1) == yt).float().mean().item()
        print(f"stripes epoch {epoch + 1}: loss {loss.item():.4f}, test accuracy {acc:.3f}")
    torch.save(dp.state_dict(), out("stripes_pretrained_dp.pth"))
    px, py = stripes(8, torch.Generator().manual_seed(2))
    with torch.no_grad():
        logits = dp(px)
    torch.save({"x": px, "labels": py, "logits": logits}, out("stripes_probe.pt"))


# --------------------------------------------------------------------------------------------
# Seed 000: an AttentionResNet-like net that finds a bright square


def squares(n, gen, size=16):
    """n RGB images [n, 3, size, size] of noise with one coloured square, and the square's mask."""
    imgs = 0.5 * torch.randn(n, 3, size, size, generator=gen)
    masks = torch.zeros(n, 1, size, size)
    for i in range(n):
        s = int(torch.randint(4, 8, (1,), generator=gen))
        r, c = (int(v) for v in torch.randint(0, size - s + 1, (2,), generator=gen))
        colour = 0.5 + torch.rand(3, generator=gen)
        colour[int(torch.randint(0, 3, (1,), generator=gen))] += 1.5
        imgs[i, :, r:r + s, c:c + s] += colour.view(3, 1, 1)
        masks[i, 0, r:r + s, c:c + s] = 1
    return imgs, masks


def attention_resnet():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 1, 1), nn.Sigmoid(),
    )


def make_attention():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(3)
    x, m = squares(1500, gen)
    net = attention_resnet()
    opt = optim.Adam(net.parameters(), lr=1e-2)
    epochs = 6
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(len(x), generator=gen)
        for b in range(0, len(x), 50):
            idx = perm[b:b + 50]
            opt.zero_grad()
            loss = nn.functional.binary_cross_entropy(net(x[idx]), m[idx])
            loss.backward()
            opt.step()
        print(f"attention epoch {epoch + 1}: loss {loss.item():.4f}")
    torch.save({"net": net.state_dict(), "epoch": epochs}, out("attention_resnet.pth"))
    px, pm = squares(4, torch.Generator().manual_seed(4))
    net.eval()
    with torch.no_grad():
        mask = net(px)
    iou = ((mask > 0.5) & (pm > 0.5)).sum().item() / ((mask > 0.5) | (pm > 0.5)).sum().item()
    print(f"attention probe IoU {iou:.3f}")
    torch.save({"x": px, "mask": mask, "target": pm}, out("attention_probe.pt"))


# --------------------------------------------------------------------------------------------
# Seed 004: whole modules saved with torch.save(m), and what PyTorch computes with them


class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.liner1 = nn.Linear(3, 2)
        self.liner2 = nn.Linear(2, 1)

    def forward(self, x):
        return self.liner2(self.liner1(x))


class M3(nn.Module):
    def __init__(self):
        super().__init__()
        self.liner1 = nn.Linear(3, 2)
        self.liner2 = nn.Linear(2, 2)
        self.liner3 = nn.Linear(2, 1)

    def forward(self, x):
        return self.liner3(self.liner2(self.liner1(x)).detach())


class OnlyLiner2(nn.Module):
    """Seed 004's "delete a layer": liner1 is gone."""

    def __init__(self):
        super().__init__()
        self.liner2 = nn.Linear(2, 1)

    def forward(self, x):
        return self.liner2(x)


def params(m):
    return {k: v.detach().reshape(-1).tolist() for k, v in m.state_dict().items()}


def one_step(m, x, y, lr, momentum=0.9):
    """One SGD step on MSE, as the article does; returns the loss before the step."""
    opt = optim.SGD(filter(lambda p: p.requires_grad, m.parameters()), lr=lr, momentum=momentum)
    loss = nn.MSELoss()(m(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


def make_seed004():
    torch.manual_seed(4)
    ref = {}
    # Build, compute once, save the whole module (the article's m.pth).
    m = M()
    one_step(m, torch.tensor([1.0, 2.0, 3.0]), torch.tensor([4.0]), lr=0.001)
    torch.save(m, out("m.pth"))
    ref["saved"] = params(m)

    # Delete a layer: only liner2 is left; strict=False loads it and drops liner1.
    t = torch.tensor([[2.0, 1.0]])
    m1 = OnlyLiner2()
    m1.load_state_dict(m.state_dict(), strict=False)
    with torch.no_grad():
        ref["delete_output"] = m1(t).item()
    # ... and it still trains: one SGD step towards y = 1.
    ref["delete_step_loss"] = one_step(m1, t, torch.tensor([[1.0]]), lr=0.001)
    ref["delete_step_after"] = params(m1)

    # Freeze liner1, train liner2 (lr 1e-4) on t = [[2, 1, 3]], y = [[1]].
    mf = torch.load(out("m.pth"))
    for name, p in mf.named_parameters():
        if name.split(".")[0] == "liner1":
            p.requires_grad = False
    ref["freeze_step_loss"] = one_step(mf, torch.tensor([[2.0, 1.0, 3.0]]), torch.tensor([[1.0]]), lr=1e-4)
    ref["freeze_step_after"] = params(mf)

    # Frozen after the optimizer was built: torch 1.13's zero_grad() leaves zero gradients (not
    # None), so SGD's momentum keeps moving the "frozen" liner1 on the next step.
    ml = torch.load(out("m.pth"))
    opt = optim.SGD(ml.parameters(), lr=0.1, momentum=0.9)
    t3, y1 = torch.tensor([[2.0, 1.0, 3.0]]), torch.tensor([[1.0]])
    opt.zero_grad()
    nn.MSELoss()(ml(t3), y1).backward()
    opt.step()
    for p in ml.liner1.parameters():
        p.requires_grad = False
    w = ml.liner1.weight.detach().clone()
    opt.zero_grad()
    nn.MSELoss()(ml(t3), y1).backward()
    opt.step()
    ref["late_freeze_liner1_change"] = (ml.liner1.weight.detach() - w).abs().max().item()

    # detach: liner3(liner2(liner1(x)).detach()), SGD lr 0.1, one step.
    torch.manual_seed(5)
    m3 = M3()
    one_step(m3, torch.tensor([1.0, 2.0, 3.0]), torch.tensor([4.0]), lr=0.001)
    torch.save(m3, out("m3.pth"))
    ref["detach_saved"] = params(m3)
    ref["detach_step_loss"] = one_step(m3, torch.tensor([[2.0, 1.0, 3.0]]), torch.tensor([[1.0]]), lr=0.1)
    ref["detach_step_after"] = params(m3)

    with open(out("seed004_reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    make_stripes()
    make_attention()
    make_seed004()
    for name in sorted(os.listdir(HERE)):
        if not name.endswith(".py"):
            print(f"{name}: {os.path.getsize(out(name))} bytes")
