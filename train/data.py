"""Reads retinad's dataset .npz (stimulus float32 [T,H,W], counts float32 [T,C], frame_rate,
optional cell_ids and ground-truth rates [T,C] in spikes/s) and serves history windows."""
import numpy as np
import torch


class Dataset:
    def __init__(self, path, history):
        with np.load(path) as z:
            for key in ("stimulus", "counts", "frame_rate"):
                if key not in z.files:
                    raise ValueError(f"train: {path}: no array {key!r} (have {sorted(z.files)})")
            stim = np.asarray(z["stimulus"], dtype=np.float32)
            counts = np.asarray(z["counts"], dtype=np.float32)
            self.frame_rate = float(z["frame_rate"])
            self.cell_ids = np.asarray(z["cell_ids"]).astype(np.int64) if "cell_ids" in z.files else np.arange(counts.shape[1])
            self.rates = np.asarray(z["rates"], dtype=np.float32) if "rates" in z.files else None
        if stim.ndim != 3:
            raise ValueError(f"train: {path}: stimulus has shape {stim.shape}, want [T,H,W]")
        if counts.ndim != 2 or counts.shape[0] != stim.shape[0]:
            raise ValueError(f"train: {path}: counts has shape {counts.shape}, want [{stim.shape[0]},C]")
        if self.rates is not None and self.rates.shape != counts.shape:
            raise ValueError(f"train: {path}: rates has shape {self.rates.shape}, want {counts.shape}")
        if stim.shape[0] <= history:
            raise ValueError(f"train: {path}: {stim.shape[0]} frames, fewer than the history {history}")
        self.path = path
        self.history = history
        self.stim = torch.from_numpy(np.ascontiguousarray(stim))
        self.counts = torch.from_numpy(counts)
        T, H, W = stim.shape
        # windows[i] = stimulus[i : i+history], the input for bin i+history-1 (a strided view).
        self.windows = self.stim.as_strided((T - history + 1, history, H, W), (H * W, H * W, W, 1))
        self.targets = self.counts[history - 1:]

    @property
    def n(self):
        return self.windows.shape[0]

    @property
    def img_shape(self):
        return (self.history, self.stim.shape[1], self.stim.shape[2])

    @property
    def n_cells(self):
        return self.counts.shape[1]

    def truth(self):
        """Ground-truth rates aligned with targets (spikes/s), or None."""
        return None if self.rates is None else self.rates[self.history - 1:]

    def split(self, val_frac, test_frac):
        """Contiguous blocks: train | validation | test (the test block is last)."""
        n = self.n
        n_test = int(round(n * test_frac))
        n_val = int(round(n * val_frac))
        n_train = n - n_val - n_test
        if n_train <= 0 or n_val <= 0 or n_test <= 0:
            raise ValueError(f"train: {self.path}: {n} windows cannot be split {1-val_frac-test_frac:.2f}/{val_frac}/{test_frac}")
        # A gap of one history between blocks keeps their windows from overlapping.
        g = self.history
        tr = np.arange(0, n_train - g)
        va = np.arange(n_train, n_train + n_val - g)
        te = np.arange(n_train + n_val, n)
        return tr, va, te
