"""ONNX's own checker and shape inference accept the files retinad's Go exporter writes
(infer/onnx/testdata, kept equal to onnx.Export's output by a Go test)."""
import os

import onnx
import pytest

DIR = os.path.join(os.path.dirname(__file__), "..", "..", "infer", "onnx", "testdata")


@pytest.mark.parametrize("name", ["cnn_small.onnx", "ln_small.onnx", "gru_small.onnx"])
def test_checker_accepts_go_export(name):
    m = onnx.load(os.path.join(DIR, name))
    onnx.checker.check_model(m, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(m, strict_mode=True)
    out = inferred.graph.output[0].type.tensor_type.shape.dim
    assert out[1].dim_value == 3  # infertest.Small has 3 cells
    meta = {p.key: p.value for p in m.metadata_props}
    assert meta["retinad.frame_rate"] == "100"
