// Package onnxtest runs ONNX models through ONNX Runtime, the independent peer that the
// importer and exporter tests check retinad's graphs against. The shared library comes from
// the environment variable RETINAD_ONNXRUNTIME (scripts/setup installs it; the Makefile sets
// it). Safe for concurrent use; the runtime is initialised once per process.
package onnxtest

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"retinad/infer"
)

var (
	initOnce sync.Once
	initErr  error
)

// ErrUnavailable is returned when ONNX Runtime's library is not installed.
var ErrUnavailable = errors.New("onnxtest: ONNX Runtime not found (set RETINAD_ONNXRUNTIME; scripts/setup installs it)")

// DefaultLibrary is where scripts/setup installs ONNX Runtime, relative to the repository root.
const DefaultLibrary = ".cache/onnxruntime/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1"

// Library returns the path of ONNX Runtime's shared library: $RETINAD_ONNXRUNTIME when set,
// else DefaultLibrary when it exists (a run from the repository root), else ErrUnavailable.
func Library() (string, error) {
	lib := os.Getenv("RETINAD_ONNXRUNTIME")
	if lib == "" {
		lib = DefaultLibrary
	}
	if _, err := os.Stat(lib); err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return lib, nil
}

func initialise() error {
	initOnce.Do(func() {
		lib, err := Library()
		if err != nil {
			initErr = err
			return
		}
		ort.SetSharedLibraryPath(lib)
		if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
			initErr = fmt.Errorf("onnxtest: initialise ONNX Runtime %s: %w", lib, err)
		}
	})
	return initErr
}

// Version is ONNX Runtime's version, or an error when it is unavailable.
func Version() (string, error) {
	if err := initialise(); err != nil {
		return "", err
	}
	return ort.GetVersion(), nil
}

// Run evaluates the model's input named in with the given shape and returns its output
// named out ([N, outCols] floats), single-threaded.
func Run(model []byte, in string, input []float32, shape []int64, out string, outCols int64) ([]float32, error) {
	return RunInputs(model, []Input{{in, input, shape}}, out, outCols)
}

// Input is one named input of a model and its shape (batch first).
type Input struct {
	Name  string
	Data  []float32
	Shape []int64
}

// RunInputs is Run for a model of several inputs (a GLM's stimulus and spike history).
func RunInputs(model []byte, inputs []Input, out string, outCols int64) ([]float32, error) {
	if err := initialise(); err != nil {
		return nil, err
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("onnxtest: %w", err)
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("onnxtest: %w", err)
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("onnxtest: %w", err)
	}
	names := make([]string, len(inputs))
	values := make([]ort.Value, len(inputs))
	for i, in := range inputs {
		names[i] = in.Name
		x, err := ort.NewTensor(ort.NewShape(in.Shape...), in.Data)
		if err != nil {
			return nil, fmt.Errorf("onnxtest: input %s: %w", in.Name, err)
		}
		defer x.Destroy()
		values[i] = x
	}
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(model, names, []string{out}, opts)
	if err != nil {
		return nil, fmt.Errorf("onnxtest: load model: %w", err)
	}
	defer s.Destroy()
	y, err := ort.NewEmptyTensor[float32](ort.NewShape(inputs[0].Shape[0], outCols))
	if err != nil {
		return nil, fmt.Errorf("onnxtest: %w", err)
	}
	defer y.Destroy()
	if err := s.Run(values, []ort.Value{y}); err != nil {
		return nil, fmt.Errorf("onnxtest: run: %w", err)
	}
	return append([]float32(nil), y.GetData()...), nil
}

// Session is a model loaded once and run many times, single-threaded: a recurrent model's
// step, fed its own next state at every run.
type Session struct {
	s       *ort.DynamicAdvancedSession
	outputs []string
}

// NewSession loads the model with the named inputs and outputs, in the order Run takes them.
func NewSession(model []byte, inputs, outputs []string) (*Session, error) {
	if err := initialise(); err != nil {
		return nil, err
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("onnxtest: %w", err)
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("onnxtest: %w", err)
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("onnxtest: %w", err)
	}
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(model, inputs, outputs, opts)
	if err != nil {
		return nil, fmt.Errorf("onnxtest: load model: %w", err)
	}
	return &Session{s: s, outputs: outputs}, nil
}

// Run evaluates the inputs (in NewSession's order) and returns each output's values, of the
// shapes given (in NewSession's order).
func (s *Session) Run(inputs []Input, outShapes [][]int64) ([][]float32, error) {
	values := make([]ort.Value, len(inputs))
	for i, in := range inputs {
		x, err := ort.NewTensor(ort.NewShape(in.Shape...), in.Data)
		if err != nil {
			return nil, fmt.Errorf("onnxtest: input %s: %w", in.Name, err)
		}
		defer x.Destroy()
		values[i] = x
	}
	outs := make([]*ort.Tensor[float32], len(outShapes))
	vals := make([]ort.Value, len(outShapes))
	for i, shape := range outShapes {
		y, err := ort.NewEmptyTensor[float32](ort.NewShape(shape...))
		if err != nil {
			return nil, fmt.Errorf("onnxtest: output %s: %w", s.outputs[i], err)
		}
		defer y.Destroy()
		outs[i], vals[i] = y, y
	}
	if err := s.s.Run(values, vals); err != nil {
		return nil, fmt.Errorf("onnxtest: run: %w", err)
	}
	res := make([][]float32, len(outs))
	for i, y := range outs {
		res[i] = append([]float32(nil), y.GetData()...)
	}
	return res, nil
}

// Close frees the session.
func (s *Session) Close() { s.s.Destroy() }

// StepRecurrent runs a recurrent model's ONNX step (inputs stimulus and state, outputs rates
// and next_state: infer/onnx/gru.go) over frames [T, height*width] as one session, as
// retinad's engines run m: each full window, normalised by m's mean and std, with the state
// zero at the first and each run's next_state after. state is the state's shape without the
// batch axis. It returns rates [T, cells], NaN before a full history.
func StepRecurrent(model []byte, m *infer.Model, state []int64, frames []float32) ([]float32, error) {
	s, err := NewSession(model, []string{"stimulus", "state"}, []string{"rates", "next_state"})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	in, nc := m.Input, len(m.Cells)
	hw := in.Height * in.Width
	T := len(frames) / hw
	h := make([]float32, state[0]*state[1]*state[2])
	window := make([]float32, in.History*hw)
	rates := make([]float32, T*nc)
	for t := 0; t < T; t++ {
		if t < in.History-1 {
			for c := range nc {
				rates[t*nc+c] = float32(math.NaN())
			}
			continue
		}
		for i, v := range frames[(t-in.History+1)*hw : (t+1)*hw] {
			window[i] = float32((float64(v) - in.Mean) / in.Std)
		}
		out, err := s.Run([]Input{
			{"stimulus", window, []int64{1, int64(in.History), int64(in.Height), int64(in.Width)}},
			{"state", h, append([]int64{1}, state...)},
		}, [][]int64{{1, int64(nc)}, append([]int64{1}, state...)})
		if err != nil {
			return nil, fmt.Errorf("onnxtest: step %d: %w", t, err)
		}
		copy(rates[t*nc:], out[0])
		h = out[1]
	}
	return rates, nil
}
