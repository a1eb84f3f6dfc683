"""train.paper's report stage: scores every model of the paper's six experiments on the virtual
retina, draws one figure per experiment (PNG) and writes the table of results (DIR/paper.md,
DIR/paper.json, and between the markers of --readme). Needs only forward passes; the models
come from the train stages, the bundled files (--ff, --ln) and `retinad fit glm`."""
import json
import os
import subprocess

import numpy as np
import torch

from . import data as data_mod, experiments, fit, metrics, models, native

BEGIN, END = "<!-- paper table: written by train.paper --stage report -->", "<!-- end of paper table -->"
HISTORY_NOTE = "test blocks: the last 10% of each recording"


def load_model(path):
    """A model from a native file (.rtm) or a checkpoint the train stages wrote (.pt)."""
    if path.endswith(".rtm"):
        return native.load(path)
    ck = torch.load(path)
    kinds = {"BNCNN": models.BNCNN, "LN": models.LN, "RecurrentBNCNN": models.RecurrentBNCNN}
    if ck["model_type"] not in kinds:
        raise ValueError(f"train: report: {path}: model_type {ck['model_type']!r}, want one of {sorted(kinds)}")
    m = kinds[ck["model_type"]](**ck["hyps"])
    m.load_state_dict(ck["model_state_dict"])
    return m.eval()


def retinad(a, *args):
    """Runs the retinad binary; its failure (with its stderr) is ours."""
    p = subprocess.run([a.retinad, *args], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"train: report: {a.retinad} {' '.join(args)}: {p.stderr.strip()[-2000:]}")
    return p.stdout


def predict_glm(path, d, idx, batch=512):
    """Counts per bin of the stimulus part of a native GLM (kind glm, infer/doc.go) for windows
    idx of d: exp(bias + stimulus filter . window), its spike-history and coupling terms left
    out. Those need spikes: the cell's recorded ones (the daemon's observed mode, a conditional
    intensity, not the trial-averaged rate the ground truth is) or the model's own; `retinad
    predict` feeds back its own mean counts, which diverges for a self-exciting history filter
    (3 of 16 cells of a 5-minute fit ran to 1e21 spikes/s)."""
    header, t = native.read(path)
    if header["kind"] != "glm":
        raise ValueError(f"train: report: {path}: kind {header['kind']!r}, want glm")
    glm, inp = header["glm"], header["input"]
    k = torch.from_numpy(t[glm["stimulus_filter"]]).flatten(1)
    bias = torch.from_numpy(t[glm["bias"]])
    out = []
    with torch.no_grad():
        for i in range(0, len(idx), batch):
            x = (d.windows[idx[i:i + batch]].flatten(1) - inp["mean"]) / inp["std"]
            out.append(torch.exp(x @ k.T + bias))
    return torch.cat(out).numpy()


def score(pred, d, idx):
    truth = d.truth()[idx] / d.frame_rate
    return {"r_truth": float(np.nanmean(metrics.pearson(pred, truth))),
            "fev_truth": float(np.nanmean(metrics.fev(pred, truth))),
            "r_counts": float(np.nanmean(metrics.pearson(pred, d.targets[idx].numpy())))}


def simulate(a, name, *args):
    """A dataset of the virtual retina (mosaic of configs/sim.yaml, seed 1) from `retinad
    simulate`, cached in DIR."""
    path = os.path.join(a.out, name + ".npz")
    if not os.path.exists(path):
        retinad(a, "simulate", "--out", path, *args)
    return path


def comparison(a, sets, tests):
    """Experiments 1 and 2: every model on both test blocks, and the repeat ceiling."""
    paths = {("bncnn", "natural"): a.ff, ("ln", "natural"): a.ln,
             ("bncnn", "whitenoise"): os.path.join(a.out, "whitenoise_bncnn.pt"),
             ("ln", "whitenoise"): os.path.join(a.out, "whitenoise_ln.pt"),
             ("glm", "natural"): os.path.join(a.out, "natural_glm.rtm"),
             ("glm", "whitenoise"): os.path.join(a.out, "whitenoise_glm.rtm")}
    res = {}
    for (kind, train_on), path in paths.items():
        if not os.path.exists(path):
            print(f"   missing {path}: {kind} trained on {train_on} not scored", flush=True)
            continue
        model = None if kind == "glm" else load_model(path)
        for test_on, (d, te) in tests.items():
            pred = predict_glm(path, d, te) if kind == "glm" else fit.predict(model, d, te)
            res[f"{kind}|{train_on}|{test_on}"] = s = score(pred, d, te)
            print(f"   {kind} trained on {train_on}, tested on {test_on}: r {s['r_truth']:.3f} "
                  f"FEV {s['fev_truth']:.3f} r(counts) {s['r_counts']:.3f}", flush=True)
    ceiling = {k: float(np.nanmean(metrics.pearson(d.truth()[te], d.targets[te].numpy())))
               for k, (d, te) in tests.items()}
    return res, ceiling


def efficiency(a, d, te):
    """Experiment 3: held-out r of the models trained on the first M minutes."""
    res = {}
    for m in a.minutes:
        for kind in ("bncnn", "ln"):
            path = os.path.join(a.out, f"natural_{m:g}min_{kind}.pt")
            if os.path.exists(path):
                res[f"{kind}|{m:g}"] = score(fit.predict(load_model(path), d, te), d, te)
                print(f"   {kind} on {m:g} min: r {res[f'{kind}|{m:g}']['r_truth']:.3f}", flush=True)
    return res


def contrast(a, ff):
    """Experiment 4: gain through the high-contrast halves of full-field flicker stepping
    between s.d. 0.05 and 0.35 every 10 s, for the virtual retina (its noise-free rate), the
    feed-forward BN-CNN and the recurrent one on its stem."""
    period, cycles = 1000, a.contrast_cycles
    movie = os.path.join(a.out, "contrast_movie.npy")
    np.save(movie, experiments.contrast_steps(2 * period * cycles, period, 0.05, 0.35, seed=11))
    cfg = os.path.join(a.out, "contrast.yaml")
    with open(cfg, "w") as f:
        f.write(f"stimulus:\n  kind: movie\n  frame_rate: 100Hz\n  height: 50\n  width: 50\n  movie:\n    file: {os.path.abspath(movie)}\n")
    path = simulate(a, "contrast", "--stimulus", "movie", "--config", cfg, "--seed", "11",
                    "--duration", f"{2 * cycles * period // 100}s")
    d = data_mod.Dataset(path, a.history)
    rnn_path = a.rnn or os.path.join(a.out, "natural_rbncnn.pt")
    rnn = load_model(rnn_path) if os.path.exists(rnn_path) else None
    idx = np.arange(d.n)
    if rnn is not None:
        y_ff, y_rnn = experiments.shared_stem_run(ff, rnn, d.windows)
    else:
        y_ff, y_rnn = fit.predict(ff, d, idx), None
    # Output row i is the response to frame i + history - 1: the gain is measured on the frame
    # clock (so the steps stay at multiples of the period), the rows before a full window zero.
    stim = d.stim[:, 0, 0].numpy().astype(np.float64)
    pad = np.zeros(d.history - 1)
    rates = {"virtual retina": d.truth() / d.frame_rate, "feed-forward BN-CNN": y_ff}
    if y_rnn is not None:
        rates["recurrent BN-CNN"] = y_rnn
    out = {}
    for name, r in rates.items():
        curves, ratios = [], []
        for c in range(r.shape[1]):
            curve, ratio = experiments.gain_curve(stim, np.concatenate([pad, r[:, c].astype(np.float64)]), period)
            curves.append(curve / curve[0])
            ratios.append(ratio)
        out[name] = {"ratio_per_cell": [float(x) for x in ratios], "ratio": float(np.median(ratios)),
                     "curve": np.median(curves, 0).tolist()}
        if name != "virtual retina":
            out[name]["r_truth"] = score(r, d, idx)["r_truth"]
        print(f"   contrast step, {name}: gain ratio (last 3 s / first second) median {out[name]['ratio']:.2f}", flush=True)
    return out


def variability(a, ff):
    """Experiment 5: Fano factors of repeated responses at 10, 50 and 100 ms."""
    path = simulate(a, "repeats", "--stimulus", "natural", "--seed", "7", "--duration", f"{a.repeat_seconds}s",
                    "--repeats", str(a.repeats))
    with np.load(path) as z:
        vr_counts = z["repeat_counts"][:, a.history - 1:]
    d = data_mod.Dataset(path, a.history)
    stoch = experiments.stochastic_rates(ff, d.windows, a.repeats, seed=a.seed)
    rng = np.random.default_rng(a.seed)
    det = fit.predict(ff, d, np.arange(d.n))
    counts = {"virtual retina": vr_counts,
              "stochastic BN-CNN (latent noise, Poisson counts)": rng.poisson(stoch).astype(np.float32),
              "BN-CNN rate, Poisson counts": rng.poisson(np.broadcast_to(det, stoch.shape)).astype(np.float32),
              "BN-CNN rate, the virtual retina's dead-time spike generator (4 ms)":
                  experiments.dead_time_counts(det * d.frame_rate, a.repeats, 0.004, d.frame_rate, seed=a.seed)}
    out = {}
    for name, c in counts.items():
        out[name] = {f"{10 * k} ms": float(np.nanmean(experiments.fano(c, k))) for k in (1, 5, 10)}
        print(f"   Fano, {name}: " + ", ".join(f"{k} {v:.2f}" for k, v in out[name].items()), flush=True)
    out["latent noise s.d. of rate / mean rate"] = float(np.mean(stoch.std(0)) / np.mean(stoch))
    return out


def structure(a, ff, d, te):
    """Experiment 6: the first layer's unit types and their effect on each cell."""
    with np.load(a.natural) as z:
        cell_on = z["cell_on"]
    units, effect, on = experiments.first_layer(ff, d.windows[te[::max(1, len(te) // 256)][:256]], cell_on, d.frame_rate)
    rows = experiments.inhibition_summary(units, effect, on)
    return {"units": units, "effect": effect.tolist(), "cells": rows}


EXPERIMENTS = ("comparison", "efficiency", "contrast", "variability", "structure")


def run(a):
    """Measures the experiments in a.only (all by default) and takes the others' results from
    DIR/paper.json of an earlier run (so that one experiment can be redone after its model
    changed), then draws every figure and writes the table."""
    os.makedirs(a.out, exist_ok=True)
    os.makedirs(a.figures, exist_ok=True)
    only = a.only or EXPERIMENTS
    results = {}
    if set(only) != set(EXPERIMENTS):
        with open(os.path.join(a.out, "paper.json")) as f:
            results = json.load(f)["results"]
    sets = {"natural": data_mod.Dataset(a.natural, a.history)}
    if "comparison" in only:
        sets["whitenoise"] = data_mod.Dataset(a.whitenoise, a.history)
    k = a.eval_stride
    tests = {name: (d, d.split(0.05, 0.1)[2][::k]) for name, d in sets.items()}
    nat, te = tests["natural"]
    ff = load_model(a.ff)
    if "comparison" in only:
        print("== 1, 2: held-out comparison and generalisation", flush=True)
        results["comparison"], results["ceiling"] = comparison(a, sets, tests)
    if "efficiency" in only:
        print("== 3: data efficiency", flush=True)
        results["efficiency"] = efficiency(a, nat, te[::2])
    if "contrast" in only:
        print("== 4: contrast adaptation", flush=True)
        results["contrast"] = contrast(a, ff)
    if "variability" in only:
        print("== 5: variability", flush=True)
        results["variability"] = variability(a, ff)
    if "structure" in only:
        print("== 6: first-layer units", flush=True)
        results["structure"] = structure(a, ff, nat, te)
    with open(os.path.join(a.out, "paper.json"), "w") as f:
        json.dump({"results": results, "args": vars(a)}, f, indent=1)
    from . import figures  # matplotlib only here: training does not need it
    figures.draw(results, a)
    table = figures.table(results, a)
    with open(os.path.join(a.out, "paper.md"), "w") as f:
        f.write(table + "\n")
    if a.readme:
        write_readme(a.readme, table)
    print(table)


def write_readme(path, table):
    """Replaces the text between the table markers of path with table."""
    with open(path) as f:
        s = f.read()
    i, j = s.find(BEGIN), s.find(END)
    if i < 0 or j < i:
        raise ValueError(f"train: report: {path}: no {BEGIN!r} ... {END!r} markers to put the table between")
    with open(path, "w") as f:
        f.write(s[:i + len(BEGIN)] + "\n" + table + "\n" + s[j:])
