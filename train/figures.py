"""Figures (PNG, matplotlib) and the results table of train.paper's report stage. Each verdict
is computed from the numbers, with the test it applies written next to it."""
import os

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

NAMES = {"bncnn": "BN-CNN", "ln": "LN", "glm": "GLM"}
SETS = {"natural": "natural", "whitenoise": "white noise"}
DPI = 80


def _save(fig, a, name):
    path = os.path.join(a.figures, name)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def draw(res, a):
    comp, ceil = res["comparison"], res["ceiling"]
    fig, axs = plt.subplots(1, 2, figsize=(8, 3.2), sharey=True)
    for ax, test in zip(axs, SETS):
        kinds = [k for k in NAMES if f"{k}|{test}|{test}" in comp]
        x = np.arange(len(kinds))
        ax.bar(x - 0.2, [comp[f"{k}|{test}|{test}"]["r_truth"] for k in kinds], 0.4, label="r vs ground-truth rate")
        ax.bar(x + 0.2, [comp[f"{k}|{test}|{test}"]["r_counts"] for k in kinds], 0.4, label="r vs spikes")
        ax.axhline(ceil[test], color="k", ls="--", lw=1, label="ceiling: ground truth vs spikes")
        ax.set_xticks(x, [NAMES[k] for k in kinds])
        ax.set_title(f"{SETS[test]} (held out)")
    axs[0].set_ylabel("Pearson r")
    axs[0].legend(fontsize=7, loc="lower left")
    _save(fig, a, "paper1_comparison.png")

    kinds = [k for k in NAMES if any(key.startswith(k + "|") for key in comp)]
    fig, axs = plt.subplots(1, len(kinds), figsize=(3 * len(kinds), 2.8))
    for ax, k in zip(np.atleast_1d(axs), kinds):
        m = np.full((2, 2), np.nan)
        for i, tr in enumerate(SETS):
            for j, te in enumerate(SETS):
                if f"{k}|{tr}|{te}" in comp:
                    m[i, j] = comp[f"{k}|{tr}|{te}"]["r_truth"]
                    ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center")
        ax.imshow(m, vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks([0, 1], ["natural", "white noise"])
        ax.set_yticks([0, 1], ["natural", "white noise"])
        ax.set_xlabel("tested on")
        ax.set_title(NAMES[k])
    np.atleast_1d(axs)[0].set_ylabel("trained on")
    _save(fig, a, "paper2_generalisation.png")

    eff = res["efficiency"]
    fig, ax = plt.subplots(figsize=(4, 3))
    for k in ("bncnn", "ln"):
        pts = sorted((float(key.split("|")[1]), v["r_truth"]) for key, v in eff.items() if key.startswith(k + "|"))
        if pts:
            ax.plot(*zip(*pts), "o-", label=NAMES[k])
    ax.set_xscale("log")
    ax.set_xlabel("training data (minutes of recording)")
    ax.set_ylabel("held-out r vs ground truth")
    ax.legend()
    _save(fig, a, "paper3_efficiency.png")

    con = res["contrast"]
    fig, ax = plt.subplots(figsize=(4.5, 3))
    for name, v in con.items():
        t = 0.1 + np.arange(len(v["curve"]))
        ax.plot(t, v["curve"], "o-", ms=3, label=f"{name} ({v['ratio']:.2f})")
    ax.axhline(1, color="k", lw=0.5)
    ax.set_xlabel("seconds after the step up in contrast")
    ax.set_ylabel("gain / gain in the first second")
    ax.legend(fontsize=7)
    _save(fig, a, "paper4_contrast.png")

    var = {k: v for k, v in res["variability"].items() if isinstance(v, dict)}
    fig, ax = plt.subplots(figsize=(5, 3))
    for name, v in var.items():
        ax.plot([10, 50, 100], list(v.values()), "o-", label=name)
    ax.axhline(1, color="k", ls="--", lw=1)
    ax.set_xlabel("count window (ms)")
    ax.set_ylabel("Fano factor")
    ax.legend(fontsize=6)
    _save(fig, a, "paper5_fano.png")

    units = res["structure"]["units"]
    fig, axs = plt.subplots(2, len(units), figsize=(1.3 * len(units), 2.8))
    for c, u in enumerate(units):
        sp = np.array(u["spatial"])
        lim = np.abs(sp).max()
        axs[0, c].imshow(sp, cmap="RdBu_r", vmin=-lim, vmax=lim)
        axs[0, c].set_axis_off()
        axs[0, c].set_title(f"{c}: {'ON' if u['on'] else 'OFF'} {u['latency_ms']:.0f} ms", fontsize=7)
        t = np.array(u["temporal"])[::-1]  # lag 0 first
        axs[1, c].plot(10 * np.arange(len(t)), t)
        axs[1, c].axhline(0, color="k", lw=0.5)
        axs[1, c].tick_params(labelsize=5)
    axs[1, 0].set_xlabel("lag (ms)", fontsize=6)
    _save(fig, a, "paper6_first_layer.png")


def _r(comp, k, tr, te):
    v = comp.get(f"{k}|{tr}|{te}")
    return None if v is None else v["r_truth"]


def _fev(x):
    """FEV to three decimals, or in powers of ten when a model's rates are off scale."""
    return f"{x:.3f}" if abs(x) < 1000 else f"{x:.2g}"


def _fmt(x):
    return "missing" if x is None else f"{x:.3f}"


def table(res, a):
    comp, ceil = res["comparison"], res["ceiling"]
    fig = lambda n, name: f"[fig {n}](figures/{name})"  # noqa: E731
    rows = []

    # 1
    parts, verdicts = [], []
    for te in SETS:
        r = {k: _r(comp, k, te, te) for k in NAMES}
        parts.append(f"{SETS[te]}: CNN {_fmt(r['bncnn'])}, LN {_fmt(r['ln'])}, GLM {_fmt(r['glm'])} "
                     f"(ceiling, ground truth vs spikes: {ceil[te]:.3f}; CNN vs spikes "
                     f"{_fmt(comp.get(f'bncnn|{te}|{te}', {}).get('r_counts'))})")
        if None in r.values():
            verdicts.append(f"{SETS[te]}: not measured (a model is missing)")
        else:
            best = r["bncnn"] > max(r["ln"], r["glm"])
            verdicts.append(f"{SETS[te]}: {'reproduced' if best else 'not reproduced'}")
    rows.append(("1", "CNN vs LN vs GLM, held out (r vs ground-truth rate)", "; ".join(parts),
                 "the CNN predicts better than LN and GLM on both ensembles", "; ".join(verdicts),
                 fig(1, "paper1_comparison.png")))

    # 2
    parts, verdicts = [], []
    for tr, te in (("natural", "whitenoise"), ("whitenoise", "natural")):
        r = {k: _r(comp, k, tr, te) for k in NAMES}
        parts.append(f"trained {SETS[tr]}, tested {SETS[te]}: CNN {_fmt(r['bncnn'])}, LN {_fmt(r['ln'])}, GLM {_fmt(r['glm'])}")
        if None in r.values():
            verdicts.append(f"{SETS[tr]} -> {SETS[te]}: not measured")
        else:
            ok = r["bncnn"] > max(r["ln"], r["glm"])
            verdicts.append(f"{SETS[tr]} -> {SETS[te]}: {'reproduced' if ok else 'not reproduced'}")
    rows.append(("2", "generalisation across ensembles (the diagonal is row 1)", "; ".join(parts),
                 "the CNN generalises to the other ensemble better than LN and GLM", "; ".join(verdicts),
                 fig(2, "paper2_generalisation.png")))

    # 3
    eff = res["efficiency"]
    mins = sorted({float(k.split("|")[1]) for k in eff})
    pts = [(m, eff.get(f"bncnn|{m:g}", {}).get("r_truth"), eff.get(f"ln|{m:g}", {}).get("r_truth")) for m in mins]
    both = [(m, c, l) for m, c, l in pts if c is not None and l is not None]
    text = ", ".join(f"{m:g} min: CNN {_fmt(c)} / LN {_fmt(l)}" for m, c, l in pts) or "no model trained"
    if len(both) < 4:
        verdict = f"unfinished: {len(both)} of the 4 sizes have both models"
    else:
        wins = sum(c > l for _, c, l in both)
        small = both[0][1] - both[0][2]
        verdict = (f"{'reproduced' if wins == len(both) else 'not reproduced' if wins == 0 else 'partly reproduced'}: "
                   f"CNN ahead at {wins} of {len(both)} sizes, by {small:+.3f} at the smallest")
    rows.append(("3", "data efficiency (held-out r vs minutes of natural-scene training data)", text,
                 "the CNN needs less data than the LN (overfits less on small data)", verdict,
                 fig(3, "paper3_efficiency.png")))

    # 4
    con = res["contrast"]
    vr = con["virtual retina"]["ratio"]
    text = "; ".join(f"{n}: {v['ratio']:.2f}" + (f" (r {v['r_truth']:.3f})" if "r_truth" in v else "")
                     for n, v in con.items())
    if "recurrent BN-CNN" not in con:
        verdict = "unfinished: no recurrent model"
    else:
        ff, rnn = con["feed-forward BN-CNN"]["ratio"], con["recurrent BN-CNN"]["ratio"]
        closer = abs(np.log(rnn / vr)) < abs(np.log(ff / vr))
        adapts = rnn < 0.8
        verdict = (f"{'reproduced' if closer and adapts else 'not reproduced'}: the recurrent model's gain "
                   f"{'falls' if adapts else 'does not fall below 0.8 of its first second'} after the step "
                   f"({rnn:.2f}, the retina's {vr:.2f}, the feed-forward model's {ff:.2f}; log distance to the "
                   f"retina's {abs(np.log(rnn / vr)):.2f} vs {abs(np.log(ff / vr)):.2f})")
    rows.append(("4", "contrast adaptation: gain in the last 3 s of 10 s at high contrast over the first second "
                      "(median over cells; full-field flicker s.d. 0.05 <-> 0.35, trained on neither)", text,
                 "recurrent units capture contrast adaptation, which a feed-forward model cannot", verdict,
                 fig(4, "paper4_contrast.png")))

    # 5
    var = res["variability"]
    vr, st = var["virtual retina"], var["stochastic BN-CNN (latent noise, Poisson counts)"]
    dead = var["BN-CNN rate, the virtual retina's dead-time spike generator (4 ms)"]
    text = "; ".join(f"{n}: " + ", ".join(f"{v:.2f}" for v in f.values()) for n, f in var.items() if isinstance(f, dict))
    # Sub-Poisson: below 0.95 at every window (Poisson counts of the model's own rate measure
    # 0.98-1.00 with these repeats: the estimate's spread).
    sub = all(v < 0.95 for v in st.values())
    verdict = (f"{'reproduced' if sub else 'not reproduced'}: stochastic CNN Fano "
               + "/".join(f"{v:.2f}" for v in st.values()) + " at 10/50/100 ms vs the retina's "
               + "/".join(f"{v:.2f}" for v in vr.values()) + "; Poisson counts on a noisy rate have variance "
               "mean + var(rate) >= mean, so they cannot be sub-Poisson; with the retina's 4 ms dead time on "
               "the model's rate instead: " + "/".join(f"{v:.2f}" for v in dead.values()))
    rows.append(("5", "variability: Fano factor of repeated responses at 10, 50 and 100 ms (mean over cells)", text,
                 "latent noise reproduces sub-Poisson variability", verdict, fig(5, "paper5_fano.png")))

    # 6
    st = res["structure"]
    units, cells = st["units"], st["cells"]
    kinds = ", ".join(f"{i}: {'ON' if u['on'] else 'OFF'} {u['latency_ms']:.0f} ms" for i, u in enumerate(units))
    cross = sum(c["inhibition_is_crossover"] for c in cells)
    match = sum(c["excitation_matches"] for c in cells)
    delay = np.median([c["inhibition_delay_ms"] for c in cells])
    share = np.median([c["inhibition_share"] for c in cells])
    text = (f"units (polarity, latency): {kinds}; the strongest excitatory unit has the cell's polarity for "
            f"{match}/{len(cells)} cells; the strongest inhibitory unit has the opposite polarity for "
            f"{cross}/{len(cells)} and peaks {delay:+.0f} ms after the excitatory one (median); "
            f"inhibitory share of the net effect {share:.2f} (median)")
    verdict = (f"{'reproduced' if cross > len(cells) / 2 else 'not reproduced'}: "
               f"crossover (opposite-polarity) inhibition for {cross} of {len(cells)} cells")
    rows.append(("6", "feed-forward inhibition in the first layer (bundled BN-CNN; net effect = activation x gradient)",
                 text, "first-layer units of opposite polarity inhibit the cell (feed-forward inhibition)", verdict,
                 fig(6, "paper6_first_layer.png")))

    lines = ["| # | experiment | result on the virtual retina | paper's claim | verdict | figure |",
             "|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", "Every model of rows 1-2, held out (mean over cells; r and FEV against the ground-truth rate, "
              "r spikes against the spike counts):", "",
              "| model | trained on | r natural | FEV natural | r spikes natural | r white noise | FEV white noise | r spikes white noise |",
              "|---|---|---|---|---|---|---|---|"]
    for k in NAMES:
        for tr in SETS:
            cells = [comp.get(f"{k}|{tr}|{te}") for te in SETS]
            if all(c is None for c in cells):
                continue
            vals = []
            for c in cells:
                vals += ["missing"] * 3 if c is None else [f"{c['r_truth']:.3f}", _fev(c["fev_truth"]), f"{c['r_counts']:.3f}"]
            lines.append(f"| {NAMES[k]} | {SETS[tr]} | " + " | ".join(vals) + " |")
    lines.append(f"| ceiling: ground truth | | 1 | 1 | {ceil['natural']:.3f} | 1 | 1 | {ceil['whitenoise']:.3f} |")
    return "\n".join(lines)
