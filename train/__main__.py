"""Command line: /usr/bin/python3 -m train DATA.npz --model bncnn --out PREFIX [options]."""
import argparse
import json
import sys

import numpy as np
import torch

from . import data as data_mod, export, fit, native


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m train", description=__doc__)
    ap.add_argument("dataset", help="dataset .npz (stimulus [T,H,W], counts [T,C], frame_rate)")
    ap.add_argument("--model", choices=["bncnn", "rbncnn", "ln"], default="bncnn",
                    help="rbncnn: the BN-CNN with a conv-GRU after its convolutions (recurrent)")
    ap.add_argument("--out", required=True, help="output prefix: writes PREFIX.rtm (native), PREFIX.onnx (for rbncnn one step: window and state in, rates and next state out), PREFIX.pt (torch-deep-retina checkpoint), PREFIX.json (report)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--history", type=int, default=40)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--l2", type=float, default=1e-3, help="L2 penalty on the conv (or LN) filters")
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--max-train", type=int, default=None, help="subsample the training block to this many bins")
    ap.add_argument("--chans", type=int, nargs=2, default=[8, 8])
    ap.add_argument("--ksizes", type=int, nargs=2, default=[15, 11])
    ap.add_argument("--noise", type=float, default=0.05)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--hidden", type=int, default=4, help="rbncnn: state channels of the conv-GRU")
    ap.add_argument("--gru-ksize", type=int, default=3, help="rbncnn: the conv-GRU's kernel (odd)")
    ap.add_argument("--seq-len", type=int, default=40, help="rbncnn: bins per truncated-BPTT run")
    ap.add_argument("--burn-in", type=int, default=10, help="rbncnn: first bins of a run left out of the loss")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    d = data_mod.Dataset(a.dataset, a.history)
    kw = dict(chans=a.chans, ksizes=a.ksizes, noise=a.noise) if a.model in ("bncnn", "rbncnn") else {}
    if a.model == "rbncnn":
        kw.update(hidden=a.hidden, gru_ksize=a.gru_ksize, seq_len=a.seq_len, burn_in=a.burn_in)
    model, rep = fit.train(d, a.model, seed=a.seed, epochs=a.epochs, batch=a.batch, lr=a.lr, l2=a.l2,
                           patience=a.patience, max_train=a.max_train, **kw)
    fit.print_report(rep)
    export.write_onnx(model, d.img_shape, d.frame_rate, a.out + ".onnx", cell_ids=d.cell_ids)
    export.write_checkpoint(model, a.out + ".pt", frame_rate=d.frame_rate)
    native.write(a.out + ".rtm", model, d.img_shape, d.frame_rate, d.cell_ids, name=f"{a.model} trained on {a.dataset}")
    rep.update(model=a.model, dataset=a.dataset, seed=a.seed, frame_rate=d.frame_rate)
    with open(a.out + ".json", "w") as f:
        json.dump(rep, f, indent=1)
    print(f"wrote {a.out}.rtm {a.out}.onnx {a.out}.pt {a.out}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
