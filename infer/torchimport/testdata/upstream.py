"""Writes, into the directory given, checkpoints the way torch-deep-retina's code writes them
(run by torchimport's tests; nothing it writes is kept in the repository):

    /usr/bin/python3 infer/torchimport/testdata/upstream.py OUT

upstream.pt   BNCNN with model_hyps holding TDRModel's constructor defaults (linear_bias=None,
              tuples for img_shape and ksizes, inference_exp, recurrent), norm_stats as numpy
              scalars, optimiser state, and no frame_rate (upstream saves none)
nonorm.pt     the same without norm_stats
whole.pt      torch.save(model): the whole module pickled, with TDRModel's attributes
bncnn.onnx    torch.onnx.export of the module with a dynamic batch axis
bncnn_static.onnx  the same with the batch fixed at 2
rnn.pt        a checkpoint whose model_type is the recurrent RNNCNN
x.npy, y.npy  normalised input windows [N, hist, H, W] and the model's eval output [N, cells]
movie.npy, movie_rates.npy  a movie [T, H, W] and the output on its sliding windows [T, cells]
              (NaN before a full history), for `retinad predict`; movie_rates_norm.npy
              the same with upstream.pt's norm_stats applied to the movie
"""
import os
import sys

import numpy as np
import torch
from torch import nn

HIST, H, W = 6, 12, 12


# The few torch-deep-retina modules a BNCNN is made of, written here with the same behaviour
# and the same state (torchdeepretina/torch_utils.py): GaussianNoise keeps its std as a
# parameter "sigma", so an upstream state dict has sequential.3.sigma and sequential.9.sigma;
# Flatten is x.view(x.shape[0], -1), which torch.onnx.export writes as a Shape subgraph.
class GaussianNoise(nn.Module):
    def __init__(self, std=0.1):
        super().__init__()
        self.std = std
        self.sigma = nn.Parameter(torch.ones(1) * std, requires_grad=False)

    def forward(self, x):
        if not self.training or self.std == 0:
            return x
        return x + self.sigma * torch.randn(x.size())


class Flatten(nn.Module):
    def forward(self, x):
        return x.view(x.shape[0], -1)


class Reshape(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.view(self.shape)


class BNCNN(nn.Module):
    """torch-deep-retina's TDRModel/BNCNN: constructor defaults kept as attributes, the same
    sequential.N layout (conv, flatten, bn, noise, relu, reshape, conv, flatten, bn, noise,
    relu, linear, bn, softplus)."""

    def __init__(self, n_units=5, noise=.05, bias=True, linear_bias=None, chans=[8, 8], bn_moment=.01,
                 softplus=True, inference_exp=False, img_shape=(40, 50, 50), ksizes=(15, 11), recurrent=False):
        super().__init__()
        self.n_units, self.noise, self.bias, self.linear_bias = n_units, noise, bias, linear_bias
        self.chans, self.bn_moment, self.softplus, self.infr_exp = chans, bn_moment, softplus, inference_exp
        self.img_shape, self.ksizes, self.recurrent = img_shape, ksizes, recurrent
        h1 = [s - ksizes[0] + 1 for s in img_shape[1:]]
        h2 = [s - ksizes[1] + 1 for s in h1]
        self.sequential = nn.Sequential(
            nn.Conv2d(img_shape[0], chans[0], kernel_size=ksizes[0], bias=bias),
            Flatten(),
            nn.BatchNorm1d(chans[0] * h1[0] * h1[1], eps=1e-3, momentum=bn_moment),
            GaussianNoise(std=noise),
            nn.ReLU(),
            Reshape((-1, chans[0], *h1)),
            nn.Conv2d(chans[0], chans[1], kernel_size=ksizes[1], bias=bias),
            Flatten(),
            nn.BatchNorm1d(chans[1] * h2[0] * h2[1], eps=1e-3, momentum=bn_moment),
            GaussianNoise(std=noise),
            nn.ReLU(),
            nn.Linear(chans[1] * h2[0] * h2[1], n_units, bias=linear_bias),
            nn.BatchNorm1d(n_units, eps=1e-3, momentum=bn_moment),
            nn.Softplus())

    def forward(self, x):
        if not self.training and self.infr_exp:
            return torch.exp(self.sequential(x))
        return self.sequential(x)


def main(out):
    torch.manual_seed(11)
    # Only the sizes differ from the constructor's defaults; model_hyps holds every keyword,
    # the defaults (linear_bias=None, inference_exp, recurrent) included.
    hyps = dict(n_units=3, noise=.05, bias=True, linear_bias=None, chans=[3, 4], bn_moment=.01,
                softplus=True, inference_exp=False, img_shape=(HIST, H, W), ksizes=(5, 3),
                recurrent=False)
    m = BNCNN(**hyps)
    with torch.no_grad():
        for i in (2, 8, 12):
            bn = m.sequential[i]
            n = bn.num_features
            bn.running_mean.copy_(torch.randn(n) * 0.3)
            bn.running_var.copy_(torch.rand(n) * 2 + 0.2)
            bn.weight.copy_(torch.rand(n) + 0.5)
            bn.bias.copy_(torch.randn(n) * 0.2)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    m.train()
    m(torch.randn(4, HIST, H, W)).sum().backward()
    opt.step()
    m.eval()
    assert m.sequential[11].bias is None, "linear_bias=None must make no bias"
    ck = {"model_type": "BNCNN", "model_state_dict": m.state_dict(), "model_hyps": hyps,
          "norm_stats": {"mean": np.float32(0.1), "std": np.float32(0.7)},
          "optim_state_dict": opt.state_dict(), "epoch": 3, "loss": 0.5}
    torch.save(ck, os.path.join(out, "upstream.pt"))
    del ck["norm_stats"]
    torch.save(ck, os.path.join(out, "nonorm.pt"))
    torch.save(m, os.path.join(out, "whole.pt"))
    rnn = dict(ck, model_type="RNNCNN", model_hyps=dict(ck["model_hyps"], recurrent=True))
    torch.save(rnn, os.path.join(out, "rnn.pt"))
    x = torch.randn(9, HIST, H, W)
    with torch.no_grad():
        y = m(x)
    torch.onnx.export(m, x[:2], os.path.join(out, "bncnn.onnx"), input_names=["stimulus"],
                      output_names=["rates"], dynamic_axes={"stimulus": {0: "N"}, "rates": {0: "N"}},
                      opset_version=13)
    torch.onnx.export(m, x[:2], os.path.join(out, "bncnn_static.onnx"), input_names=["stimulus"],
                      output_names=["rates"], opset_version=13)
    movie = torch.randn(40, H, W) * 0.5
    win = movie.unfold(0, HIST, 1).permute(0, 3, 1, 2).contiguous()  # [T-HIST+1, HIST, H, W]
    with torch.no_grad():
        r = m(win).numpy()
    rates = np.full((movie.shape[0], r.shape[1]), np.nan, np.float32)
    rates[HIST - 1:] = r
    np.save(os.path.join(out, "movie.npy"), movie.numpy())
    np.save(os.path.join(out, "movie_rates.npy"), rates)
    with torch.no_grad():  # with upstream.pt's norm_stats applied, as its import does
        rates[HIST - 1:] = m((win - np.float32(0.1)) / np.float32(0.7)).numpy()
    np.save(os.path.join(out, "movie_rates_norm.npy"), rates)
    np.save(os.path.join(out, "x.npy"), x.numpy())
    np.save(os.path.join(out, "y.npy"), y.numpy())


if __name__ == "__main__":
    main(sys.argv[1])
