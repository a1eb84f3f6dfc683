"""Per-cell Pearson r and fraction of explainable variance."""
import numpy as np


def pearson(pred, target):
    """Per-column Pearson r of [T,C] arrays; NaN where either column is constant."""
    p = pred - pred.mean(0)
    t = target - target.mean(0)
    den = np.sqrt((p * p).sum(0) * (t * t).sum(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (p * t).sum(0) / den, np.nan)


def fev(pred, truth):
    """Fraction of the variance of the noise-free rate (truth) that pred explains, per cell:
    1 - mean((pred - truth)^2) / var(truth). With ground truth, all of its variance is explainable."""
    var = truth.var(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(var > 0, 1 - ((pred - truth) ** 2).mean(0) / var, np.nan)
