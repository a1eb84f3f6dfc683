"""Writes the golden fixtures of retinad's importers (run from the repository root):

    /usr/bin/python3 -m train.golden infer/torchimport/testdata

A small BNCNN with random weights and non-trivial batch-norm statistics, saved the way
torch-deep-retina saves it (model_type, model_state_dict, model_hyps, norm_stats as numpy
scalars, optimiser state), its torch.onnx.export, and PyTorch's rates on a real photograph
(skimage's camera, jittered) and on binary white noise.
"""
import os
import sys

import numpy as np
import torch

from . import export, models, native

HIST, H, W = 8, 16, 16


def stimulus(rng, T=48):
    from skimage import data, transform
    img = transform.resize(data.camera().astype(np.float64) / 255.0, (64, 64), anti_aliasing=True)
    nat = np.empty((T, H, W))
    y, x = 20, 20
    for t in range(T):  # fixational jitter over the photograph
        y = int(np.clip(y + rng.integers(-2, 3), 0, 64 - H))
        x = int(np.clip(x + rng.integers(-2, 3), 0, 64 - W))
        nat[t] = img[y:y + H, x:x + W]
    nat = (nat - nat.mean()) / nat.std() * 0.35
    wn = rng.choice([-0.5, 0.5], size=(T, H, W))
    return np.concatenate([nat, wn]).astype(np.float32)


def main(out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(7)
    rng = np.random.default_rng(7)
    m = models.BNCNN(n_units=4, img_shape=(HIST, H, W), chans=(3, 4), ksizes=(5, 3))
    with torch.no_grad():
        for i in (2, 8, 12):
            bn = m.sequential[i]
            n = bn.num_features
            bn.running_mean.copy_(torch.randn(n) * 0.3)
            bn.running_var.copy_(torch.rand(n) * 2 + 0.2)
            bn.weight.copy_(torch.rand(n) + 0.5)
            bn.bias.copy_(torch.randn(n) * 0.2)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    m.train()
    m(torch.randn(4, HIST, H, W)).sum().backward()
    opt.step()  # real optimiser state to be ignored; batch stats move a little too
    m.eval()
    mean, std, rate = 0.05, 0.8, 100.0
    export.write_checkpoint(m, os.path.join(out, "bncnn.pt"), norm_mean=mean, norm_std=std,
                            frame_rate=rate, optimizer=opt, hyps_key="model_hyps")
    export.write_onnx(m, (HIST, H, W), rate, os.path.join(out, "bncnn_torch.onnx"), norm_mean=mean, norm_std=std)
    native.write(os.path.join(out, "bncnn_python.rtm"), m, (HIST, H, W), rate, range(4), mean, std, "golden BNCNN")
    s = stimulus(rng)
    x = torch.from_numpy((s - mean) / std)
    win = x.unfold(0, HIST, 1).permute(0, 3, 1, 2).contiguous()  # [T-HIST+1, HIST, H, W]
    with torch.no_grad():
        r = (m(win) * rate).numpy().astype(np.float32)
    rates = np.full((s.shape[0], 4), np.nan, np.float32)
    rates[HIST - 1:] = r
    np.save(os.path.join(out, "stimulus.npy"), s)
    np.save(os.path.join(out, "rates.npy"), rates)

    ln = models.LN(n_units=4, img_shape=(HIST, H, W))
    with torch.no_grad():
        ln.linear.weight.copy_(torch.randn(4, HIST * H * W) * 0.03)
        ln.linear.bias.copy_(torch.randn(4) * 0.5)
    ln.eval()
    export.write_onnx(ln, (HIST, H, W), rate, os.path.join(out, "ln_torch.onnx"), norm_mean=mean, norm_std=std)
    native.write(os.path.join(out, "ln_python.rtm"), ln, (HIST, H, W), rate, range(4), mean, std, "golden LN")
    with torch.no_grad():
        r = (ln(win) * rate).numpy().astype(np.float32)
    ln_rates = np.full((s.shape[0], 4), np.nan, np.float32)
    ln_rates[HIST - 1:] = r
    np.save(os.path.join(out, "ln_rates.npy"), ln_rates)
    print(f"wrote {out}: bncnn.pt bncnn_torch.onnx ln_torch.onnx stimulus.npy {s.shape} rates.npy ln_rates.npy")
    recurrent(out)


def recurrent(out, T=600):
    """rbncnn.pt: a RecurrentBNCNN checkpoint (random weights, batch statistics moved), and
    PyTorch's rates over T bins of white noise whose contrast steps every 100 bins, run as one
    session (rbncnn_stimulus.npy, rbncnn_rates.npy). Alone: python3 -c 'from train import
    golden; golden.recurrent("infer/torchimport/testdata")'."""
    torch.manual_seed(8)
    rng = np.random.default_rng(8)
    hist, h, w = 6, 10, 10
    m = models.RecurrentBNCNN(n_units=3, img_shape=(hist, h, w), chans=(3, 4), ksizes=(5, 3), hidden=2, gru_ksize=3,
                              linear_bias=True)
    with torch.no_grad():
        for bn in (m.sequential[2], m.sequential[8], m.readout[2]):
            n = bn.num_features
            bn.running_mean.copy_(torch.randn(n) * 0.3)
            bn.running_var.copy_(torch.rand(n) * 2 + 0.2)
            bn.weight.copy_(torch.rand(n) + 0.5)
            bn.bias.copy_(torch.randn(n) * 0.2)
        for p in m.gru.parameters():
            p.mul_(3)  # a state that moves visibly
    m.eval()
    mean, std, rate = 0.05, 0.8, 100.0
    export.write_checkpoint(m, os.path.join(out, "rbncnn.pt"), norm_mean=mean, norm_std=std, frame_rate=rate)
    contrast = np.where((np.arange(T) // 100) % 2 == 0, 0.2, 0.8)
    s = (mean + contrast[:, None, None] * rng.standard_normal((T, h, w))).astype(np.float32)
    x = torch.from_numpy((s.astype(np.float64) - mean) / std)
    win = x.unfold(0, hist, 1).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        r = (m.double().run(win) * rate).numpy().astype(np.float32)
    rates = np.full((T, 3), np.nan, np.float32)
    rates[hist - 1:] = r
    np.save(os.path.join(out, "rbncnn_stimulus.npy"), s)
    np.save(os.path.join(out, "rbncnn_rates.npy"), rates)
    print(f"wrote {out}: rbncnn.pt rbncnn_stimulus.npy {s.shape} rbncnn_rates.npy")
    recurrent_onnx(out)


def recurrent_onnx(out):
    """rbncnn_torch.onnx: rbncnn.pt's model as export.write_onnx writes a recurrent one, a step
    (stimulus and state in, rates and next_state out). Alone: python3 -c 'from train import
    golden; golden.recurrent_onnx("infer/torchimport/testdata")'."""
    ck = torch.load(os.path.join(out, "rbncnn.pt"))
    hy = ck["hyps"]
    m = models.RecurrentBNCNN(n_units=hy["n_units"], img_shape=tuple(hy["img_shape"]), chans=tuple(hy["chans"]),
                              ksizes=tuple(hy["ksizes"]), hidden=hy["hidden"], gru_ksize=hy["gru_ksize"],
                              linear_bias=hy["linear_bias"])
    m.load_state_dict(ck["model_state_dict"])
    m.eval()
    export.write_onnx(m, tuple(hy["img_shape"]), ck["frame_rate"], os.path.join(out, "rbncnn_torch.onnx"),
                      norm_mean=ck["norm_stats"]["mean"], norm_std=ck["norm_stats"]["std"])
    print(f"wrote {out}: rbncnn_torch.onnx")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "infer/torchimport/testdata")
