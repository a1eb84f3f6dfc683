import io
import json

import numpy as np
import onnx
import pytest
import torch

from train import __main__ as cli, data, fit, metrics, models

from . import synth


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return synth.make(str(tmp_path_factory.mktemp("d") / "d.npz"))


def small(kind):
    return dict(chans=(4, 4), ksizes=(5, 3), noise=0.05) if kind == "bncnn" else {}


@pytest.mark.parametrize("kind", ["bncnn", "ln"])
def test_trains_and_beats_chance(dataset, kind):
    d = data.Dataset(dataset, 8)
    log = io.StringIO()
    l2 = 0.03 if kind == "ln" else 1e-3
    _, rep = fit.train(d, kind, seed=0, epochs=10, batch=32, lr=3e-3, l2=l2, log=log, **small(kind))
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("epoch   1  train loss"), lines
    assert np.nanmean(rep["r_truth"]) > 0.5, rep  # learned the cells, measured against truth
    assert np.all(np.isfinite(rep["fev_truth"]))


def test_deterministic(dataset):
    d = data.Dataset(dataset, 8)
    a, _ = fit.train(d, "bncnn", seed=3, epochs=2, log=io.StringIO(), **small("bncnn"))
    b, _ = fit.train(d, "bncnn", seed=3, epochs=2, log=io.StringIO(), **small("bncnn"))
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k


def test_cli_writes_valid_files(dataset, tmp_path):
    out = str(tmp_path / "m")
    assert cli.main([dataset, "--model", "bncnn", "--out", out, "--history", "8", "--epochs", "2",
                     "--chans", "4", "4", "--ksizes", "5", "3"]) == 0
    m = onnx.load(out + ".onnx")
    onnx.checker.check_model(m)
    assert [i.name for i in m.graph.input] == ["stimulus"]
    ck = torch.load(out + ".pt")
    assert ck["model_type"] == "BNCNN"
    assert "sequential.0.weight" in ck["model_state_dict"]
    assert "sequential.12.running_var" in ck["model_state_dict"]
    with open(out + ".rtm", "rb") as f:
        b = f.read()
    import struct, zlib
    assert b[:8] == b"RETINADM" and struct.unpack("<I", b[8:12])[0] == 1
    assert struct.unpack("<I", b[-4:])[0] == zlib.crc32(b[:-4])
    header = json.loads(b[16:16 + struct.unpack("<I", b[12:16])[0]])
    assert [l["type"] for l in header["layers"]] == ["conv2d", "batchnorm", "noise", "relu", "conv2d", "batchnorm",
                                                     "noise", "relu", "dense", "batchnorm", "softplus"]
    assert header["output_scale"] == 100.0 and header["cells"] == [0, 1, 2]
    rep = json.load(open(out + ".json"))
    assert len(rep["r_counts"]) == 3


def test_bncnn_layout_is_torch_deep_retina():
    m = models.BNCNN(n_units=5, img_shape=(40, 50, 50))
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    assert shapes["sequential.0.weight"] == (8, 40, 15, 15)
    assert shapes["sequential.2.running_mean"] == (8 * 36 * 36,)
    assert shapes["sequential.6.weight"] == (8, 8, 11, 11)
    assert shapes["sequential.11.weight"] == (5, 8 * 26 * 26)
    assert shapes["sequential.12.weight"] == (5,)


def test_metrics():
    x = np.array([[1.0, 2.0], [2.0, 2.0], [3.0, 2.0]])
    r = metrics.pearson(x, x)
    assert r[0] == pytest.approx(1.0) and np.isnan(r[1])
    assert metrics.fev(x[:, :1], x[:, :1])[0] == pytest.approx(1.0)


def test_bad_dataset(tmp_path):
    p = str(tmp_path / "bad.npz")
    np.savez(p, stimulus=np.zeros((10, 4, 4), np.float32), frame_rate=100.0)
    with pytest.raises(ValueError, match="no array 'counts'"):
        data.Dataset(p, 4)


def test_onnx_export_leaves_model_in_eval_mode(tmp_path):
    m = models.BNCNN(n_units=2, img_shape=(4, 10, 10), chans=(2, 2), ksizes=(3, 3)).eval()
    from train import export
    export.write_onnx(m, (4, 10, 10), 100.0, str(tmp_path / "m.onnx"))
    assert not m.training and not any(x.training for x in m.modules())


def test_epoch_size_and_lr_decay(dataset):
    """epoch_size draws that many fresh bins per epoch (the logged loss is over them), lr_decay
    cuts the rate after an epoch that does not improve validation, and both stay seeded."""
    d = data.Dataset(dataset, 8)
    tr, _, _ = d.split(0.1, 0.1)
    seen = []
    orig = d.windows

    class Spy:
        shape = orig.shape

        def __getitem__(self, idx):
            seen.append(np.asarray(idx))
            return orig[idx]

    d.windows = Spy()
    log = io.StringIO()
    # lr 1.0 on an LN diverges, so validation stops improving and the rate must be halved.
    fit.train(d, "ln", seed=0, epochs=3, batch=50, lr=1.0, l2=0.0, patience=5, epoch_size=200,
              lr_decay=0.5, log=log)
    d.windows = orig
    lrs = [float(l.split("lr ")[1].split()[0]) for l in log.getvalue().splitlines() if l.startswith("epoch")]
    assert len(lrs) == 3 and lrs[0] == 1.0 and min(lrs) < 1.0, log.getvalue()
    batches = [s for s in seen if len(s) == 50]  # training batches (prediction uses 256)
    assert len(batches) == 3 * 4, len(batches)
    epochs = [np.concatenate(batches[4 * e:4 * e + 4]) for e in range(3)]
    for e in epochs:
        assert len(np.unique(e)) == 200 and np.isin(e, tr).all()
    assert not np.array_equal(np.sort(epochs[0]), np.sort(epochs[1]))  # a fresh subset each epoch
    a, _ = fit.train(d, "bncnn", seed=2, epochs=2, epoch_size=300, val_stride=3, lr_decay=0.5,
                     log=io.StringIO(), **small("bncnn"))
    b, _ = fit.train(d, "bncnn", seed=2, epochs=2, epoch_size=300, val_stride=3, lr_decay=0.5,
                     log=io.StringIO(), **small("bncnn"))
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k


def test_benchmodels_are_seeded_and_of_the_paper_layout():
    """train.benchmodels: the same seed gives the same bytes; another gives other weights; the
    layout is the paper's (8@15x15, 8@11x11, dense without bias) at the size asked for."""
    from train import benchmodels, native
    a = native.encode(benchmodels.build(6, 30, 30, 5, seed=1), (6, 30, 30), 100.0, range(5))
    b = native.encode(benchmodels.build(6, 30, 30, 5, seed=1), (6, 30, 30), 100.0, range(5))
    c = native.encode(benchmodels.build(6, 30, 30, 5, seed=2), (6, 30, 30), 100.0, range(5))
    assert a == b and a != c
    m = benchmodels.build(6, 30, 30, 5, seed=1)
    convs = [l for l in m.sequential if isinstance(l, torch.nn.Conv2d)]
    assert [tuple(c.weight.shape) for c in convs] == [(8, 6, 15, 15), (8, 8, 11, 11)]
    assert m.sequential[11].weight.shape == (5, 8 * 6 * 6) and m.sequential[11].bias is None
    assert benchmodels.name(40, 100, 100, 64) == "bncnn_40x100x100_64.retinad"
