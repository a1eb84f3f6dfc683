"""The measurements behind the paper's experiments 4-6 on the virtual retina (train.paper's
report stage draws and tabulates them): response gain after a contrast step, Fano factors of
repeated responses, and the first convolutional layer's unit types."""
import numpy as np
import torch


def contrast_steps(T, period, low, high, seed, h=50, w=50):
    """Full-field Gaussian flicker [T, h, w] float32 whose s.d. alternates between low and high
    every period frames, starting low, clipped to +-1: acquisition/sim's ContrastSteps, drawn
    here so that `retinad simulate --stimulus movie` can show it to the virtual retina."""
    rng = np.random.default_rng(seed)
    c = np.where((np.arange(T) // period) % 2 == 1, high, low)
    v = np.clip(c * rng.standard_normal(T), -1, 1).astype(np.float32)
    return np.ascontiguousarray(np.broadcast_to(v[:, None, None], (T, h, w)))


def gain_curve(stim, rate, period, lags=40, window=100, skip=10):
    """Response gain of one cell through each high-contrast half of a contrast-step stimulus,
    as acquisition/sim's TestContrastAdaptation measures it: the linear filter is the
    rate-weighted average of the (full-field) stimulus over the high halves; the gain in a
    window of bins after the step up is the regression slope of the rate on the filtered
    stimulus, pooled over cycles. Returns gains of consecutive windows of `window` bins from
    `skip` bins after the step, and the ratio of the last 300 bins' gain to the first window's."""
    T = len(stim)
    high = (np.arange(T) // period) % 2 == 1
    idx = np.arange(lags, T)
    idx = idx[high[idx]]
    filt = np.zeros(lags)
    for l in range(lags):
        filt[l] = (rate[idx] * stim[idx - l]).sum()
    g = np.convolve(stim, filt)[:T]  # g[i] = sum_l filt[l] * stim[i-l]
    starts = [(2 * k + 1) * period for k in range(T // (2 * period))]

    def slope(a, b):
        sel = np.concatenate([np.arange(s + a, s + b) for s in starts])
        x, y = g[sel], rate[sel]
        return np.cov(x, y)[0, 1] / x.var(ddof=1)

    curve = np.array([slope(a, a + window) for a in range(skip, period - window + 1, window)])
    return curve, slope(period - 300, period) / curve[0]


def fano(counts, k):
    """Pooled Fano factor per cell of repeated counts [R, T, C] (10 ms bins) in bins of k: the
    sum over time windows of the across-repeat variance over the sum of the means (windows with
    no spikes in any repeat add nothing)."""
    R, T, C = counts.shape
    n = T // k
    c = counts[:, :n * k].reshape(R, n, k, C).sum(2)
    m, v = c.mean(0), c.var(0, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return v.sum(0) / m.sum(0)


def stochastic_rates(model, windows, repeats, seed, batch=200):
    """Rates per bin [repeats, T, cells] of BN-CNN model (eval) with its latent Gaussian noise
    on (retinad's stochastic mode: noise of the layers' std after each hidden batch norm), one
    independent draw per repeat. The first convolution and batch norm, which come before any
    noise, are computed once."""
    seq = model.sequential
    g = torch.Generator().manual_seed(seed)
    out = torch.empty(repeats, len(windows), model.hyps["n_units"])
    with torch.no_grad():
        for i in range(0, len(windows), batch):
            pre = seq[2](seq[1](seq[0](windows[i:i + batch])))  # conv -> flatten -> BN
            for r in range(repeats):
                x = torch.relu(pre + seq[3].std * torch.randn(pre.shape, generator=g))
                x = seq[8](seq[7](seq[6](seq[5](x))))
                x = torch.relu(x + seq[9].std * torch.randn(x.shape, generator=g))
                out[r, i:i + batch] = seq[13](seq[12](seq[11](x)))
    return out.numpy()


def dead_time_counts(rate, repeats, dead, frame_rate, seed, sub=10):
    """Spike counts [repeats, T, C] per bin from rates [T, C] (spikes/s) by the virtual retina's
    spike generator (acquisition/sim.Spiker): a Poisson process with an absolute refractory
    period `dead` (s), its intensity raised to r / (1 - r*dead) so the mean rate is r, on a grid
    of `sub` steps per bin."""
    rng = np.random.default_rng(seed)
    T, C = rate.shape
    dt = 1.0 / frame_rate / sub
    lam = rate / np.maximum(1 - rate * dead, 1e-3)
    free = np.zeros((repeats, C))  # time until each cell can fire again
    out = np.zeros((repeats, T, C), np.float32)
    for t in range(T):
        p = 1 - np.exp(-lam[t] * dt)
        for _ in range(sub):
            spike = (free <= 0) & (rng.random((repeats, C)) < p)
            out[:, t] += spike
            free = np.where(spike, dead, free - dt)
    return out


def first_lobe(t, frame_rate, frac=0.5):
    """Polarity and latency of a temporal filter t (oldest lag first) from its first lobe: the
    earliest lag where |t| reaches frac of its maximum, followed while the sign holds; returns
    (sign of that lobe > 0, lag of its peak in ms). The first lobe, not the largest, sets the
    polarity of a biphasic filter (the later, opposite lobe is the antagonistic phase)."""
    lag = np.asarray(t)[::-1]  # lag 0 first
    k = int(np.argmax(np.abs(lag) >= frac * np.abs(lag).max()))
    sign = np.sign(lag[k])
    end = k
    while end + 1 < len(lag) and np.sign(lag[end + 1]) == sign:
        end += 1
    peak = k + int(np.argmax(np.abs(lag[k:end + 1])))
    return bool(sign > 0), peak * 1000.0 / frame_rate


def first_layer(model, windows, cell_on, frame_rate):
    """The first convolution's units of BN-CNN model: for each, its rank-1 (space x time)
    approximation's share of the filter's energy, polarity (ON: a light increment at the
    spatial component's peak drives its first lobe) and latency (that lobe's peak lag, see
    first_lobe), and its net effect on each cell: the mean over windows of the sum over
    positions of activation x gradient of the cell's output (negative: the unit inhibits it)."""
    w = model.sequential[0].weight.detach().numpy()  # [chans, history, k, k], oldest frame first
    units = []
    for c in range(w.shape[0]):
        u, s, vt = np.linalg.svd(w[c].reshape(w.shape[1], -1), full_matrices=False)
        t, sp = u[:, 0] * s[0], vt[0]
        if sp[np.argmax(np.abs(sp))] < 0:
            t, sp = -t, -sp
        # The oldest frame's weights also stand for everything older than the window (the
        # retina's slow antagonistic phase outlasts 200 ms): left out of the lobe, as an edge.
        on, latency = first_lobe(t[1:], frame_rate)
        units.append({"rank1": float(s[0] ** 2 / (s ** 2).sum()), "on": on, "latency_ms": latency,
                      "temporal": t.tolist(), "spatial": sp.reshape(w.shape[2:]).tolist()})
    seq = model.sequential
    x = windows.clone()
    a = torch.relu(seq[2](seq[1](seq[0](x))))
    a.retain_grad()
    y = seq[13](seq[12](seq[11](torch.relu(seq[8](seq[7](seq[6](seq[5](a))))))))
    effect = np.zeros((y.shape[1], w.shape[0]))
    shape = (-1, w.shape[0]) + tuple(model.shapes[0])
    for cell in range(y.shape[1]):
        a.grad = None
        y[:, cell].sum().backward(retain_graph=True)
        effect[cell] = (a * a.grad).reshape(shape).sum((2, 3)).mean(0).detach().numpy()
    return units, effect, np.asarray(cell_on).astype(bool)


def inhibition_summary(units, effect, cell_on):
    """Per cell: its strongest excitatory and inhibitory first-layer unit; whether the
    inhibitory one has the opposite polarity (crossover) and how much later it peaks."""
    rows = []
    for cell, eff in enumerate(effect):
        exc, inh = int(np.argmax(eff)), int(np.argmin(eff))
        rows.append({"cell": cell, "on": bool(cell_on[cell]), "excitatory": exc, "inhibitory": inh,
                     "inhibition_is_crossover": bool(eff[inh] < 0 and units[inh]["on"] != cell_on[cell]),
                     "excitation_matches": bool(units[exc]["on"] == cell_on[cell]),
                     "inhibition_delay_ms": units[inh]["latency_ms"] - units[exc]["latency_ms"],
                     "inhibition_share": float(-eff[eff < 0].sum() / np.abs(eff).sum())})
    return rows


def shared_stem_run(ff, rnn, windows, batch=200):
    """Counts per bin [T, cells] of the feed-forward BN-CNN ff and of the recurrent rnn built on
    its frozen stem (recurrent.from_stem) over consecutive windows, rnn as one session (state
    zero at the first): the stem, which has no state, runs once, in batches, for both."""
    for a, b in zip(ff.sequential[:11].state_dict().values(), rnn.sequential[:11].state_dict().values()):
        if not torch.equal(a, b):
            raise ValueError("train: experiments: the recurrent model's stem is not the feed-forward model's")
    with torch.no_grad():
        f = torch.cat([rnn.sequential(windows[i:i + batch]) for i in range(0, len(windows), batch)])
        y_ff = ff.sequential[11:](f.flatten(1))
        h, out = None, []
        for t in range(len(f)):
            if h is None:
                h = rnn.initial_state(1, f)
            h = rnn.gru(f[t:t + 1], h)
            out.append(rnn.readout(h))
    return y_ff.numpy(), torch.cat(out).numpy()
