"""Draws docs/adaptive.png from the data the adaptive tests write.

    mkdir -p /tmp/adaptive && RETINAD_ADAPTIVE_PLOT=/tmp/adaptive \
        go test -count=1 -run 'Discriminate|IsoResponse' ./stimulus/adaptive/
    /usr/bin/python3 docs/adaptive_plot.py /tmp/adaptive docs/adaptive.png
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

src, out = sys.argv[1], sys.argv[2]
dis = json.load(open(f"{src}/discriminate.json"))
iso = json.load(open(f"{src}/isoresponse.json"))

fig, ax = plt.subplots(2, 2, figsize=(12, 8.5))

# What discriminate chose, and why: every candidate's expected log-likelihood ratio.
runs = {(r["Seed"], r["Strategy"]): r for r in dis["runs"]}
seed = 2
d, r = runs[(seed, "discriminate")], runs[(seed, "random")]
a = ax[0, 0]
for i, scores in enumerate(d["Scores"]):
    a.scatter([i + 1] * len(scores), scores, s=14, color="0.7", zorder=1)
    a.scatter(i + 1, scores[d["Picks"][i]], s=40, color="C3", zorder=3, label="discriminate's pick" if i == 0 else None)
for i, scores in enumerate(r["Scores"]):
    a.scatter(i + 1, scores[r["Picks"][i]], s=30, marker="x", color="C0", zorder=2, label="random pick (control)" if i == 0 else None)
a.scatter([], [], s=14, color="0.7", label="candidate (0.5-s natural-scene clip)")
a.set_xlabel("choice")
a.set_ylabel("expected log-likelihood ratio CNN vs LN (nats)")
a.set_title(f"Why: discriminate shows the clip where CNN and LN disagree most\n(seed {seed}; the random control picks among the same candidates)", fontsize=10)
a.legend(fontsize=8)

# What it bought: the recorded spikes' evidence between the models.
a = ax[0, 1]
for s in (1, 2, 3):
    for strat, ls in (("discriminate", "-"), ("random", "--")):
        run = runs[(s, strat)]
        a.plot(range(1, len(run["Evidence"]) + 1), run["Evidence"], ls, color=f"C{s}",
               label=f"seed {s} {strat} (separated after {run['Clips'] if run['Clips'] <= dis['max'] else 'never'})")
for y in (dis["threshold"], -dis["threshold"]):
    a.axhline(y, color="k", lw=0.6, ls=":")
a.set_xlabel("clips shown to the virtual retina")
a.set_ylabel("ln P(spikes | CNN) - ln P(spikes | LN), 16 cells (nats)")
a.set_title("The recorded spikes separate the models sooner on discriminate's clips\n(dotted: ±150 nats, the test's threshold)", fontsize=10)
a.legend(fontsize=7)

# Isoresponse, closed loop: each direction's probes home in on the truth.
a = ax[1, 0]
for k, dd in enumerate(iso["directions"]):
    cs = [p["Contrast"] for p in dd["Probes"]]
    lab = f"{dd['Orientation']:g}°, period {dd['Period']:g} px"
    a.plot(range(1, len(cs) + 1), cs, "o-", ms=3, color=f"C{k}", label=lab)
    a.axhline(dd["Truth"], color=f"C{k}", lw=0.8, ls="--")
a.set_yscale("log")
a.set_xlabel("probe of the direction (each after a 5-s gray rest)")
a.set_ylabel("grating contrast")
a.set_title(f"isoresponse: each probe's contrast set from the recorded spikes so far,\ntarget {iso['target']:g} spikes/s mean over 16 cells (dashed: truth)", fontsize=10)
a.legend(fontsize=7)

# The contour: estimate vs the virtual retina's noise-free truth.
a = ax[1, 1]
labels = [f"{dd['Orientation']:g}°\n{dd['Period']:g} px" for dd in iso["directions"]]
x = range(len(labels))
a.plot(x, [dd["Truth"] for dd in iso["directions"]], "s--", color="k", label="truth (noise-free rates)")
a.plot(x, [dd["Estimate"] for dd in iso["directions"]], "o-", color="C3", label="closed-loop estimate (12 probes)")
for i, dd in enumerate(iso["directions"]):
    e = dd["Estimate"] / dd["Truth"] - 1
    a.annotate(f"{100 * e:+.0f}%", (i, dd["Estimate"]), textcoords="offset points", xytext=(6, 6), fontsize=8)
a.set_xticks(list(x), labels)
a.set_xlabel("direction in stimulus space (drifting grating: orientation, spatial period)")
a.set_ylabel("iso-response contrast")
a.set_title("The iso-response contour: closed-loop estimate vs the virtual retina's", fontsize=10)
a.legend(fontsize=8)

fig.tight_layout()
fig.savefig(out, dpi=90)
