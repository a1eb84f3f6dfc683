"""The paper's BN-CNN (McIntosh et al. 2016, as torch-deep-retina builds it) and the LN baseline.

Both models take stimulus contrast windows [N, history, H, W] and return the expected spike
count per bin [N, cells] (multiply by the frame rate for spikes/s). BNCNN's module list has
exactly torch-deep-retina's ``sequential.N`` layout, so its state_dict is a valid
torch-deep-retina BNCNN checkpoint.
"""
import torch
from torch import nn


class GaussianNoise(nn.Module):
    """Adds N(0, std^2) noise in training mode only."""

    def __init__(self, std):
        super().__init__()
        self.std = std

    def forward(self, x):
        if self.training and self.std > 0:
            return x + self.std * torch.randn_like(x)
        return x


class Reshape(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x.reshape(self.shape)


class BNCNN(nn.Module):
    """conv -> BN(flat) -> noise -> ReLU -> conv -> BN(flat) -> noise -> ReLU -> dense -> BN -> softplus."""

    def __init__(self, n_units=16, img_shape=(40, 50, 50), chans=(8, 8), ksizes=(15, 11),
                 noise=0.05, bias=True, linear_bias=False, softplus=True, bn_moment=0.01):
        super().__init__()
        self.hyps = dict(n_units=n_units, img_shape=list(img_shape), chans=list(chans),
                         ksizes=list(ksizes), noise=noise, bias=bias, linear_bias=linear_bias,
                         softplus=softplus, bn_moment=bn_moment)
        h, w = img_shape[1] - ksizes[0] + 1, img_shape[2] - ksizes[0] + 1
        h2, w2 = h - ksizes[1] + 1, w - ksizes[1] + 1
        if h2 <= 0 or w2 <= 0:
            raise ValueError(f"train: kernels {ksizes} do not fit image {img_shape}")
        self.shapes = [(h, w), (h2, w2)]
        mods = [
            nn.Conv2d(img_shape[0], chans[0], ksizes[0], bias=bias),          # 0
            nn.Flatten(),                                                      # 1
            nn.BatchNorm1d(chans[0] * h * w, eps=1e-3, momentum=bn_moment),    # 2
            GaussianNoise(noise),                                              # 3
            nn.ReLU(),                                                         # 4
            Reshape((-1, chans[0], h, w)),                                     # 5
            nn.Conv2d(chans[0], chans[1], ksizes[1], bias=bias),              # 6
            nn.Flatten(),                                                      # 7
            nn.BatchNorm1d(chans[1] * h2 * w2, eps=1e-3, momentum=bn_moment),  # 8
            GaussianNoise(noise),                                              # 9
            nn.ReLU(),                                                         # 10
            nn.Linear(chans[1] * h2 * w2, n_units, bias=linear_bias),          # 11
            nn.BatchNorm1d(n_units, eps=1e-3, momentum=bn_moment),             # 12
            nn.Softplus() if softplus else Exponential(),                      # 13
        ]
        self.sequential = nn.Sequential(*mods)

    def forward(self, x):
        return self.sequential(x)

    def l2_params(self):
        return [self.sequential[0].weight, self.sequential[6].weight]


class Exponential(nn.Module):
    def forward(self, x):
        return torch.exp(x)


class LN(nn.Module):
    """One spatiotemporal linear filter per cell (history x H x W) plus bias, then softplus."""

    def __init__(self, n_units=16, img_shape=(40, 50, 50)):
        super().__init__()
        self.hyps = dict(n_units=n_units, img_shape=list(img_shape))
        d = img_shape[0] * img_shape[1] * img_shape[2]
        self.flatten = nn.Flatten()
        self.linear = nn.Linear(d, n_units, bias=True)
        nn.init.normal_(self.linear.weight, std=1e-3)
        nn.init.zeros_(self.linear.bias)
        self.softplus = nn.Softplus()

    def forward(self, x):
        return self.softplus(self.linear(self.flatten(x)))

    def l2_params(self):
        return [self.linear.weight]


class ConvGRUCell(nn.Module):
    """torch.nn.GRUCell with each matrix product a same-padded 2-D convolution (retinad's
    convgru layer, infer/doc.go): gates r, z, n in that order along the kernels' first axis,

        r = sigmoid(W_ir*x + b_ir + W_hr*h + b_hr), z = sigmoid(W_iz*x + b_iz + W_hz*h + b_hz)
        n = tanh(W_in*x + b_in + r * (W_hn*h + b_hn)),  h' = (1 - z) * n + z * h

    x [N, in, H, W], h [N, hidden, H, W] (zeros at the start of a sequence); returns h'.
    """

    def __init__(self, in_chans, hidden, ksize=3):
        super().__init__()
        if ksize % 2 != 1:
            raise ValueError(f"train: convgru kernel {ksize} must be odd (same padding)")
        self.hidden = hidden
        self.ih = nn.Conv2d(in_chans, 3 * hidden, ksize, padding=ksize // 2)
        self.hh = nn.Conv2d(hidden, 3 * hidden, ksize, padding=ksize // 2)

    def forward(self, x, h):
        gi, gh = self.ih(x), self.hh(h)
        # split by a fixed size, not chunk: ONNX export then writes one Split with constant
        # sizes, which retinad's importer reads, where chunk's export computes them from shapes.
        ir, iz, i_n = gi.split(self.hidden, dim=1)
        hr, hz, hn = gh.split(self.hidden, dim=1)
        r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
        n = torch.tanh(i_n + r * hn)
        return (1 - z) * n + z * h


class RecurrentBNCNN(nn.Module):
    """The BN-CNN with a conv-GRU after its convolutions (the paper's recurrent variant, in the
    spirit of torch-deep-retina's RNNCNN with rnn_type ConvGRUCell, but with the recurrence in
    one place): conv -> BN -> noise -> ReLU -> conv -> BN -> noise -> ReLU -> ConvGRUCell ->
    dense -> BN -> softplus. ``sequential`` holds the feed-forward stem (BNCNN's indices 0-10),
    ``gru`` the recurrent unit and ``readout`` the rest, so each is one retinad layer list.

    forward(x, h) runs one step on windows x [N, history, H, W] with state h (None: zeros) and
    returns (spikes per bin [N, cells], new state); run(x) runs a sequence of consecutive
    windows [T, history, H, W] as one session (state zero at its start).
    """

    def __init__(self, n_units=16, img_shape=(40, 50, 50), chans=(8, 8), ksizes=(15, 11), hidden=4,
                 gru_ksize=3, noise=0.05, bias=True, linear_bias=False, softplus=True, bn_moment=0.01):
        super().__init__()
        ff = BNCNN(n_units, img_shape, chans, ksizes, noise, bias, linear_bias, softplus, bn_moment)
        self.hyps = dict(ff.hyps, hidden=hidden, gru_ksize=gru_ksize)
        self.shapes = ff.shapes
        h2, w2 = ff.shapes[1]
        self.sequential = nn.Sequential(*list(ff.sequential)[:11], Reshape((-1, chans[1], h2, w2)))
        self.gru = ConvGRUCell(chans[1], hidden, gru_ksize)
        self.readout = nn.Sequential(
            nn.Flatten(),
            nn.Linear(hidden * h2 * w2, n_units, bias=linear_bias),
            nn.BatchNorm1d(n_units, eps=1e-3, momentum=bn_moment),
            nn.Softplus() if softplus else Exponential(),
        )

    def initial_state(self, n, like):
        h2, w2 = self.shapes[1]
        return torch.zeros(n, self.gru.hidden, h2, w2, dtype=like.dtype, device=like.device)

    def forward(self, x, h=None):
        f = self.sequential(x)
        if h is None:
            h = self.initial_state(x.shape[0], f)
        h = self.gru(f, h)
        return self.readout(h), h

    def run(self, x):
        h, out = None, []
        for t in range(x.shape[0]):
            y, h = self.forward(x[t:t + 1], h)
            out.append(y)
        return torch.cat(out)

    def l2_params(self):
        return [self.sequential[0].weight, self.sequential[6].weight]


def build(kind, n_units, img_shape, **kw):
    if kind == "bncnn":
        return BNCNN(n_units=n_units, img_shape=img_shape, **kw)
    if kind == "rbncnn":
        return RecurrentBNCNN(n_units=n_units, img_shape=img_shape, **kw)
    if kind == "ln":
        return LN(n_units=n_units, img_shape=img_shape)
    raise ValueError(f"train: unknown model kind {kind!r} (want bncnn, rbncnn or ln)")
