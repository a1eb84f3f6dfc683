"""The recurrent BN-CNN (models.RecurrentBNCNN, a ConvGRUCell after the convolutions): its cell
is torch.nn.GRUCell with convolutions for products, its state is carried, and the native file
train/native.py writes for it runs in retinad's Go engine (`retinad predict`) as in PyTorch over
a long session."""
import os
import shutil
import struct
import subprocess

import numpy as np
import pytest
import torch
from torch import nn

from train import models, native

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def test_cell_is_grucell_with_convolutions():
    # With 1x1 kernels on a 1x1 image the cell is exactly torch.nn.GRUCell (same gate order).
    torch.manual_seed(0)
    cell, ref = models.ConvGRUCell(5, 3, ksize=1).double(), nn.GRUCell(5, 3).double()
    with torch.no_grad():
        cell.ih.weight.copy_(ref.weight_ih.reshape(9, 5, 1, 1))
        cell.ih.bias.copy_(ref.bias_ih)
        cell.hh.weight.copy_(ref.weight_hh.reshape(9, 3, 1, 1))
        cell.hh.bias.copy_(ref.bias_hh)
    x, h = torch.randn(7, 5, dtype=torch.float64), torch.randn(7, 3, dtype=torch.float64)
    got = cell(x[:, :, None, None], h[:, :, None, None])[:, :, 0, 0]
    torch.testing.assert_close(got, ref(x, h), rtol=1e-12, atol=1e-12)


def small_model(seed=1):
    torch.manual_seed(seed)
    m = models.RecurrentBNCNN(n_units=3, img_shape=(4, 12, 12), chans=(3, 2), ksizes=(5, 3), hidden=2, gru_ksize=3)
    with torch.no_grad():
        for bn in [m.sequential[2], m.sequential[8], m.readout[2]]:
            bn.running_mean.normal_(0, 0.3)
            bn.running_var.uniform_(0.3, 2)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0, 0.3)
        for p in m.gru.parameters():
            p.mul_(3)  # a state that moves visibly
    return m.eval()


def windows(stim, hist):
    x = torch.from_numpy(stim.astype(np.float64))
    return x.unfold(0, hist, 1).permute(0, 3, 1, 2)


def test_state_is_carried_and_starts_at_zero():
    m = small_model().double()
    rng = np.random.default_rng(2)
    win = windows(rng.standard_normal((60, 12, 12)), 4)
    with torch.no_grad():
        seq = m.run(win)
        first, _ = m(win[:1])
        alone, _ = m(win[-1:])
    torch.testing.assert_close(seq[:1], first)  # a session starts with h = 0
    assert not torch.allclose(seq[-1:], alone, rtol=1e-3), "the last output ignores the steps before its window"


def test_native_file_is_version_2():
    b = native.encode(small_model(), (4, 12, 12), 100.0, [5, 6, 7])
    assert b[:8] == b"RETINADM" and struct.unpack("<I", b[8:12])[0] == 2
    import json
    header = json.loads(b[16:16 + struct.unpack("<I", b[12:16])[0]])
    assert [l["type"] for l in header["layers"]] == ["conv2d", "batchnorm", "noise", "relu", "conv2d", "batchnorm",
                                                     "noise", "relu", "convgru", "dense", "batchnorm", "softplus"]
    shapes = {t["name"]: t["shape"] for t in header["tensors"]}
    gru = header["layers"][8]
    assert shapes[gru["weight"]] == [6, 2, 3, 3] and shapes[gru["weight_hh"]] == [6, 2, 3, 3]
    assert shapes[gru["bias"]] == [6] and shapes[gru["bias_hh"]] == [6]


@pytest.mark.skipif(shutil.which("go") is None, reason="needs the Go toolchain to build retinad")
def test_go_engine_runs_the_trained_file(tmp_path):
    m = small_model()
    path = str(tmp_path / "gru.rtm")
    native.write(path, m, (4, 12, 12), 100.0, [5, 6, 7], name="test_recurrent")
    rng = np.random.default_rng(3)
    T = 2100  # long enough for drift in the carried state to show
    contrast = np.where((np.arange(T) // 250) % 2 == 0, 0.2, 1.0).astype(np.float32)
    stim = (contrast[:, None, None] * rng.standard_normal((T, 12, 12))).astype(np.float32)
    np.save(tmp_path / "stim.npy", stim)
    exe = str(tmp_path / "retinad")
    subprocess.run(["go", "build", "-o", exe, "./cmd/retinad"], cwd=ROOT, check=True)
    subprocess.run([exe, "predict", "--model", path, "--stimulus", str(tmp_path / "stim.npy"),
                    "--out", str(tmp_path / "rates.npy")], check=True)
    got = np.load(tmp_path / "rates.npy")
    with torch.no_grad():
        want = m.double().run(windows(stim, 4)).numpy() * 100.0
    assert np.all(np.isnan(got[:3]))
    np.testing.assert_allclose(got[3:], want, rtol=1e-4, atol=1e-5)


def test_trains_recurrent_and_beats_chance(tmp_path):
    from train import data, fit
    from . import synth
    d = data.Dataset(synth.make(str(tmp_path / "d.npz")), 8)
    import io
    log = io.StringIO()
    m, rep = fit.train(d, "rbncnn", seed=0, epochs=6, batch=16, lr=3e-3, epoch_size=320, seq_len=20, burn_in=5,
                       log=log, chans=(4, 4), ksizes=(5, 3), hidden=2, noise=0.05)
    assert isinstance(m, models.RecurrentBNCNN)
    assert log.getvalue().startswith("epoch   1  train loss"), log.getvalue()
    assert np.nanmean(rep["r_truth"]) > 0.5, rep  # held out, the test block run as one session


def test_cli_writes_recurrent_model(tmp_path):
    from train import __main__ as cli
    from . import synth
    ds = synth.make(str(tmp_path / "d.npz"))
    out = str(tmp_path / "r")
    assert cli.main([ds, "--model", "rbncnn", "--out", out, "--history", "8", "--epochs", "1", "--max-train", "200",
                     "--chans", "4", "4", "--ksizes", "5", "3", "--hidden", "2", "--seq-len", "8", "--burn-in", "2"]) == 0
    with open(out + ".rtm", "rb") as f:
        b = f.read()
    assert struct.unpack("<I", b[8:12])[0] == 2
    assert os.path.exists(out + ".onnx")
    ck = torch.load(out + ".pt")
    assert ck["model_type"] == "RecurrentBNCNN" and "gru.ih.weight" in ck["model_state_dict"]


def test_onnx_export_is_one_step(tmp_path):
    # A step graph: window and state in, rates and next state out; ONNX's checker accepts it,
    # and the next state is the cell's (retinad's Go tests run it in ONNX Runtime).
    import onnx
    from train import export
    m = small_model()
    path = str(tmp_path / "r.onnx")
    export.write_onnx(m, (4, 12, 12), 100.0, path, cell_ids=[5, 6, 7])
    g = onnx.load(path)
    onnx.checker.check_model(g, full_check=True)
    assert [i.name for i in g.graph.input] == ["stimulus", "state"]
    assert [o.name for o in g.graph.output] == ["rates", "next_state"]
    dims = [d.dim_value for d in g.graph.input[1].type.tensor_type.shape.dim[1:]]
    assert dims == [2, 6, 6]  # hidden 2 on the second convolution's 6x6
    ops = {n.op_type for n in g.graph.node}
    assert {"Split", "Tanh", "Sigmoid"} <= ops and "Shape" not in ops, ops
