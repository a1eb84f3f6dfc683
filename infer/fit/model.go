package fit

import (
	"fmt"

	"retinad/infer"
)

// window reverses a lag-major filter [N*P] (lag 0 first) into the model file's window order
// [N*P] (oldest frame first), as float32.
func window(f []float64, n, p int) []float32 {
	out := make([]float32, n*p)
	for k := 0; k < n; k++ {
		j := n - 1 - k
		for i := 0; i < p; i++ {
			out[j*p+i] = float32(f[k*p+i])
		}
	}
	return out
}

func (m *LN) input() infer.Input {
	return infer.Input{History: m.History, Height: m.H, Width: m.W, FrameRate: m.FrameRate, Mean: 0, Std: 1}
}

// Model returns the fitted LN model as a native model: one dense layer (the filters) and the
// chosen nonlinearity, outputs in spikes per bin scaled to spikes/s by the frame rate.
func (m *LN) Model(name string) (*infer.Model, error) {
	p := m.H * m.W
	var filter, bias []float32
	ids := make([]int64, len(m.Cells))
	for c, cell := range m.Cells {
		filter = append(filter, window(cell.Filter, m.History, p)...)
		bias = append(bias, float32(cell.Bias))
		ids[c] = cell.ID
	}
	f := infer.Softplus
	if m.Cells[0].Link == Exp {
		f = infer.Exp
	}
	model, err := infer.NewLN(m.input(), ids, filter, bias, f, nil, nil, nil, m.FrameRate)
	if err != nil {
		return nil, fmt.Errorf("fit: %w", err)
	}
	model.Name = name
	return model, nil
}

// Model returns the fitted GLM as a native model.
func (m *GLM) Model(name string) (*infer.Model, error) {
	p, nc, k := m.H*m.W, len(m.Cells), m.SpikeHistory
	var filter, bias, hist, coup []float32
	ids := make([]int64, nc)
	if k > 0 {
		hist = make([]float32, nc*k)
	}
	if m.Coupled {
		coup = make([]float32, nc*nc*k)
	}
	for c, cell := range m.Cells {
		filter = append(filter, window(cell.Filter, m.History, p)...)
		bias = append(bias, float32(cell.Bias))
		ids[c] = cell.ID
		for j, v := range cell.History {
			hist[c*k+j] = float32(v)
		}
		for i, f := range cell.Coupling { // the diagonal stays 0: History is the cell's own
			for j, v := range f {
				coup[(c*nc+i)*k+j] = float32(v)
			}
		}
	}
	in := infer.Input{History: m.History, Height: m.H, Width: m.W, FrameRate: m.FrameRate, Mean: 0, Std: 1}
	model, err := infer.NewGLM(in, ids, filter, bias, k, hist, coup, m.FrameRate)
	if err != nil {
		return nil, fmt.Errorf("fit: %w", err)
	}
	model.Name = name
	return model, nil
}

// WriteModel writes m as a native model file that `retinad predict`, `bench` and `run` load.
func (m *LN) WriteModel(path string) error {
	model, err := m.Model("ln fitted by retinad fit")
	if err != nil {
		return err
	}
	return infer.Save(path, model)
}

// WriteModel writes m as a native model file that `retinad predict`, `bench` and `run` load.
func (m *GLM) WriteModel(path string) error {
	model, err := m.Model("glm fitted by retinad fit")
	if err != nil {
		return err
	}
	return infer.Save(path, model)
}
