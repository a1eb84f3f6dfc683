"""The paper's main comparison on the virtual retina (McIntosh et al. 2016, Fig. 2-3):
BN-CNN vs LN trained on natural scenes and on white noise, each evaluated on held-out data of
both stimuli (so the off-diagonal cells measure generalisation across stimulus classes).

    /usr/bin/python3 -m train.paper --natural NAT.npz --whitenoise WN.npz --out DIR [budget]

Writes DIR/{natural,whitenoise}_{bncnn,ln}.{onnx,pt,json}, DIR/paper.json and DIR/paper.md (the
table for the README). Metrics are per-cell means on the held-out last 10% of each recording:
Pearson r against the ground-truth rate, fraction of explainable variance (FEV) against it,
and r against the noisy spike counts.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

from . import data as data_mod, export, fit, metrics, models, native, recurrent


def load(prefix):
    """Rebuilds a model from the checkpoint train() wrote."""
    ck = torch.load(prefix + ".pt")
    h = dict(ck["hyps"])
    if ck["model_type"] == "BNCNN":
        m = models.BNCNN(**h)
    else:
        m = models.LN(**h)
    m.load_state_dict(ck["model_state_dict"])
    return m.eval()


def train_one(a, name, d, train_bins=None, prefix=None):
    """Trains each of a.kinds on dataset d and writes DIR/PREFIX_KIND.{onnx,pt} (PREFIX: name)."""
    for kind in a.kinds.split(","):
        print(f"== {kind} on {prefix or name}", flush=True)
        if kind == "bncnn":
            model, _ = fit.train(d, kind, seed=a.seed, epochs=a.epochs, batch=a.batch, lr=a.lr, l2=1e-3,
                                 patience=a.patience, val_frac=0.05, max_train=a.max_train,
                                 epoch_size=a.epoch_size, val_stride=a.val_stride, lr_decay=a.lr_decay,
                                 train_bins=train_bins)
        else:
            model, _ = fit.train(d, kind, seed=a.seed, epochs=a.ln_epochs, batch=64, lr=a.ln_lr, l2=a.ln_l2,
                                 patience=a.patience, val_frac=0.05, val_stride=a.val_stride, lr_decay=a.lr_decay,
                                 epoch_size=a.ln_epoch_size, train_bins=train_bins)
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


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m train.paper", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--natural", required=True)
    ap.add_argument("--whitenoise", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--stage", choices=["natural", "whitenoise", "efficiency", "recurrent", "table", "all"], default="all",
                    help="train on one stimulus only (two can run in parallel), or evaluate and tabulate")
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
    ap.add_argument("--live", default=None,
                    help="optional dataset of the stimulus the live rig shows (configs/sim.yaml: natural, seed 1), "
                         "never trained on: adds its r column to the table")
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
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    paths = {"natural": a.natural, "whitenoise": a.whitenoise}
    t0 = time.monotonic()
    if a.stage == "efficiency":
        efficiency(a)
        return 0
    if a.stage == "recurrent":
        train_recurrent(a)
        return 0
    if a.stage != "table":
        for name in (paths if a.stage == "all" else [a.stage]):
            train_one(a, name, data_mod.Dataset(paths[name], a.history))
        if a.stage != "all":
            return 0
    sets = {k: data_mod.Dataset(p, a.history) for k, p in paths.items()}
    splits = {k: d.split(0.05, 0.1) for k, d in sets.items()}
    k = a.eval_stride
    tests = {name: (d, splits[name][2][::k]) for name, d in sets.items()}
    if a.live:
        live = data_mod.Dataset(a.live, a.history)
        tests["live"] = (live, np.arange(live.n)[::k])  # all of it: no model saw this stimulus
    results = {}
    for train_on in sets:
        for kind in ("bncnn", "ln"):
            model = load(os.path.join(a.out, f"{train_on}_{kind}"))
            for test_on, (dt, te) in tests.items():
                pred = fit.predict(model, dt, te)
                truth = dt.truth()[te] / dt.frame_rate
                key = f"{kind} trained on {train_on}, tested on {test_on}"
                results[key] = {
                    "r_truth": float(np.nanmean(metrics.pearson(pred, truth))),
                    "fev_truth": float(np.nanmean(metrics.fev(pred, truth))),
                    "r_counts": float(np.nanmean(metrics.pearson(pred, dt.targets[te].numpy()))),
                    "r_truth_per_cell": metrics.pearson(pred, truth).tolist(),
                }
                print(f"   {key}: r {results[key]['r_truth']:.3f}  FEV {results[key]['fev_truth']:.3f}  "
                      f"r(counts) {results[key]['r_counts']:.3f}", flush=True)
    # The ceiling: how well the ground truth itself predicts the held-out spike counts.
    ceiling = {k: float(np.nanmean(metrics.pearson(d.truth()[te], d.targets[te].numpy())))
               for k, (d, te) in tests.items()}
    elapsed = time.monotonic() - t0
    with open(os.path.join(a.out, "paper.json"), "w") as f:
        json.dump({"results": results, "ceiling_r_counts": ceiling, "args": vars(a), "seconds": elapsed}, f, indent=1)
    head = "| model | trained on | r natural | FEV natural | r white noise | FEV white noise |"
    rule = "|---|---|---|---|---|---|"
    if a.live:
        head += " r live stimulus | r live spikes |"
        rule += "---|---|"
    lines = [head, rule]
    for kind, name in (("bncnn", "BN-CNN"), ("ln", "LN")):
        for train_on in sets:
            n = results[f"{kind} trained on {train_on}, tested on natural"]
            w = results[f"{kind} trained on {train_on}, tested on whitenoise"]
            row = (f"| {name} | {train_on.replace('whitenoise', 'white noise')} | {n['r_truth']:.3f} | "
                   f"{n['fev_truth']:.3f} | {w['r_truth']:.3f} | {w['fev_truth']:.3f} |")
            if a.live:
                v = results[f"{kind} trained on {train_on}, tested on live"]
                row += f" {v['r_truth']:.3f} | {v['r_counts']:.3f} |"
            lines.append(row)
    lines.append("")
    budget = (f"{a.epoch_size} fresh random bins per epoch" if a.epoch_size else f"{a.max_train or 'all'} bins") + \
        f" x at most {a.epochs} epochs"
    lines.append(f"r and FEV against the virtual retina's noise-free rate, mean over {sets['natural'].n_cells} cells, "
                 f"held-out last 10% of each recording"
                 + (f" (every {k}th bin)" if k > 1 else "") + ". Ground truth vs spike counts: r = "
                 f"{ceiling['natural']:.3f} (natural), {ceiling['whitenoise']:.3f} (white noise)"
                 + (f", {ceiling['live']:.3f} (live stimulus)" if a.live else "") + ". "
                 f"Evaluation {elapsed / 60:.1f} min; history {a.history}, BN-CNN on {budget}.")
    if a.live:
        lines.append(f"Live stimulus: {len(tests['live'][1])} bins spread over all of {os.path.basename(a.live)}, the stimulus "
                     f"configs/sim.yaml shows (natural, seed 1), which no model was trained on; "
                     f"\"r live spikes\" is r against its spike counts, what the daemon's live r measures.")
    table = "\n".join(lines)
    with open(os.path.join(a.out, "paper.md"), "w") as f:
        f.write(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
