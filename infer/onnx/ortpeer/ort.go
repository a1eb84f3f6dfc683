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
	"os"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
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
	s, err := NewSession(model, inputs, out, outCols)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if err := s.Run(); err != nil {
		return nil, err
	}
	return append([]float32(nil), s.Output()...), nil
}

// Session is a model loaded into ONNX Runtime, single-threaded, with its inputs and its output
// bound once, so that Run can be repeated and timed alone (what `retinad bench` measures).
type Session struct {
	sess *ort.AdvancedSession
	in   []*ort.Tensor[float32]
	out  *ort.Tensor[float32]
}

// NewSession loads model with inputs bound (their Data becomes the tensors' storage) and its
// output named out, [inputs[0].Shape[0], outCols] floats.
func NewSession(model []byte, inputs []Input, out string, outCols int64) (*Session, error) {
	if err := initialise(); err != nil {
		return nil, err
	}
	if len(inputs) == 0 {
		return nil, errors.New("ortpeer: a session needs at least one input")
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
	var err error
	if s.out, err = ort.NewEmptyTensor[float32](ort.NewShape(inputs[0].Shape[0], outCols)); err != nil {
		s.Close()
		return nil, fmt.Errorf("ortpeer: output %s: %w", out, err)
	}
	opts, err := singleThreaded()
	if err != nil {
		s.Close()
		return nil, err
	}
	defer opts.Destroy()
	if s.sess, err = ort.NewAdvancedSessionWithONNXData(model, names, []string{out}, values, []ort.Value{s.out}, opts); err != nil {
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

// Run evaluates the model on the bound inputs; Output holds the result.
func (s *Session) Run() error {
	if err := s.sess.Run(); err != nil {
		return fmt.Errorf("ortpeer: run: %w", err)
	}
	return nil
}

// Output is the last Run's output, owned by the session (valid until Close).
func (s *Session) Output() []float32 { return s.out.GetData() }

// Close frees the session and its tensors.
func (s *Session) Close() {
	if s.sess != nil {
		s.sess.Destroy()
	}
	for _, x := range s.in {
		x.Destroy()
	}
	if s.out != nil {
		s.out.Destroy()
	}
}
