// Package onnxtest runs ONNX models through ONNX Runtime, the independent peer that the
// importer and exporter tests check retinad's graphs against. The shared library comes from
// the environment variable RETINAD_ONNXRUNTIME (scripts/setup installs it; the Makefile sets
// it). Safe for concurrent use; the runtime is initialised once per process.
package onnxtest

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
