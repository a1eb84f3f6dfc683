"""Writes infer's PyTorch golden fixtures (run from the repository root, ~10 s):

    /usr/bin/python3 infer/testdata/golden.py

For each model NAME: NAME.retinad (the native model file, written by write_model below, an
independent writer of the format in infer/doc.go), and for each stimulus S:
NAME.S.stim.npy (float32 [T,H,W], as shown on screen) and NAME.S.rates.npy (PyTorch's rates
in spikes/s, float32 [T,C], NaN before a full history). Models are torch-deep-retina's BNCNN
(conv -> BatchNorm1d on the flattened units -> ReLU -> conv -> BN1d -> ReLU -> linear without
bias -> BN1d -> softplus) and variants, and LN, with random weights and non-trivial running
statistics; stimuli are a real photograph (skimage's camera and astronaut, with fixational
jitter) and binary white noise. PyTorch runs in float64 in eval mode.

bncnn_gru is the recurrent BN-CNN of the trainer (train.models.RecurrentBNCNN: the BN-CNN's
convolutions, then a ConvGRUCell, dense, BN1d, softplus), random weights, run as one session
over 2,400 steps of Gaussian white noise whose contrast steps between 0.1 and 0.6 every 300
steps (so the state's drift or a missed reset would show), its state zero at the first full
window; its file is format version 2.
"""
import json
import os
import struct
import sys
import zlib

import numpy as np
import torch
from torch import nn

OUT = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(OUT, "..", ".."))  # the repository root, for train.models
from train import models as train_models  # noqa: E402
FRAME_RATE = 100.0
MEAN, STD = 0.2, 0.5


class Reshape(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape(self.shape)


class Param(nn.Module):
    """gain * f(slope * x + offset), f one of softplus, exp, sigmoid."""

    def __init__(self, f, n, gen):
        super().__init__()
        self.f = f
        self.gain = torch.rand(n, generator=gen, dtype=torch.float64) * 1.5 + 0.5
        self.slope = torch.rand(n, generator=gen, dtype=torch.float64) + 0.5
        self.offset = torch.randn(n, generator=gen, dtype=torch.float64) * 0.2

    def forward(self, x):
        z = self.slope * x + self.offset
        f = {"softplus": nn.functional.softplus, "exp": torch.exp, "sigmoid": torch.sigmoid}[self.f]
        return self.gain * f(z)


def randomise_bn(bn, gen):
    n = bn.num_features
    bn.running_mean = torch.randn(n, generator=gen, dtype=torch.float64) * 0.3
    bn.running_var = torch.rand(n, generator=gen, dtype=torch.float64) * 1.8 + 0.2
    with torch.no_grad():
        bn.weight.copy_(torch.rand(n, generator=gen, dtype=torch.float64) + 0.5)
        bn.bias.copy_(torch.randn(n, generator=gen, dtype=torch.float64) * 0.3)


def bncnn(gen, hist, h, w, chans, ks, cells, per_channel=False, linear_bias=False, out="softplus"):
    h1, w1 = h - ks[0] + 1, w - ks[0] + 1
    h2, w2 = h1 - ks[1] + 1, w1 - ks[1] + 1
    if per_channel:
        bn1, bn2 = nn.BatchNorm2d(chans[0], eps=1e-3), nn.BatchNorm2d(chans[1], eps=1e-3)
        mid1, mid2 = [bn1], [bn2]
    else:
        bn1, bn2 = nn.BatchNorm1d(chans[0] * h1 * w1, eps=1e-3), nn.BatchNorm1d(chans[1] * h2 * w2, eps=1e-3)
        mid1 = [nn.Flatten(), bn1, Reshape((-1, chans[0], h1, w1))]
        mid2 = [nn.Flatten(), bn2]
    bn3 = nn.BatchNorm1d(cells, eps=1e-3)
    final = nn.Softplus() if out == "softplus-plain" else Param(out, cells, gen)
    seq = nn.Sequential(
        nn.Conv2d(hist, chans[0], ks[0]), *mid1, nn.ReLU(),
        nn.Conv2d(chans[0], chans[1], ks[1]), *mid2, nn.ReLU(), nn.Flatten(),
        nn.Linear(chans[1] * h2 * w2, cells, bias=linear_bias), bn3, final).double()
    for bn in (bn1, bn2, bn3):
        randomise_bn(bn, gen)
    with torch.no_grad():
        for mod in seq:
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                fan_in = mod.weight[0].numel()
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=gen, dtype=torch.float64) / fan_in ** 0.5)
                if mod.bias is not None:
                    mod.bias.copy_(torch.randn(mod.bias.shape, generator=gen, dtype=torch.float64) * 0.1)
    return seq.eval()


def ln(gen, hist, h, w, cells):
    seq = nn.Sequential(nn.Flatten(), nn.Linear(hist * h * w, cells), Param("softplus", cells, gen)).double()
    with torch.no_grad():
        seq[1].weight.copy_(torch.randn(seq[1].weight.shape, generator=gen, dtype=torch.float64) * 2 / (hist * h * w) ** 0.5)
    return seq.eval()


# --- the native model file writer (infer/doc.go) ---

def f32(t):
    return np.ascontiguousarray(t.detach().cpu().numpy() if torch.is_tensor(t) else t, dtype="<f4")


def to_layers(seq, shape):
    """Translates the Sequential into native layers; returns (layers, tensors {name: array})."""
    layers, tensors = [], {}

    def add(name, t):
        tensors[name] = f32(t)
        return name

    for i, mod in enumerate(seq):
        p = "seq.%d." % i
        if isinstance(mod, nn.Conv2d):
            l = {"type": "conv2d", "weight": add(p + "weight", mod.weight)}
            if mod.bias is not None:
                l["bias"] = add(p + "bias", mod.bias)
        elif isinstance(mod, nn.Linear):
            l = {"type": "dense", "weight": add(p + "weight", mod.weight)}
            if mod.bias is not None:
                l["bias"] = add(p + "bias", mod.bias)
        elif isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            l = {"type": "batchnorm", "per": "channel" if isinstance(mod, nn.BatchNorm2d) else "unit",
                 "eps": mod.eps, "running_mean": add(p + "running_mean", mod.running_mean),
                 "running_var": add(p + "running_var", mod.running_var),
                 "weight": add(p + "weight", mod.weight), "bias": add(p + "bias", mod.bias)}
        elif isinstance(mod, train_models.ConvGRUCell):
            l = {"type": "convgru", "weight": add(p + "ih.weight", mod.ih.weight), "bias": add(p + "ih.bias", mod.ih.bias),
                 "weight_hh": add(p + "hh.weight", mod.hh.weight), "bias_hh": add(p + "hh.bias", mod.hh.bias)}
        elif isinstance(mod, train_models.GaussianNoise):
            l = {"type": "noise", "std": float(mod.std)}  # training and stochastic mode only
        elif isinstance(mod, nn.ReLU):
            l = {"type": "relu"}
        elif isinstance(mod, nn.Softplus):
            l = {"type": "softplus"}
        elif isinstance(mod, Param):
            l = {"type": mod.f, "gain": add(p + "gain", mod.gain), "slope": add(p + "slope", mod.slope),
                 "offset": add(p + "offset", mod.offset)}
        elif isinstance(mod, (nn.Flatten, Reshape, train_models.Reshape)):
            continue  # the native format flattens in C order wherever a dense layer needs it
        else:
            raise ValueError("golden: no native layer for %r" % mod)
        layers.append(l)
    return layers, tensors


def write_model(path, kind, seq, hist, h, w, cells, name):
    layers, tensors = to_layers(seq, (hist, h, w))
    table, data, off = [], bytearray(), 0
    for tname, arr in tensors.items():
        b = arr.tobytes()
        table.append({"name": tname, "shape": list(arr.shape), "offset": off})
        pad = (-len(b)) % 64
        data += b + b"\0" * pad
        off += len(b) + pad
    header = {"kind": kind, "name": name,
              "input": {"history": hist, "height": h, "width": w, "frame_rate_hz": FRAME_RATE, "mean": MEAN, "std": STD},
              "output_scale": FRAME_RATE, "cells": [int(c) for c in cells], "layers": layers,
              "tensors": table, "data_bytes": len(data)}
    js = json.dumps(header).encode()
    n = len(js) + (-(16 + len(js))) % 64
    version = 2 if any(l["type"] == "convgru" for l in layers) else 1  # recurrent layers came with 2
    body = b"RETINADM" + struct.pack("<II", version, n) + js + b" " * (n - len(js)) + bytes(data)
    with open(path, "wb") as f:
        f.write(body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF))


# --- stimuli ---

def natural(rng, T, h, w, which="camera"):
    from skimage import data, transform
    img = getattr(data, which)()
    if img.ndim == 3:
        img = img.mean(axis=2)
    img = transform.resize(img.astype(np.float64) / 255.0, (2 * h, 2 * w), anti_aliasing=True)
    out = np.empty((T, h, w))
    y, x = h // 2, w // 2
    for t in range(T):  # fixational jitter over the photograph
        y = int(np.clip(y + rng.integers(-2, 3), 0, h))
        x = int(np.clip(x + rng.integers(-2, 3), 0, w))
        out[t] = img[y:y + h, x:x + w]
    return (out - out.mean()) / out.std() * 0.35 + MEAN


def white(rng, T, h, w):
    return rng.choice([MEAN - 0.5, MEAN + 0.5], size=(T, h, w))


def rates(seq, stim, hist):
    T = stim.shape[0]
    x = torch.from_numpy((stim.astype(np.float32).astype(np.float64) - MEAN) / STD)
    win = x.unfold(0, hist, 1).permute(0, 3, 1, 2)  # [T-hist+1, hist, h, w], oldest first
    with torch.no_grad():
        if isinstance(seq, train_models.RecurrentBNCNN):
            y = seq.run(win).numpy() * FRAME_RATE  # one session: the windows in order, state carried
        else:
            y = seq(win).numpy() * FRAME_RATE
    out = np.full((T, y.shape[1]), np.nan, dtype=np.float32)
    out[hist - 1:] = y
    return out


def recurrent_bncnn(gen, hist, h, w, chans, ks, hidden, gru_k, cells):
    m = train_models.RecurrentBNCNN(cells, (hist, h, w), chans, ks, hidden=hidden, gru_ksize=gru_k).double()
    bns = [mod for mod in list(m.sequential) + list(m.readout) if isinstance(mod, nn.BatchNorm1d)]
    for bn in bns:
        randomise_bn(bn, gen)
    with torch.no_grad():
        for mod in list(m.sequential) + [m.gru.ih, m.gru.hh] + list(m.readout):
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                fan_in = mod.weight[0].numel()
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=gen, dtype=torch.float64) * 1.5 / fan_in ** 0.5)
                if mod.bias is not None:
                    mod.bias.copy_(torch.randn(mod.bias.shape, generator=gen, dtype=torch.float64) * 0.2)
    return m.eval()


def contrast_steps(rng, T, h, w, period=300):
    contrast = np.where((np.arange(T) // period) % 2 == 0, 0.1, 0.6)
    return MEAN + contrast[:, None, None] * rng.standard_normal((T, h, w))


def fixture(name, kind, seq, hist, h, w, cells, stimuli):
    if isinstance(seq, train_models.RecurrentBNCNN):
        write_model(os.path.join(OUT, name + ".retinad"), kind, list(seq.sequential) + [seq.gru] + list(seq.readout),
                    hist, h, w, cells, name)
    else:
        write_model(os.path.join(OUT, name + ".retinad"), kind, seq, hist, h, w, cells, name)
    for sname, stim in stimuli.items():
        stim = stim.astype(np.float32)
        np.save(os.path.join(OUT, "%s.%s.stim.npy" % (name, sname)), stim)
        np.save(os.path.join(OUT, "%s.%s.rates.npy" % (name, sname)), rates(seq, stim, hist))


def main():
    gen = torch.Generator().manual_seed(20161205)
    rng = np.random.default_rng(20161205)
    hist, h, w, cells, T = 6, 20, 20, 4, 26
    small = lambda: {"natural": natural(rng, T, h, w), "whitenoise": white(rng, T, h, w)}
    fixture("bncnn_small", "cnn", bncnn(gen, hist, h, w, (4, 3), (7, 5), cells, out="softplus-plain"),
            hist, h, w, range(cells), small())
    fixture("bncnn_perchannel_exp", "cnn", bncnn(gen, hist, h, w, (4, 3), (7, 5), cells, per_channel=True,
                                                 linear_bias=True, out="exp"), hist, h, w, range(10, 10 + cells), small())
    fixture("bncnn_sigmoid", "cnn", bncnn(gen, hist, 18, 15, (3, 2), (6, 4), cells, linear_bias=True, out="sigmoid"),
            hist, 18, 15, range(cells), {"natural": natural(rng, T, 18, 15, "astronaut"), "whitenoise": white(rng, T, 18, 15)})
    fixture("bncnn_softplus_param", "cnn", bncnn(gen, hist, h, w, (4, 3), (7, 5), cells, out="softplus"),
            hist, h, w, range(cells), small())
    fixture("ln", "ln", ln(gen, hist, h, w, cells), hist, h, w, range(cells), small())
    # The paper's size: 40 x 50 x 50, 8@15x15, 8@11x11, 16 cells, on a photograph.
    fixture("bncnn_paper", "cnn", bncnn(gen, 40, 50, 50, (8, 8), (15, 11), 16, out="softplus-plain"),
            40, 50, 50, range(16), {"natural": natural(rng, 44, 50, 50, "astronaut")})
    # Issue #24's sizes: a 100x100 grid (transforms padded: 86 -> 90), with a short history and
    # 4 cells to keep the file small, and 512 cells (the blocked dense layer, 32 blocks of 16).
    fixture("bncnn_grid100", "cnn", bncnn(gen, 6, 100, 100, (8, 4), (15, 11), 4, out="softplus-plain"),
            6, 100, 100, range(4), {"natural": natural(rng, 10, 100, 100, "astronaut")})
    fixture("bncnn_cells512", "cnn", bncnn(gen, hist, h, w, (4, 3), (7, 5), 512, linear_bias=True, out="softplus-plain"),
            hist, h, w, range(512), {"natural": natural(rng, 10, h, w)})
    # Issue #20: the recurrent BN-CNN over a long session.
    fixture("bncnn_gru", "cnn", recurrent_bncnn(gen, 4, 10, 10, (3, 3), (5, 3), 3, 3, 4),
            4, 10, 10, range(4), {"contrast": contrast_steps(rng, 2400, 10, 10)})


if __name__ == "__main__":
    sys.exit(main())
