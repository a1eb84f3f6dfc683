"""Writer of retinad's native model file (the spec is in infer/doc.go): version 1, or version 2
for a model with a recurrent (convgru) layer."""
import json
import struct
import zlib

import numpy as np
from torch import nn

from . import models

MAGIC = b"RETINADM"
ALIGN = 64


def _layers(model):
    """Yields (layer dict, {role: array}) in retinad's layer vocabulary."""
    if isinstance(model, models.LN):
        yield {"type": "dense"}, {"weight": model.linear.weight, "bias": model.linear.bias}
        yield {"type": "softplus"}, {}
        return
    mods = list(model.sequential)
    if isinstance(model, models.RecurrentBNCNN):
        mods += [model.gru] + list(model.readout)
    for mod in mods:
        if isinstance(mod, models.ConvGRUCell):
            yield {"type": "convgru"}, {"weight": mod.ih.weight, "bias": mod.ih.bias,
                                        "weight_hh": mod.hh.weight, "bias_hh": mod.hh.bias}
        elif isinstance(mod, nn.Conv2d):
            yield {"type": "conv2d"}, {"weight": mod.weight, "bias": mod.bias}
        elif isinstance(mod, nn.BatchNorm1d):
            yield ({"type": "batchnorm", "eps": float(mod.eps), "per": "unit"},
                   {"running_mean": mod.running_mean, "running_var": mod.running_var,
                    "weight": mod.weight, "bias": mod.bias})
        elif isinstance(mod, models.GaussianNoise):
            if mod.std > 0:
                yield {"type": "noise", "std": float(mod.std)}, {}
        elif isinstance(mod, nn.ReLU):
            yield {"type": "relu"}, {}
        elif isinstance(mod, nn.Linear):
            yield {"type": "dense"}, {"weight": mod.weight, "bias": mod.bias}
        elif isinstance(mod, nn.Softplus):
            yield {"type": "softplus"}, {}
        elif isinstance(mod, models.Exponential):
            yield {"type": "exp"}, {}
        elif isinstance(mod, (nn.Flatten, models.Reshape)):
            continue  # retinad's dense flattens, its per-unit batch norm keeps the shape
        else:
            raise ValueError(f"train: native: no retinad layer for {type(mod).__name__}")


def encode(model, img_shape, frame_rate, cell_ids, mean=0.0, std=1.0, name=""):
    """The file's bytes. The model outputs spikes per bin, so output_scale is the frame rate."""
    header = {"kind": "ln" if isinstance(model, models.LN) else "cnn", "name": name,
              "input": {"history": int(img_shape[0]), "height": int(img_shape[1]), "width": int(img_shape[2]),
                        "frame_rate_hz": float(frame_rate), "mean": float(mean), "std": float(std)},
              "output_scale": float(frame_rate), "cells": [int(c) for c in cell_ids],
              "layers": [], "tensors": [], "data_bytes": 0}
    blobs = []
    for i, (layer, tensors) in enumerate(_layers(model)):
        for role, t in tensors.items():
            if t is None:
                continue
            a = np.ascontiguousarray(t.detach().cpu().numpy(), dtype="<f4")
            tname = f"layers.{i}.{role}"
            header["tensors"].append({"name": tname, "shape": list(a.shape), "offset": header["data_bytes"]})
            layer[role] = tname
            blobs.append(a.tobytes())
            header["data_bytes"] += (a.nbytes + ALIGN - 1) // ALIGN * ALIGN
        header["layers"].append(layer)
    js = json.dumps(header, separators=(",", ":")).encode()
    n = (16 + len(js) + ALIGN - 1) // ALIGN * ALIGN - 16
    version = 2 if any(l["type"] == "convgru" for l in header["layers"]) else 1
    out = bytearray(MAGIC + struct.pack("<II", version, n) + js + b" " * (n - len(js)))
    for b in blobs:
        out += b + b"\0" * ((-len(b)) % ALIGN)
    out += struct.pack("<I", zlib.crc32(bytes(out)) & 0xFFFFFFFF)
    return bytes(out)


def write(path, model, img_shape, frame_rate, cell_ids, mean=0.0, std=1.0, name=""):
    model.eval()
    with open(path, "wb") as f:
        f.write(encode(model, img_shape, frame_rate, cell_ids, mean, std, name))
