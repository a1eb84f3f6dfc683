"""The recurrent BN-CNN of the paper's contrast-adaptation experiment, on the compute of a shared
2-core machine: the bundled feed-forward BN-CNN's convolutional stem, frozen, with a conv-GRU
and a new readout trained on top of it (models.RecurrentBNCNN).

Training the whole recurrent model by truncated backpropagation through time costs a stem
forward and backward pass per bin of every run (seq_len times a BN-CNN sample). With the stem
frozen, its features are computed once per bin, and only the GRU and the readout (about 1% of
the stem's arithmetic) learn, over runs long enough (seconds) for contrast adaptation, whose
time constants in the virtual retina are 2 and 4 s. The feed-forward and the recurrent model
then differ only in the recurrent unit, which is what the contrast-step test compares.
"""
import sys
import time

import numpy as np
import torch

from . import fit, metrics, models


def from_stem(ff, hidden, gru_ksize=3):
    """A RecurrentBNCNN whose stem (conv -> BN -> noise -> ReLU -> conv -> BN -> noise -> ReLU)
    is a copy of BNCNN ff's, frozen."""
    h = ff.hyps
    m = models.RecurrentBNCNN(h["n_units"], h["img_shape"], h["chans"], h["ksizes"], hidden=hidden,
                              gru_ksize=gru_ksize, noise=h["noise"], bias=h["bias"],
                              linear_bias=h["linear_bias"], softplus=h["softplus"])
    for i in range(11):
        m.sequential[i].load_state_dict(ff.sequential[i].state_dict())
    for p in m.sequential.parameters():
        p.requires_grad_(False)
    return m


def features(model, data, idx, batch=256, log=sys.stdout):
    """The frozen stem's output [len(idx), chans, h, w] for windows idx (eval mode)."""
    model.sequential.eval()
    out = []
    t0 = time.monotonic()
    with torch.no_grad():
        for i in range(0, len(idx), batch):
            out.append(model.sequential(data.windows[idx[i:i + batch]]))
    print(f"stem features of {len(idx)} bins in {time.monotonic() - t0:.0f}s", file=log, flush=True)
    return torch.cat(out)


def run_top(model, f, h=None):
    """Runs the GRU and readout over features f [T, N, chans, h, w] (T steps of N sequences);
    returns (counts per bin [T, N, cells], last state)."""
    out = []
    for t in range(f.shape[0]):
        if h is None:
            h = model.initial_state(f.shape[1], f)
        h = model.gru(f[t], h)
        out.append(model.readout(h))
    return torch.stack(out), h


def train(model, data, chunks, chunk_len, val_idx, seed=0, epochs=30, batch=16, lr=3e-3, burn_in=100,
          patience=4, lr_decay=0.5, log=sys.stdout):
    """Trains model's GRU and readout on chunks (starts of runs of chunk_len consecutive
    training bins; each run from a zero state, its first burn_in bins left out of the loss)
    and stops early on the Poisson loss of val_idx (consecutive bins, one session)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    bins = (chunks[:, None] + np.arange(chunk_len)[None, :]).ravel()
    feats = features(model, data, bins, log=log)
    feats = feats.reshape(len(chunks), chunk_len, *feats.shape[1:]).transpose(0, 1)  # [T, chunks, ...]
    targets = data.targets[bins].reshape(len(chunks), chunk_len, -1).transpose(0, 1)
    vfeats, vy = features(model, data, val_idx, log=log)[:, None], data.targets[val_idx]
    fit.init_output_bias(model, data.targets[chunks])
    params = list(model.gru.parameters()) + list(model.readout.parameters())
    opt = torch.optim.Adam(params, lr=lr)
    stop = fit.EarlyStop(model, opt, patience, lr_decay, log)
    for epoch in range(1, epochs + 1):
        t0 = time.monotonic()
        model.gru.train()
        model.readout.train()
        order = rng.permutation(len(chunks))
        total = 0.0
        for i in range(0, len(order), batch):
            b = order[i:i + batch]
            if len(b) < 2:  # batch norm needs two samples
                continue
            y, _ = run_top(model, feats[:, b])
            loss = fit.poisson_loss(y[burn_in:], targets[burn_in:, b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(b)
        model.eval()
        with torch.no_grad():
            pv = run_top(model, vfeats)[0][:, 0]
        val_loss = fit.poisson_loss(pv, vy).item()
        r = np.nanmean(metrics.pearson(pv.numpy(), vy.numpy()))
        print(f"epoch {epoch:3d}  train loss {total / len(chunks):.4f}  val loss {val_loss:.4f}  val r {r:.3f}  "
              f"lr {opt.param_groups[0]['lr']:.2g}  {time.monotonic() - t0:.1f}s", file=log, flush=True)
        if stop.epoch(val_loss):
            break
    model.load_state_dict(stop.best)
    return model.eval()
