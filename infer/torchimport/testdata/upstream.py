"""Writes, into the directory given, checkpoints the way torch-deep-retina's code writes them
(run from the repository root by torchimport's tests; nothing here is kept in the repository):

    /usr/bin/python3 infer/torchimport/testdata/upstream.py OUT

upstream.pt   BNCNN with model_hyps holding TDRModel's constructor defaults (linear_bias=None,
              tuples for img_shape and ksizes, inference_exp, recurrent), norm_stats as numpy
              scalars, optimiser state, and no frame_rate (upstream saves none)
nonorm.pt     the same without norm_stats
whole.pt      torch.save(model): the whole module pickled, with TDRModel's attributes
rnn.pt        a checkpoint whose model_type is the recurrent RNNCNN
x.npy, y.npy  normalised input windows [N, hist, H, W] and the model's eval output [N, cells]
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.getcwd())
from train import models  # noqa: E402

HIST, H, W = 6, 12, 12


def main(out):
    torch.manual_seed(11)
    m = models.BNCNN(n_units=3, img_shape=(HIST, H, W), chans=(3, 4), ksizes=(5, 3), linear_bias=None)
    # TDRModel.__init__'s keyword defaults, as its training code saves them under model_hyps.
    m.hyps = dict(n_units=3, noise=.05, bias=True, linear_bias=None, chans=[3, 4], bn_moment=.01,
                  softplus=True, inference_exp=False, img_shape=(HIST, H, W), ksizes=(5, 3),
                  recurrent=False)
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
    ck = {"model_type": "BNCNN", "model_state_dict": m.state_dict(), "model_hyps": m.hyps,
          "norm_stats": {"mean": np.float32(0.1), "std": np.float32(0.7)},
          "optim_state_dict": opt.state_dict(), "epoch": 3, "loss": 0.5}
    torch.save(ck, os.path.join(out, "upstream.pt"))
    del ck["norm_stats"]
    torch.save(ck, os.path.join(out, "nonorm.pt"))
    # TDRModel.__init__ keeps each constructor argument as an attribute (inference_exp as
    # infr_exp); a whole-module save pickles them in the module's __dict__.
    for k, v in m.hyps.items():
        setattr(m, "infr_exp" if k == "inference_exp" else k, v)
    del m.hyps
    torch.save(m, os.path.join(out, "whole.pt"))
    rnn = dict(ck, model_type="RNNCNN", model_hyps=dict(ck["model_hyps"], recurrent=True))
    torch.save(rnn, os.path.join(out, "rnn.pt"))
    x = torch.randn(9, HIST, H, W)
    with torch.no_grad():
        y = m(x)
    np.save(os.path.join(out, "x.npy"), x.numpy())
    np.save(os.path.join(out, "y.npy"), y.numpy())


if __name__ == "__main__":
    main(sys.argv[1])
