"""Write one recording as a lab might have it, in three files that must read as the same
dataset:

    /usr/bin/python3 lab_files.py DIR [T H W]

- DIR/lab.npz: stimulus uint8 [T,H,W], counts int64 [T,C] (the spikes binned here, with
  numpy), frame_rate an integer, cell_ids;
- DIR/lab.h5 (h5py): the same uint8 movie, and the spikes as times instead of counts:
  spike_times (s), spike_cells (ids), frame_times (s, each frame's start, jittered like
  photodiode onsets), frame_rate; no cell_ids (every cell spikes);
- DIR/lab.mat: a MATLAB v7.3 MAT-file laid out as MATLAB's save -v7.3 does (column-major:
  each array transposed, vectors as N x 1, scalars 1 x 1, MATLAB_class attributes, the 512-byte
  user block with MATLAB's header), with counts as double and cell_ids as a row vector.
"""
import sys

import h5py
import numpy as np

d = sys.argv[1]
T, H, W = (int(x) for x in sys.argv[2:5]) if len(sys.argv) > 2 else (2000, 6, 6)
rng = np.random.default_rng(17)
movie = rng.integers(0, 256, size=(T, H, W), dtype=np.uint8)
rate = 100
frame_times = 12.5 + np.arange(T) / rate + rng.uniform(-5e-4, 5e-4, T)
edges = np.append(frame_times, frame_times[-1] + 1 / rate)
ids = np.array([4, 9, 12])
contrast = (movie.astype(np.float64) - 127.5) / 127.5
drive = np.stack([contrast[:, 1, 2], -contrast[:, 3, 3], contrast[:, 4, 1]], 1)
drive = np.concatenate([np.zeros((1, 3)), drive[:-1]])  # one bin of latency
lam = np.log1p(np.exp(2 * drive)) * 0.8
counts = rng.poisson(lam)
times, cells = [], []
for t in range(T):
    for c in range(3):
        n = counts[t, c]
        width = edges[t + 1] - edges[t]
        times += list(edges[t] + width * (0.01 + 0.98 * rng.uniform(size=n)))
        cells += [ids[c]] * n
order = rng.permutation(len(times))  # spikes in no particular order
times, cells = np.array(times)[order], np.array(cells)[order]
binned = np.stack([np.histogram(times[cells == i], edges)[0] for i in ids], 1)
assert np.array_equal(binned, counts)

np.savez(d + "/lab.npz", stimulus=movie, counts=counts.astype(np.int64), frame_rate=rate, cell_ids=ids)

with h5py.File(d + "/lab.h5", "w") as f:
    f["stimulus"] = movie
    f["spike_times"] = times
    f["spike_cells"] = cells.astype(np.int32)
    f["frame_times"] = frame_times
    f["frame_rate"] = float(rate)


def matvar(f, name, a, cls):
    a = np.asarray(a)
    if a.ndim < 2:
        a = a.reshape(-1, 1)  # MATLAB: column vector (and 1 x 1 scalar)
    f[name] = a.T  # MATLAB is column-major: h5py sees the dimensions reversed
    f[name].attrs["MATLAB_class"] = np.bytes_(cls)


with h5py.File(d + "/lab.mat", "w", userblock_size=512) as f:
    matvar(f, "stimulus", movie, "uint8")
    matvar(f, "counts", counts.astype(np.float64), "double")
    matvar(f, "frame_rate", np.float64(rate), "double")
    matvar(f, "cell_ids", ids.astype(np.float64).reshape(1, -1), "double")
header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Dec  7 12:00:00 2026 HDF5 schema 1.00 ."
header = header.ljust(116, b" ") + b"\0" * 8 + b"\x00\x02IM"
with open(d + "/lab.mat", "r+b") as f:
    f.write(header)
