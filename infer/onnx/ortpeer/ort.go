// Package ortpeer runs ONNX models through ONNX Runtime, the independent peer that retinad's
// engines are checked against: the importer's and exporter's tests compare rates with it, and
// `retinad bench` times it beside the streaming engine. It is not a fake: it is a second,
// outside implementation of the same graphs. The shared library comes from the environment
// variable RETINAD_ONNXRUNTIME (scripts/setup installs it; the Makefile sets it). The runtime
// is initialised once per process; a Session is for one goroutine at a time.
package ortpeer

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
var ErrUnavailable = errors.New("ortpeer: ONNX Runtime not found (set RETINAD_ONNXRUNTIME; scripts/setup installs it)")

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
			initErr = fmt.Errorf("ortpeer: initialise ONNX Runtime %s: %w", lib, err)
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
	s, err := NewSession(model, inputs, []Output{{out, []int64{inputs[0].Shape[0], outCols}}})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if err := s.Run(); err != nil {
		return nil, err
	}
	return append([]float32(nil), s.Output(0)...), nil
}

// Output is one named output of a model and its shape (batch first).
type Output struct {
	Name  string
	Shape []int64
}

// Session is a model loaded into ONNX Runtime, single-threaded, with its inputs and outputs
// bound once, so that Run can be repeated and timed alone (what `retinad bench` measures).
type Session struct {
	sess *ort.AdvancedSession
	in   []*ort.Tensor[float32]
	out  []*ort.Tensor[float32]
}

// NewSession loads model with inputs bound (their Data becomes the tensors' storage, so a
// caller changes an input by writing its slice) and outputs of the shapes given.
func NewSession(model []byte, inputs []Input, outputs []Output) (*Session, error) {
	if err := initialise(); err != nil {
		return nil, err
	}
	if len(inputs) == 0 || len(outputs) == 0 {
		return nil, errors.New("ortpeer: a session needs at least one input and one output")
	}
	s := &Session{}
	names := make([]string, len(inputs))
	values := make([]ort.Value, len(inputs))
	for i, in := range inputs {
		x, err := ort.NewTensor(ort.NewShape(in.Shape...), in.Data)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("ortpeer: input %s: %w", in.Name, err)
		}
		s.in = append(s.in, x)
		names[i], values[i] = in.Name, x
	}
	outNames := make([]string, len(outputs))
	outValues := make([]ort.Value, len(outputs))
	for i, out := range outputs {
		y, err := ort.NewEmptyTensor[float32](ort.NewShape(out.Shape...))
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("ortpeer: output %s: %w", out.Name, err)
		}
		s.out = append(s.out, y)
		outNames[i], outValues[i] = out.Name, y
	}
	opts, err := singleThreaded()
	if err != nil {
		s.Close()
		return nil, err
	}
	defer opts.Destroy()
	if s.sess, err = ort.NewAdvancedSessionWithONNXData(model, names, outNames, values, outValues, opts); err != nil {
		s.Close()
		return nil, fmt.Errorf("ortpeer: load model: %w", err)
	}
	return s, nil
}

// singleThreaded is the session options of every peer run: one thread, as the engine it is
// compared with steps on one.
func singleThreaded() (*ort.SessionOptions, error) {
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("ortpeer: %w", err)
	}
	if err := opts.SetIntraOpNumThreads(1); err != nil {
		opts.Destroy()
		return nil, fmt.Errorf("ortpeer: %w", err)
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		opts.Destroy()
		return nil, fmt.Errorf("ortpeer: %w", err)
	}
	return opts, nil
}

// Run evaluates the model on the bound inputs; Output holds the results.
func (s *Session) Run() error {
	if err := s.sess.Run(); err != nil {
		return fmt.Errorf("ortpeer: run: %w", err)
	}
	return nil
}

// Output is the last Run's output i (in NewSession's order), owned by the session (valid
// until Close).
func (s *Session) Output(i int) []float32 { return s.out[i].GetData() }

// Close frees the session and its tensors.
func (s *Session) Close() {
	if s.sess != nil {
		s.sess.Destroy()
	}
	for _, x := range append(s.in, s.out...) {
		x.Destroy()
	}
}

// StepRecurrent runs a recurrent model's ONNX step (inputs stimulus and state, outputs rates
// and next_state: infer/onnx/gru.go) over frames [T, height*width] as one session, as
// retinad's engines run m: each full window, normalised by m's mean and std, with the state
// zero at the first and each run's next_state after. state is the state's shape without the
// batch axis. It returns rates [T, cells], NaN before a full history.
func StepRecurrent(model []byte, m *infer.Model, state []int64, frames []float32) ([]float32, error) {
	in, nc := m.Input, len(m.Cells)
	hw := in.Height * in.Width
	T := len(frames) / hw
	stateShape := append([]int64{1}, state...)
	h := make([]float32, state[0]*state[1]*state[2])
	window := make([]float32, in.History*hw)
	s, err := NewSession(model,
		[]Input{{"stimulus", window, []int64{1, int64(in.History), int64(in.Height), int64(in.Width)}}, {"state", h, stateShape}},
		[]Output{{"rates", []int64{1, int64(nc)}}, {"next_state", stateShape}})
	if err != nil {
		return nil, err
	}
	defer s.Close()
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
		if err := s.Run(); err != nil {
			return nil, fmt.Errorf("ortpeer: step %d: %w", t, err)
		}
		copy(rates[t*nc:], s.Output(0))
		copy(h, s.Output(1))
	}
	return rates, nil
}
