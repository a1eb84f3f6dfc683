"""Writers: ONNX (torch.onnx.export, opset 13) and torch-deep-retina checkpoints."""
import numpy as np
import torch


class _Rates(torch.nn.Module):
    """Wraps a model so that it outputs spikes/s (count per bin x frame rate)."""

    def __init__(self, model, frame_rate):
        super().__init__()
        self.model = model
        self.frame_rate = float(frame_rate)

    def forward(self, x):
        return self.model(x) * self.frame_rate


class _StepRates(torch.nn.Module):
    """Wraps a RecurrentBNCNN as one step: (window, state) -> (spikes/s, next state)."""

    def __init__(self, model, frame_rate):
        super().__init__()
        self.model = model
        self.frame_rate = float(frame_rate)

    def forward(self, x, h):
        y, h = self.model(x, h)
        return y * self.frame_rate, h


def write_onnx(model, img_shape, frame_rate, path, cell_ids=None, norm_mean=0.0, norm_std=1.0, name=""):
    """ONNX graph: input "stimulus" [N, history, H, W] (normalised contrast, oldest frame
    first), output "rates" [N, C] spikes/s; retinad's metadata (frame rate, normalisation, cell
    ids) in metadata_props, where `retinad model import` reads it.

    A RecurrentBNCNN is written as one step, since an ONNX graph keeps no state: a second input
    "state" [N, hidden, h, w] (the conv-GRU's state before this step, zeros at a session's
    first window) and a second output "next_state" of the same shape, which the caller feeds
    back as the next step's "state" (infer/onnx/gru.go reads this graph)."""
    x = torch.zeros((2,) + tuple(img_shape))
    if hasattr(model, "gru"):
        wrapped = _StepRates(model, frame_rate).eval()  # export restores the wrapper's mode afterwards
        h = model.initial_state(2, x)
        torch.onnx.export(wrapped, (x, h), path, opset_version=13,
                          input_names=["stimulus", "state"], output_names=["rates", "next_state"],
                          dynamic_axes={v: {0: "N"} for v in ("stimulus", "state", "rates", "next_state")},
                          do_constant_folding=True)
    else:
        wrapped = _Rates(model, frame_rate).eval()
        torch.onnx.export(wrapped, x, path, opset_version=13,
                          input_names=["stimulus"], output_names=["rates"],
                          dynamic_axes={"stimulus": {0: "N"}, "rates": {0: "N"}},
                          do_constant_folding=True)
    import onnx
    m = onnx.load(path)
    meta = {"retinad.frame_rate": repr(float(frame_rate)), "retinad.norm_mean": repr(float(norm_mean)),
            "retinad.norm_std": repr(float(norm_std))}
    if cell_ids is not None:
        meta["retinad.cells"] = ",".join(str(int(c)) for c in cell_ids)
    if name:
        meta["retinad.name"] = name
    onnx.helper.set_model_props(m, meta)
    onnx.save(m, path)


def write_checkpoint(model, path, norm_mean=0.0, norm_std=1.0, frame_rate=100.0, optimizer=None,
                     hyps_key="hyps"):
    """A torch-deep-retina checkpoint: model_type, model_state_dict, hyps (or model_hyps),
    norm_stats (numpy scalars, as the lab code saves them) and optimiser state."""
    ck = {
        "model_type": type(model).__name__,
        "model_state_dict": model.state_dict(),
        hyps_key: dict(model.hyps),
        "norm_stats": {"mean": np.float32(norm_mean), "std": np.float32(norm_std)},
        "frame_rate": float(frame_rate),
        "epoch": 0,
        "loss": 0.0,
    }
    if optimizer is not None:
        ck["optim_state_dict"] = optimizer.state_dict()
    torch.save(ck, path)
