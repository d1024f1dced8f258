#!/usr/bin/python3
"""The DLG authors' recipe (Zhu, Liu & Han 2019, their notebook) in PyTorch, for scripts/bench.sh:
an eager sigmoid LeNet with the weights of an advtk dlg-lenet model, dummy data and label from
randn, torch.optim.LBFGS(lr=1) and 300 step() calls on the squared L2 gradient distance.

    dlg_reference.py MODEL.pt IMAGES-idx3-ubyte.gz LABELS-idx1-ubyte.gz N THREADS

Prints one line per image (seconds, PSNR after clamping to [0, 1]) and the median seconds.
"""
import gzip
import math
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class LeNet(nn.Module):
    def __init__(self, channels, side, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 12, 5, padding=2, stride=2)
        self.conv2 = nn.Conv2d(12, 12, 5, padding=2, stride=2)
        self.conv3 = nn.Conv2d(12, 12, 5, padding=2, stride=1)
        s = (side + 1) // 2
        s = (s + 1) // 2
        self.fc = nn.Linear(12 * s * s, classes)

    def forward(self, x):
        x = torch.sigmoid(self.conv1(x))
        x = torch.sigmoid(self.conv2(x))
        x = torch.sigmoid(self.conv3(x))
        return self.fc(x.flatten(1))


def idx(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def main():
    model_path, images_path, labels_path, n, threads = sys.argv[1:6]
    n, threads = int(n), int(threads)
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    scripted = torch.jit.load(model_path)
    p = dict(scripted.named_parameters())
    net = LeNet(p["conv1_w"].shape[1], 28, p["fc_w"].shape[0])
    with torch.no_grad():
        for name in ("conv1", "conv2", "conv3", "fc"):
            getattr(net, name).weight.copy_(p[name + "_w"])
            getattr(net, name).bias.copy_(p[name + "_b"])
    images = idx(images_path, 16).reshape(-1, 1, 28, 28)
    labels = idx(labels_path, 8)
    params = list(net.parameters())
    times = []
    for i in range(n):
        gt = torch.tensor(images[i : i + 1], dtype=torch.float32) / 255
        onehot = F.one_hot(torch.tensor([int(labels[i])]), 10).float()
        true_grad = torch.autograd.grad(
            torch.mean(torch.sum(-onehot * F.log_softmax(net(gt), -1), 1)), params)
        true_grad = [g.detach() for g in true_grad]
        start = time.perf_counter()
        dummy = torch.randn(gt.size()).requires_grad_(True)
        dummy_label = torch.randn(onehot.size()).requires_grad_(True)
        opt = torch.optim.LBFGS([dummy, dummy_label])
        for _ in range(300):
            def closure():
                opt.zero_grad()
                pred = net(dummy)
                loss = torch.mean(torch.sum(-F.softmax(dummy_label, -1) * F.log_softmax(pred, -1), 1))
                grads = torch.autograd.grad(loss, params, create_graph=True)
                diff = sum(((g - t) ** 2).sum() for g, t in zip(grads, true_grad))
                diff.backward()
                return diff
            opt.step(closure)
        seconds = time.perf_counter() - start
        mse = float(((dummy.detach().clamp(0, 1) - gt) ** 2).mean())
        psnr = 100.0 if mse == 0 else min(100.0, -10 * math.log10(mse))
        times.append(seconds)
        print(f"image {i}: {seconds:.2f} s, PSNR {psnr:.1f} dB")
    print(f"median {statistics.median(times):.2f} s per image (PyTorch {torch.__version__}, "
          f"{threads} thread(s))")


if __name__ == "__main__":
    main()
