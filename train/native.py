"""Writer of retinad's native model file (the spec is in infer/doc.go): version 1, or version 2
for a model with a recurrent (convgru) layer."""
import json
import struct
import zlib

import numpy as np
import torch
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


def read(path):
    """Reads a native model file: (header dict, {tensor name: float32 array}). Checks the magic,
    the version (1 or 2) and the CRC, so that a truncated or foreign file is refused by name."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 20 or buf[:8] != MAGIC:
        raise ValueError(f"train: native: {path}: not a retinad model file (no {MAGIC.decode()} magic)")
    version, n = struct.unpack("<II", buf[8:16])
    if version not in (1, 2):
        raise ValueError(f"train: native: {path}: version {version}, want 1 or 2")
    crc = struct.unpack("<I", buf[-4:])[0]
    if zlib.crc32(buf[:-4]) & 0xFFFFFFFF != crc:
        raise ValueError(f"train: native: {path}: checksum mismatch (truncated or corrupt file)")
    header = json.loads(buf[16:16 + n])
    base = 16 + n
    tensors = {}
    for t in header["tensors"]:
        count = int(np.prod(t["shape"]))
        start = base + t["offset"]
        if start + 4 * count > len(buf) - 4:
            raise ValueError(f"train: native: {path}: tensor {t['name']} runs past the end of the file")
        tensors[t["name"]] = np.frombuffer(buf, dtype="<f4", count=count, offset=start).reshape(t["shape"]).copy()
    return header, tensors


def load(path):
    """Rebuilds the PyTorch model (BNCNN or LN, as train wrote them) of a native model file, in
    eval mode: the inverse of write for the layer lists train produces."""
    header, tensors = read(path)
    inp = header["input"]
    img = (inp["history"], inp["height"], inp["width"])
    cells = len(header["cells"])
    layers = header["layers"]
    if header["kind"] == "ln":
        model = models.LN(cells, img)
        params = [model.linear]
    elif header["kind"] == "cnn" and not any(l["type"] == "convgru" for l in layers):
        convs = [l for l in layers if l["type"] == "conv2d"]
        noise = next((l["std"] for l in layers if l["type"] == "noise"), 0.0)
        shapes = [tensors[c["weight"]].shape for c in convs]
        if len(convs) != 2:
            raise ValueError(f"train: native: {path}: {len(convs)} conv2d layers, want the BN-CNN's 2")
        model = models.BNCNN(cells, img, chans=[s[0] for s in shapes], ksizes=[s[2] for s in shapes],
                             noise=noise, bias=convs[0].get("bias") is not None,
                             linear_bias=False, softplus=layers[-1]["type"] == "softplus")
        params = [m for m in model.sequential if isinstance(m, (nn.Conv2d, nn.BatchNorm1d, nn.Linear))]
    else:
        raise ValueError(f"train: native: {path}: kind {header['kind']!r} with layers "
                         f"{[l['type'] for l in layers]}: only the BN-CNN and LN are rebuilt")
    with_tensors = [l for l in layers if l["type"] in ("conv2d", "batchnorm", "dense")]
    if len(with_tensors) != len(params):
        raise ValueError(f"train: native: {path}: {len(with_tensors)} weighted layers, want {len(params)}")
    with torch.no_grad():
        for layer, mod in zip(with_tensors, params):
            for role in ("weight", "bias", "running_mean", "running_var"):
                if layer.get(role) is not None:
                    getattr(mod, role).copy_(torch.from_numpy(tensors[layer[role]].reshape(getattr(mod, role).shape)))
    return model.eval()
