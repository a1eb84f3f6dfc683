"""A small synthetic dataset: LN cells with rectified subunits, Poisson spikes, ground truth."""
import numpy as np


def make(path, T=2000, H=12, W=12, C=3, history=8, seed=1, rate_hz=100.0):
    rng = np.random.default_rng(seed)
    stim = rng.choice([-1.0, 1.0], size=(T, H, W)).astype(np.float32) * 0.5
    t = np.arange(history)[::-1]
    temporal = np.exp(-t / 2.0) * np.sin(t / 2.0 + 0.3)
    yy, xx = np.mgrid[:H, :W]
    rates = np.zeros((T, C), np.float32)
    for c in range(C):
        cy, cx = rng.uniform(3, H - 3), rng.uniform(3, W - 3)
        sp = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 4.0) * (1 if c % 2 == 0 else -1)
        filt = temporal[:, None, None] * sp[None]
        g = np.zeros(T)
        for i in range(history - 1, T):
            g[i] = (stim[i - history + 1:i + 1] * filt).sum()
        rates[:, c] = 80.0 * np.log1p(np.exp(3 * g - 0.5))  # spikes/s
    counts = rng.poisson(rates / rate_hz).astype(np.float32)
    np.savez(path, stimulus=stim, counts=counts, frame_rate=np.float64(rate_hz),
             cell_ids=np.arange(C), rates=rates)
    return path
