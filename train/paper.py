"""The paper's experiments on the virtual retina (McIntosh et al. 2016), one stage at a time:

    /usr/bin/python3 -m train.paper --natural NAT.npz --whitenoise WN.npz --out DIR --stage S [budget]

Stages: natural / whitenoise (BN-CNN and LN on one recording: DIR/{natural,whitenoise}_{bncnn,ln}.
{onnx,pt}), efficiency (the same on the first M minutes of the natural recording:
DIR/natural_{M}min_{bncnn,ln}.{onnx,pt}), recurrent (a conv-GRU on the bundled BN-CNN's frozen
stem: DIR/natural_rbncnn.{pt,rtm}), glm (`retinad fit glm`: DIR/{natural,whitenoise}_glm.rtm) and
report (train.report: every experiment's figure in --figures, DIR/paper.json and the table in
DIR/paper.md and --readme). Metrics are per-cell means on the held-out last 10% of each
recording: Pearson r against the ground-truth rate, fraction of explainable variance (FEV)
against it, and r against the noisy spike counts. The train stages can run two at a time, one
core each; models/README.md has the budget and the exact commands.
"""
import argparse
import os
import sys

import numpy as np
import torch

from . import data as data_mod, export, fit, native, recurrent, report


def train_one(a, name, d, train_bins=None, prefix=None):
    """Trains each of a.kinds on dataset d and writes DIR/PREFIX_KIND.{onnx,pt} (PREFIX: name)."""
    for kind in a.kinds.split(","):
        print(f"== {kind} on {prefix or name}", flush=True)
        if kind == "bncnn":
            model, _ = fit.train(d, kind, seed=a.seed, epochs=a.epochs, batch=a.batch, lr=a.lr, l2=1e-3,
                                 patience=a.patience, val_frac=0.05, max_train=a.max_train,
                                 epoch_size=a.epoch_size, val_stride=a.val_stride, lr_decay=a.lr_decay,
                                 train_bins=train_bins, test_stride=a.report_stride)
        else:
            model, _ = fit.train(d, kind, seed=a.seed, epochs=a.ln_epochs, batch=64, lr=a.ln_lr, l2=a.ln_l2,
                                 patience=a.patience, val_frac=0.05, val_stride=a.val_stride, lr_decay=a.lr_decay,
                                 epoch_size=a.ln_epoch_size, train_bins=train_bins, test_stride=a.report_stride)
        path = os.path.join(a.out, f"{prefix or name}_{kind}")
        export.write_onnx(model, d.img_shape, d.frame_rate, path + ".onnx", cell_ids=d.cell_ids,
                          name=f"{kind} trained on {prefix or name} (virtual retina)")
        export.write_checkpoint(model, path + ".pt", frame_rate=d.frame_rate)


def efficiency(a):
    """Data efficiency: each kind trained on the first M minutes of the natural-scene training
    block for each M in a.minutes, on the same sample budget (epochs x epoch size), so that
    only the amount of distinct data differs; writes DIR/natural_{M}min_KIND.{onnx,pt}."""
    d = data_mod.Dataset(a.natural, a.history)
    for m in a.minutes:
        train_one(a, "natural", d, train_bins=int(round(m * 60 * d.frame_rate)), prefix=f"natural_{m:g}min")


def train_recurrent(a):
    """The recurrent BN-CNN: the bundled feed-forward BN-CNN's stem (a.ff), frozen, with a
    conv-GRU of a.hidden state channels and a readout trained on a.chunks runs of
    a.chunk_len consecutive natural-scene training bins spread evenly over the training block;
    writes DIR/natural_rbncnn.{pt,rtm}."""
    d = data_mod.Dataset(a.natural, a.history)
    ff = native.load(a.ff)
    if tuple(ff.hyps["img_shape"]) != d.img_shape:
        raise ValueError(f"train: paper: {a.ff} takes {ff.hyps['img_shape']}, the data {d.img_shape}: want --history {ff.hyps['img_shape'][0]}")
    tr, va, _ = d.split(0.05, 0.1)
    chunks = np.linspace(tr[0], tr[-1] - a.chunk_len, a.chunks).astype(np.int64)
    model = recurrent.from_stem(ff, a.hidden)
    print(f"== rbncnn on natural: {a.chunks} runs of {a.chunk_len} bins, hidden {a.hidden}", flush=True)
    model = recurrent.train(model, d, chunks, a.chunk_len, va[:a.rnn_val], seed=a.seed, epochs=a.rnn_epochs,
                            batch=a.rnn_batch, lr=a.rnn_lr, burn_in=a.burn_in, patience=a.patience,
                            lr_decay=a.lr_decay)
    prefix = os.path.join(a.out, "natural_rbncnn")
    export.write_checkpoint(model, prefix + ".pt", frame_rate=d.frame_rate)
    native.write(prefix + ".rtm", model, d.img_shape, d.frame_rate, d.cell_ids,
                 name="recurrent BN-CNN (conv-GRU on the bundled BN-CNN's stem), virtual retina natural scenes")


def fit_glm(a, paths):
    """retinad's own GLM (`retinad fit glm`: stimulus, spike-history and coupling filters) on
    each recording, its last 10% held out as the other models' test block is; writes
    DIR/{natural,whitenoise}_glm.{rtm,json}."""
    for name, path in paths.items():
        prefix = os.path.join(a.out, f"{name}_glm")
        print(f"== glm on {name}", flush=True)
        report.retinad(a, "fit", "glm", "--data", path, "--out", prefix + ".rtm", "--history", str(a.history),
                       "--test-fraction", "0.1", "--workers", str(a.threads), "--quiet", "--report", prefix + ".json")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m train.paper", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--natural", required=True)
    ap.add_argument("--whitenoise", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--stage", choices=["natural", "whitenoise", "all", "efficiency", "recurrent", "glm", "report"], default="all",
                    help="train on one stimulus (two stages can run in parallel) or both (all), train the "
                         "data-efficiency or recurrent models, fit the GLMs, or score, draw and tabulate (report)")
    ap.add_argument("--history", type=int, default=20)
    ap.add_argument("--max-train", type=int, default=None, help="BN-CNN: one fixed random subset of this many training bins (default: all)")
    ap.add_argument("--epochs", type=int, default=3, help="BN-CNN epochs")
    ap.add_argument("--epoch-size", type=int, default=None,
                    help="BN-CNN: a fresh random subset of this many training bins each epoch (default: all, or --max-train)")
    ap.add_argument("--batch", type=int, default=32, help="BN-CNN batch size")
    ap.add_argument("--lr", type=float, default=3e-3, help="BN-CNN learning rate (Adam)")
    ap.add_argument("--lr-decay", type=float, default=1.0, help="learning-rate factor after an epoch without validation improvement")
    ap.add_argument("--patience", type=int, default=2, help="epochs without validation improvement before stopping")
    ap.add_argument("--val-stride", type=int, default=1, help="score every k-th bin of the validation block")
    ap.add_argument("--eval-stride", type=int, default=1,
                    help="table: score every k-th bin of each test block (the CNN's forward pass is the cost)")
    ap.add_argument("--ln-epochs", type=int, default=6)
    ap.add_argument("--ln-lr", type=float, default=2e-4)
    ap.add_argument("--ln-l2", type=float, default=1e-4)
    ap.add_argument("--ln-epoch-size", type=int, default=None,
                    help="LN: a fresh random subset of this many training bins each epoch (default: all)")
    ap.add_argument("--minutes", type=float, nargs="+", default=[1, 3, 9, 27],
                    help="efficiency: minutes of natural-scene recording to train on, one model per value")
    ap.add_argument("--kinds", default="bncnn,ln", help="models to train in the train stages")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ff", default="models/bncnn.rtm", help="recurrent: the feed-forward BN-CNN whose stem it keeps")
    ap.add_argument("--hidden", type=int, default=8, help="recurrent: conv-GRU state channels")
    ap.add_argument("--chunks", type=int, default=48, help="recurrent: training runs")
    ap.add_argument("--chunk-len", type=int, default=400, help="recurrent: bins per training run")
    ap.add_argument("--burn-in", type=int, default=100, help="recurrent: first bins of a run left out of the loss")
    ap.add_argument("--rnn-val", type=int, default=3000, help="recurrent: validation bins (one session)")
    ap.add_argument("--rnn-epochs", type=int, default=30)
    ap.add_argument("--rnn-batch", type=int, default=16)
    ap.add_argument("--rnn-lr", type=float, default=3e-3)
    ap.add_argument("--report-stride", type=int, default=16,
                    help="train stages: their own held-out report scores every k-th test bin (the report stage scores them fully)")
    ap.add_argument("--ln", default="models/ln.rtm", help="report: the natural-scene LN")
    ap.add_argument("--retinad", default="bin/retinad", help="the retinad binary (simulate, predict, fit glm)")
    ap.add_argument("--figures", default="models/figures", help="report: folder of the figures")
    ap.add_argument("--rnn", default=None, help="report: the recurrent model (default DIR/natural_rbncnn.pt)")
    ap.add_argument("--only", nargs="+", choices=report.EXPERIMENTS, default=None,
                    help="report: measure only these experiments, the others' results from DIR/paper.json")
    ap.add_argument("--readme", default=None, help="report: also put the table between the markers of this file")
    ap.add_argument("--contrast-cycles", type=int, default=5, help="report: 20 s low/high cycles of the contrast-step stimulus")
    ap.add_argument("--repeats", type=int, default=20, help="report: repeats of the variability stimulus")
    ap.add_argument("--repeat-seconds", type=int, default=20, help="report: length of the variability stimulus")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    paths = {"natural": a.natural, "whitenoise": a.whitenoise}
    if a.stage == "efficiency":
        efficiency(a)
        return 0
    if a.stage == "recurrent":
        train_recurrent(a)
        return 0
    if a.stage == "glm":
        fit_glm(a, paths)
        return 0
    if a.stage == "report":
        report.run(a)
        return 0
    for name in (paths if a.stage == "all" else [a.stage]):
        train_one(a, name, data_mod.Dataset(paths[name], a.history))
    return 0


if __name__ == "__main__":
    sys.exit(main())
