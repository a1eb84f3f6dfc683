package torchimport

import (
	"fmt"
	"strings"

	"retinad/infer"
	"retinad/infer/onnx"
)

// Import reads a torch-deep-retina checkpoint into a native model. The checkpoint's
// norm_stats and frame_rate win over d; a checkpoint without frame_rate needs d.FrameRate.
// Warnings (see ImportWarn) are dropped.
func Import(path string, d onnx.Defaults) (*infer.Model, error) {
	return ImportWarn(path, d, func(string) {})
}

// ImportWarn is Import that reports, through warn, what it assumed: a checkpoint without
// norm_stats is normalised with d.Mean and d.Std, which is right only if those are the
// values the network was trained with.
func ImportWarn(path string, d onnx.Defaults, warn func(string)) (*infer.Model, error) {
	ck, err := Read(path)
	if err != nil {
		return nil, err
	}
	if !ck.HasNorm {
		std := d.Std
		if std == 0 {
			std = 1
		}
		warn(fmt.Sprintf("torchimport: %s: no norm_stats: normalising the stimulus with mean %g, std %g; if the network was trained with other values give them (retinad model import --norm-mean, --norm-std)", path, d.Mean, std))
	}
	if d.Name == "" {
		d.Name = ck.ModelType
	}
	var m *infer.Model
	if ck.ModelType == recurrentType {
		if m, err = ck.recurrentModel(d); err != nil {
			return nil, inFile{path, err}
		}
	} else {
		g, err := ck.Graph()
		if err != nil {
			return nil, inFile{path, err}
		}
		if m, err = onnx.ImportGraph(g, d); err != nil {
			return nil, fmt.Errorf("torchimport: %s: %w", path, err)
		}
	}
	if err := addNoise(m, ck); err != nil {
		return nil, fmt.Errorf("torchimport: %s: %w", path, err)
	}
	if ck.FrameRate > 0 {
		// Outputs were spikes per bin; the graph's final Mul by the frame rate is the scale.
		m.Input.FrameRate = ck.FrameRate
	}
	return m, nil
}

// addNoise puts back the BNCNN's training-time Gaussian noise (hyps "noise", the std) after
// each hidden batch norm, where torch-deep-retina has it: retinad's engines add it only in
// stochastic mode (the paper's latent noise), so deterministic rates are unchanged.
func addNoise(m *infer.Model, ck *Checkpoint) error {
	v, ok := ck.Hyps["noise"]
	if !ok {
		return nil
	}
	std, err := number(v)
	if err != nil || !(std >= 0) {
		return fmt.Errorf("hyps[\"noise\"] = %v: want a std >= 0", v)
	}
	if std == 0 {
		return nil
	}
	var out []infer.Layer
	for i, l := range m.Layers {
		out = append(out, l)
		if l.Type == infer.BatchNorm && i+1 < len(m.Layers) && m.Layers[i+1].Type == infer.ReLU {
			out = append(out, infer.Layer{Type: infer.Noise, Std: std})
		}
	}
	m.Layers = out
	return m.Validate()
}

// inFile puts the file's name into an error of this package's own (which already begins
// "torchimport: "), without saying the package twice.
type inFile struct {
	path string
	err  error
}

func (e inFile) Error() string {
	return "torchimport: " + e.path + ": " + strings.TrimPrefix(e.err.Error(), "torchimport: ")
}

func (e inFile) Unwrap() error { return e.err }
