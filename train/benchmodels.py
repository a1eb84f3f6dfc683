"""Writes the benchmark sweep's models (issue #24), run from the repository root:

    /usr/bin/python3 -m train.benchmodels bin/benchmodels

BN-CNNs of the paper's layout (conv 8@15x15 -> BN -> ReLU -> conv 8@11x11 -> BN -> ReLU ->
dense -> BN -> softplus) at the sizes labs use, with seeded random weights and batch-norm
statistics, exported by the trainer's native writer (train/native.py). The files are large
(the 100x100 model is 12 MB), so they are generated here rather than committed; the same seed
gives byte-identical files. `retinad bench --sweep DIR` times every file in DIR.
"""
import os
import sys

import torch

from . import models, native

# (history, height, width, cells): the rows of the table.
SIZES = [(40, 50, 50, 16), (20, 50, 50, 16), (40, 50, 50, 256), (40, 80, 80, 512), (40, 100, 100, 64)]


def name(hist, h, w, cells):
    return "bncnn_%dx%dx%d_%d.retinad" % (hist, h, w, cells)


def build(hist, h, w, cells, seed):
    torch.manual_seed(seed)
    m = models.BNCNN(n_units=cells, img_shape=(hist, h, w))
    with torch.no_grad():
        for i in (2, 8, 12):
            bn = m.sequential[i]
            n = bn.num_features
            bn.running_mean.copy_(torch.randn(n) * 0.3)
            bn.running_var.copy_(torch.rand(n) * 2 + 0.2)
            bn.weight.copy_(torch.rand(n) + 0.5)
            bn.bias.copy_(torch.randn(n) * 0.2)
    return m.eval()


# The recurrent BN-CNN (issue #20) at the paper's size: (history, height, width, cells, state
# channels, state kernel).
RECURRENT = [(40, 50, 50, 16, 8, 3), (20, 50, 50, 16, 8, 3)]


def build_recurrent(hist, h, w, cells, hidden, k, seed):
    """A RecurrentBNCNN with seeded random weights and batch-norm statistics (its timing does
    not depend on the values)."""
    torch.manual_seed(seed)
    m = models.RecurrentBNCNN(n_units=cells, img_shape=(hist, h, w), hidden=hidden, gru_ksize=k)
    with torch.no_grad():
        for bn in (m.sequential[2], m.sequential[8], m.readout[2]):
            n = bn.num_features
            bn.running_mean.copy_(torch.randn(n) * 0.3)
            bn.running_var.copy_(torch.rand(n) * 2 + 0.2)
            bn.weight.copy_(torch.rand(n) + 0.5)
            bn.bias.copy_(torch.randn(n) * 0.2)
    return m.eval()


def main(out):
    os.makedirs(out, exist_ok=True)
    for i, (hist, h, w, cells) in enumerate(SIZES):
        path = os.path.join(out, name(hist, h, w, cells))
        native.write(path, build(hist, h, w, cells, 24000 + i), (hist, h, w), 100.0, range(cells),
                     name="benchmark %d x %dx%d, %d cells" % (hist, h, w, cells))
        print(path)
    for i, (hist, h, w, cells, hidden, k) in enumerate(RECURRENT):
        path = os.path.join(out, "rbncnn_%dx%dx%d_%d_state%d.retinad" % (hist, h, w, cells, hidden))
        native.write(path, build_recurrent(hist, h, w, cells, hidden, k, 25000 + i), (hist, h, w), 100.0,
                     range(cells), name="benchmark recurrent %d x %dx%d, %d cells, state %d@%dx%d" % (hist, h, w, cells, hidden, k, k))
        print(path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "bin/benchmodels"))
