"""The measurements of the paper experiments (train.experiments, train.recurrent) and the native
reader (train.native.read/load) on small synthetic cases whose answer is known."""
import numpy as np
import pytest
import torch

from train import experiments, models, native, recurrent


def small_bncnn(seed=1, noise=0.05):
    torch.manual_seed(seed)
    m = models.BNCNN(n_units=3, img_shape=(4, 12, 12), chans=(3, 2), ksizes=(5, 3), noise=noise)
    with torch.no_grad():
        for i in (2, 8, 12):
            m.sequential[i].running_mean.normal_(0, 0.3)
            m.sequential[i].running_var.uniform_(0.3, 2)
            m.sequential[i].weight.uniform_(0.5, 1.5)
            m.sequential[i].bias.normal_(0, 0.2)
    return m.eval()


def windows(n, seed=2):
    return torch.from_numpy(np.random.default_rng(seed).standard_normal((n, 4, 12, 12)).astype(np.float32))


def test_native_load_rebuilds_the_model(tmp_path):
    m, x = small_bncnn(), windows(9)
    ln = models.LN(3, (4, 12, 12))
    for model in (m, ln):
        path = str(tmp_path / "m.rtm")
        native.write(path, model, (4, 12, 12), 100.0, [0, 1, 2])
        got = native.load(path)
        assert type(got) is type(model)
        with torch.no_grad():
            torch.testing.assert_close(got(x), model.eval()(x), rtol=1e-6, atol=1e-7)


def test_native_read_refuses_a_corrupt_file(tmp_path):
    path = tmp_path / "m.rtm"
    native.write(str(path), small_bncnn(), (4, 12, 12), 100.0, [0, 1, 2])
    b = bytearray(path.read_bytes())
    b[-40] ^= 1
    path.write_bytes(bytes(b))
    with pytest.raises(ValueError, match="m.rtm: checksum mismatch"):
        native.read(str(path))
    path.write_bytes(b"not a model at all")
    with pytest.raises(ValueError, match="not a retinad model file"):
        native.read(str(path))


def test_shared_stem_run_is_the_two_models_run_separately():
    ff = small_bncnn()
    rnn = recurrent.from_stem(ff, hidden=2).eval()
    with torch.no_grad():
        for p in list(rnn.gru.parameters()) + list(rnn.readout.parameters()):
            p.normal_(0, 0.3)
    x = windows(30)
    y_ff, y_rnn = experiments.shared_stem_run(ff, rnn, x, batch=7)
    with torch.no_grad():
        np.testing.assert_allclose(y_ff, ff(x).numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(y_rnn, rnn.run(x).numpy(), rtol=1e-5, atol=1e-6)
    assert not any(p.requires_grad for p in rnn.sequential.parameters())
    with torch.no_grad():
        rnn.sequential[0].weight.add_(1e-3)
    with pytest.raises(ValueError, match="stem is not the feed-forward"):
        experiments.shared_stem_run(ff, rnn, x)


def test_recurrent_training_lowers_the_loss():
    # Targets from a "teacher" recurrent model on the same stem: the student's GRU and
    # readout must learn to predict them better than its initial state does.
    ff = small_bncnn()

    class D:  # the part of data.Dataset the trainer uses
        history = 4
        windows = windows(600, seed=5)

    teacher = recurrent.from_stem(ff, hidden=2).eval()
    with torch.no_grad():
        for p in list(teacher.gru.parameters()) + list(teacher.readout.parameters()):
            p.normal_(0, 0.5)
        D.targets = torch.from_numpy(np.random.default_rng(1).poisson(teacher.run(D.windows).numpy()).astype(np.float32))
    student = recurrent.from_stem(ff, hidden=2)
    chunks = np.arange(0, 400, 50)
    val = np.arange(450, 600)
    before = student.eval().run(D.windows[val]).detach()
    student = recurrent.train(student, D, chunks, 50, val, epochs=8, batch=4, burn_in=10, lr=1e-2, log=open("/dev/null", "w"))
    after = student.run(D.windows[val]).detach()
    loss = lambda y: (y - D.targets[val] * torch.log(y + 1e-8)).mean().item()  # noqa: E731
    assert loss(after) < loss(before) - 1e-3
    stem = dict(ff.sequential.state_dict())
    for k, v in student.sequential.state_dict().items():
        if k in stem:
            assert torch.equal(v, stem[k]), f"the frozen stem's {k} changed"


def contrast_rates(T, period, adapt, seed=3):
    """A toy cell on a contrast-step stimulus: rate = gain(t) * (filter * stimulus), where the
    gain falls after each step up with time constant adapt (None: constant gain)."""
    s = experiments.contrast_steps(T, period, 0.05, 0.35, seed, 1, 1)[:, 0, 0].astype(np.float64)
    filt = np.array([0.0, 0.5, 1.0, 0.5, -0.3, -0.2])
    drive = np.convolve(s, filt)[:T]
    t_in = np.arange(T) % period
    high = (np.arange(T) // period) % 2 == 1
    gain = np.ones(T) if adapt is None else np.where(high, 0.3 + 0.7 * np.exp(-t_in / adapt), 1.0)
    return s, 5 + 10 * gain * drive


def test_gain_curve_measures_adaptation():
    period = 1000
    s, r = contrast_rates(8 * period, period, adapt=200.0)
    curve, ratio = experiments.gain_curve(s, r, period)
    late = 0.3 + 0.7 * np.exp(-np.arange(700, 1000) / 200.0).mean()
    early = 0.3 + 0.7 * np.exp(-np.arange(10, 110) / 200.0).mean()
    assert ratio == pytest.approx(late / early, abs=0.03)  # 0.37
    assert curve[0] > curve[3] > curve[-1]
    s, r = contrast_rates(8 * period, period, adapt=None)
    _, ratio = experiments.gain_curve(s, r, period)
    assert ratio == pytest.approx(1.0, abs=0.02)


def test_fano_of_poisson_dead_time_and_a_fixed_count():
    rng = np.random.default_rng(0)
    rate = np.full((2000, 2), 40.0)  # spikes/s, 10 ms bins
    poisson = rng.poisson(rate / 100, size=(30, 2000, 2)).astype(np.float32)
    assert experiments.fano(poisson, 5) == pytest.approx([1, 1], abs=0.08)
    dead = experiments.dead_time_counts(rate, 30, 0.004, 100.0, seed=1, sub=10)
    assert dead.mean() * 100 == pytest.approx(40, rel=0.08)  # the mean rate is kept
    assert np.all(experiments.fano(dead, 5) < 0.92)  # (1 - r d)^2 = 0.71 for long windows
    fixed = np.ones((5, 100, 1), np.float32)
    assert experiments.fano(fixed, 10) == pytest.approx([0.0])


def test_stochastic_rates_are_the_model_with_noise_and_seeded():
    x = windows(20)
    quiet = small_bncnn(noise=0.0)
    with torch.no_grad():
        np.testing.assert_allclose(experiments.stochastic_rates(quiet, x, 2, seed=1, batch=6)[1], quiet(x).numpy(), rtol=1e-5)
    noisy = small_bncnn(noise=0.3)
    a, b = experiments.stochastic_rates(noisy, x, 3, seed=1), experiments.stochastic_rates(noisy, x, 3, seed=1)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a[0] - a[1]).max() > 1e-3


def test_first_lobe_sets_polarity_and_latency():
    lags = np.arange(20) * 10.0  # ms
    on = np.exp(-((lags - 50) / 20) ** 2) - 0.6 * np.exp(-((lags - 120) / 30) ** 2)  # lag order
    assert experiments.first_lobe(on[::-1], 100.0) == (True, 50.0)
    assert experiments.first_lobe(-on[::-1], 100.0) == (False, 50.0)


def write_glm(path, filt, bias):
    """A native GLM file (infer/doc.go) with a stimulus filter and bias only."""
    import json
    import struct
    import zlib
    cells = filt.shape[0]
    tensors = [("glm.stimulus_filter", filt), ("glm.bias", bias)]
    header = {"kind": "glm", "name": "test", "input": {"history": filt.shape[1], "height": filt.shape[2],
              "width": filt.shape[3], "frame_rate_hz": 100.0, "mean": 0.0, "std": 1.0},
              "output_scale": 100.0, "cells": list(range(cells)), "layers": [],
              "glm": {"stimulus_filter": "glm.stimulus_filter", "bias": "glm.bias"}, "tensors": [], "data_bytes": 0}
    blobs = []
    for name, a in tensors:
        a = np.ascontiguousarray(a, dtype="<f4")
        header["tensors"].append({"name": name, "shape": list(a.shape), "offset": header["data_bytes"]})
        blobs.append(a.tobytes() + b"\0" * ((-a.nbytes) % native.ALIGN))
        header["data_bytes"] += len(blobs[-1])
    js = json.dumps(header).encode()
    n = (16 + len(js) + native.ALIGN - 1) // native.ALIGN * native.ALIGN - 16
    out = native.MAGIC + struct.pack("<II", 1, n) + js + b" " * (n - len(js)) + b"".join(blobs)
    with open(path, "wb") as f:
        f.write(out + struct.pack("<I", zlib.crc32(out) & 0xFFFFFFFF))


def test_predict_glm_is_the_stimulus_part_and_matches_retinad(tmp_path):
    import os
    import subprocess
    from train import report
    rng = np.random.default_rng(4)
    filt = (0.05 * rng.standard_normal((2, 4, 6, 6))).astype(np.float32)
    bias = np.array([-2.0, -1.0], np.float32)
    path = str(tmp_path / "glm.rtm")
    write_glm(path, filt, bias)
    stim = rng.standard_normal((50, 6, 6)).astype(np.float32)

    class D:
        windows = torch.from_numpy(stim).as_strided((47, 4, 6, 6), (36, 36, 6, 1))

    idx = np.arange(0, 47, 3)
    got = report.predict_glm(path, D, idx)
    want = np.exp(np.einsum("nthw,cthw->nc", D.windows[idx].numpy(), filt) + bias)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    binary = os.path.join(os.path.dirname(__file__), "..", "..", "bin", "retinad")
    if not os.path.exists(binary):
        pytest.skip("no bin/retinad (go build -o bin/retinad ./cmd/retinad)")
    np.save(tmp_path / "s.npy", stim)
    subprocess.run([binary, "predict", "--model", path, "--stimulus", str(tmp_path / "s.npy"),
                    "--out", str(tmp_path / "r.npy"), "--workers", "1"], check=True, capture_output=True)
    rates = np.load(tmp_path / "r.npy")[3:] / 100  # no history filter: the engine's rate is the stimulus part
    np.testing.assert_allclose(got, rates[idx], rtol=1e-4)
    with pytest.raises(ValueError, match="want glm"):
        m = str(tmp_path / "cnn.rtm")
        native.write(m, models.LN(2, (4, 6, 6)), (4, 6, 6), 100.0, [0, 1])
        report.predict_glm(m, D, idx)
