"""Compare a MATLAB v7.3 .mat written by `retinad export --format mat` (dataset.WriteMAT) with
the .npz export of the same session, reading it with h5py as MATLAB's layout says:

    /usr/bin/python3 mat_check.py FILE.mat FILE.npz

Every array of the .npz must be a variable (name with characters MATLAB refuses as _) with
MATLAB's header, a MATLAB_class, and, transposed back from column-major, the same shape and
values (NaN where NaN; char matrices as the strings). Prints "ok" or raises.
"""
import re
import sys

import h5py
import numpy as np

mat, npz = sys.argv[1], sys.argv[2]
assert open(mat, "rb").read(19) == b"MATLAB 7.3 MAT-file", "header"
z = np.load(npz)
classes = {"float32": "single", "float64": "double", "int64": "int64", "uint8": "uint8"}
with h5py.File(mat, "r") as f:
    assert f.userblock_size == 512
    for name in z.files:
        want = z[name]
        v = f[re.sub(r"[^A-Za-z0-9_]", "_", name)]
        cls = v.attrs["MATLAB_class"].decode()
        empty = v.attrs.get("MATLAB_empty", 0) == 1
        if want.dtype.kind == "U":
            assert cls == "char", (name, cls)
            if empty:
                assert want.size == 0 or all(s == "" for s in want.ravel()), name
                continue
            rows = ["".join(map(chr, r)).rstrip(" ") for r in v[()].T]
            assert rows == [s.rstrip(" ") for s in want.ravel()], (name, rows[:3])
            continue
        assert cls == classes[str(want.dtype)], (name, cls, want.dtype)
        if empty:
            assert want.size == 0, name
            continue
        got = v[()].T.reshape(want.shape)
        assert np.array_equal(got, want, equal_nan=want.dtype.kind == "f"), name
print("ok")
