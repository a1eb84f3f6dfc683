"""Training loop: Poisson loss, Adam, L2 on the filters, early stopping on the validation block."""
import copy
import sys
import time

import numpy as np
import torch

from . import metrics, models


def predict(model, data, idx, batch=256):
    """Predicted counts per bin for windows idx. A recurrent model runs idx (consecutive bins)
    as one session, its state zero at the first, as retinad's engines run it."""
    model.eval()
    if isinstance(model, models.RecurrentBNCNN):
        with torch.no_grad():
            return model.run(data.windows[idx]).numpy()
    out = []
    with torch.no_grad():
        for i in range(0, len(idx), batch):
            out.append(model(data.windows[idx[i:i + batch]]))
    return torch.cat(out).numpy()


class EarlyStop:
    """Keeps the best weights by validation loss; after an epoch without improvement it
    multiplies the learning rate by lr_decay, and after patience of them in a row it says stop."""

    def __init__(self, model, opt, patience, lr_decay, log=sys.stdout):
        self.model, self.opt, self.patience, self.lr_decay, self.log = model, opt, patience, lr_decay, log
        self.best, self.best_loss, self.bad = copy.deepcopy(model.state_dict()), float("inf"), 0

    def epoch(self, val_loss):
        """Records an epoch's validation loss; True when training should stop."""
        if val_loss < self.best_loss - 1e-5:
            self.best, self.best_loss, self.bad = copy.deepcopy(self.model.state_dict()), val_loss, 0
            return False
        self.bad += 1
        for g in self.opt.param_groups:
            g["lr"] *= self.lr_decay
        if self.bad >= self.patience:
            print(f"early stop: no validation improvement for {self.patience} epochs", file=self.log, flush=True)
            return True
        return False


def poisson_loss(pred, y):
    return (pred - y * torch.log(pred + 1e-8)).mean()


def train(data, kind, seed=0, epochs=20, batch=64, lr=1e-3, l2=1e-3, patience=3,
          val_frac=0.1, test_frac=0.1, max_train=None, epoch_size=None, val_stride=1,
          lr_decay=1.0, log=sys.stdout, seq_len=40, burn_in=10, train_bins=None, test_stride=1, **model_kw):
    """Trains a model of kind ("bncnn" or "ln") on data; returns (model, report dict).

    max_train fixes one random subset of the training block for every epoch; epoch_size instead
    draws a fresh random subset of that many bins each epoch, so that a long recording is seen
    widely on a small compute budget (neighbouring bins of a held image are nearly the same
    sample). val_stride scores every k-th bin of the validation block (cheaper, and its
    neighbours add little). After an epoch that does not improve the validation loss, the
    learning rate is multiplied by lr_decay (1: constant).

    A recurrent model (kind "rbncnn") trains by truncated backpropagation through time: each
    bin drawn starts a run of seq_len consecutive bins from a zero state, the first burn_in of
    them left out of the loss (the state has not settled yet); batch of them run side by side.
    Validation and test blocks run as one session each. The returned report scores every
    test_stride-th bin of the test block (a CNN's forward pass over all of it can cost a good
    part of a small training budget)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = models.build(kind, data.n_cells, data.img_shape, **model_kw)
    recurrent = isinstance(model, models.RecurrentBNCNN)
    tr, va, te = data.split(val_frac, test_frac)
    if train_bins is not None:
        tr = tr[:train_bins]
    if max_train is not None and len(tr) > max_train:
        tr = np.sort(rng.choice(tr, max_train, replace=False))
    init_output_bias(model, data.targets[tr])
    if recurrent:
        val_stride = 1  # a session is consecutive bins
    va = va[::val_stride]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    stop = EarlyStop(model, opt, patience, lr_decay, log)
    yv = data.targets[va]
    n_epoch = len(tr) if epoch_size is None else min(epoch_size, len(tr))
    for epoch in range(1, epochs + 1):
        t0 = time.monotonic()
        model.train()
        order = rng.permutation(tr)[:n_epoch]
        total, count = 0.0, 0
        for i in range(0, len(order), batch):
            b = order[i:i + batch]
            if len(b) < 2:  # batch norm needs two samples
                continue
            if recurrent:
                loss, b = sequence_loss(model, data, b, tr, seq_len, burn_in)
            else:
                loss = poisson_loss(model(data.windows[b]), data.targets[b])
            reg = sum((p * p).sum() for p in model.l2_params())
            opt.zero_grad()
            (loss + l2 * reg).backward()
            opt.step()
            total += loss.item() * len(b)
            count += len(b)
        pv = predict(model, data, va)
        val_loss = poisson_loss(torch.from_numpy(pv), yv).item()
        r = np.nanmean(metrics.pearson(pv, yv.numpy()))
        print(f"epoch {epoch:3d}  train loss {total / max(count, 1):.4f}  val loss {val_loss:.4f}  "
              f"val r {r:.3f}  lr {opt.param_groups[0]['lr']:.2g}  {time.monotonic() - t0:.1f}s", file=log, flush=True)
        if stop.epoch(val_loss):
            break
    model.load_state_dict(stop.best)
    model.eval()
    if recurrent:
        test_stride = 1  # a session is consecutive bins
    return model, evaluate(model, data, te[::test_stride])


def sequence_loss(model, data, starts, tr, seq_len, burn_in):
    """Poisson loss of runs of seq_len bins from each start (clipped to the training block's
    end, zero state first), over their bins after burn_in; returns (loss, the bins scored)."""
    starts = np.minimum(starts, tr[-1] - seq_len + 1)
    h, losses, scored = None, [], []
    for t in range(seq_len):
        b = starts + t
        y, h = model(data.windows[b], h)
        if t >= burn_in:
            losses.append(poisson_loss(y, data.targets[b]))
            scored.append(b)
    return torch.stack(losses).mean(), np.concatenate(scored)


def init_output_bias(model, targets):
    """Starts the output at each cell's mean count per bin (softplus^-1 of it), so that training
    spends its epochs on the stimulus dependence, not on finding the firing rate."""
    mean = targets.mean(0).clamp(min=1e-3)
    inv = torch.log(torch.expm1(mean))
    with torch.no_grad():
        if isinstance(model, models.BNCNN) and isinstance(model.sequential[13], torch.nn.Softplus):
            model.sequential[12].bias.copy_(inv)
        elif isinstance(model, models.RecurrentBNCNN) and isinstance(model.readout[3], torch.nn.Softplus):
            model.readout[2].bias.copy_(inv)
        elif isinstance(model, models.LN):
            model.linear.bias.copy_(inv)


def evaluate(model, data, idx):
    """Held-out report: per-cell r against counts, and against ground truth (r, FEV) when present."""
    pred = predict(model, data, idx)
    rep = {"cells": [int(c) for c in data.cell_ids], "n_test": int(len(idx)),
           "r_counts": metrics.pearson(pred, data.targets[idx].numpy()).tolist()}
    truth = data.truth()
    if truth is not None:
        t = truth[idx] / data.frame_rate  # spikes/s -> expected count per bin, like pred
        rep["r_truth"] = metrics.pearson(pred, t).tolist()
        rep["fev_truth"] = metrics.fev(pred, t).tolist()
    return rep


def print_report(rep, log=sys.stdout):
    keys = [k for k in ("r_counts", "r_truth", "fev_truth") if k in rep]
    print(f"held-out report ({rep['n_test']} bins):", file=log)
    print("  cell " + "".join(f"{k:>11s}" for k in keys), file=log)
    for i, c in enumerate(rep["cells"]):
        print(f"  {c:4d} " + "".join(f"{rep[k][i]:11.3f}" for k in keys), file=log)
    print("  mean " + "".join(f"{np.nanmean(rep[k]):11.3f}" for k in keys), file=log, flush=True)
