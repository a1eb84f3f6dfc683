package torchimport

import (
	"fmt"

	"retinad/infer"
	"retinad/infer/onnx"
)

// Import reads a torch-deep-retina checkpoint into a native model. The checkpoint's
// norm_stats and frame_rate win over d; a checkpoint without frame_rate needs d.FrameRate.
func Import(path string, d onnx.Defaults) (*infer.Model, error) {
	ck, err := Read(path)
	if err != nil {
		return nil, err
	}
	g, err := ck.Graph()
	if err != nil {
		return nil, fmt.Errorf("torchimport: %s: %w", path, err)
	}
	if d.Name == "" {
		d.Name = ck.ModelType
	}
	m, err := onnx.ImportGraph(g, d)
	if err != nil {
		return nil, fmt.Errorf("torchimport: %s: %w", path, err)
	}
	if ck.FrameRate > 0 {
		// Outputs were spikes per bin; the graph's final Mul by the frame rate is the scale.
		m.Input.FrameRate = ck.FrameRate
	}
	return m, nil
}
