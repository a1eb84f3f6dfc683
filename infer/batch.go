package infer

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"

	"gorgonia.org/tensor"
)

// BatchOptions choose how Predict runs.
type BatchOptions struct {
	Options
	// Workers is the number of goroutines (cores) to use; 0 means GOMAXPROCS.
	Workers int
	// Observed, for a GLM, are the recorded spike counts per bin (float32 [T,C]) that feed
	// its history (validation mode); nil lets it feed on its own counts.
	Observed *tensor.Dense
}

// chunk is the number of output rows one worker computes at a time. Fixed, so that
// stochastic output does not depend on the number of workers.
const chunk = 2048

// Predict runs m over a whole movie: stim is float32 [T, Height, Width] (frames as shown);
// the result is float32 [T, cells], rates in spikes/s, row t from frames up to and including
// t, rows before a full history NaN. CNN and LN models split the movie into chunks run by
// streaming engines on several goroutines (each chunk re-reads the History-1 frames before
// it); a GLM or a recurrent model, whose spike history or state makes bins depend on each
// other, runs on one. In stochastic mode
// chunk i is seeded with Seed+i (the noise differs from a single Stream's, and is the same
// for any number of workers). It returns early with ctx's error when ctx ends.
func Predict(ctx context.Context, m *Model, stim *tensor.Dense, opt BatchOptions) (*tensor.Dense, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	in := m.Input
	shape := stim.Shape()
	if stim.Dtype() != tensor.Float32 || len(shape) != 3 || shape[1] != in.Height || shape[2] != in.Width {
		return nil, fmt.Errorf("infer: stimulus: %v %v, want float32 [T, %d, %d]", stim.Dtype(), shape, in.Height, in.Width)
	}
	if shape[0] < 1 { // the tensor package hands back no []float32 for an empty shape
		return nil, fmt.Errorf("infer: stimulus: shape %v has no frames, want T >= 1", shape)
	}
	T, C, hw := shape[0], len(m.Cells), in.Height*in.Width
	frames := stim.Data().([]float32)
	var observed []float32
	if opt.Observed != nil {
		if m.Kind != GLM {
			return nil, fmt.Errorf("infer: observed counts given for a %s model, which has no spike history", m.Kind)
		}
		if s := opt.Observed.Shape(); opt.Observed.Dtype() != tensor.Float32 || len(s) != 2 || s[0] != T || s[1] != C {
			return nil, fmt.Errorf("infer: observed counts: %v %v, want float32 [%d, %d]", opt.Observed.Dtype(), s, T, C)
		}
		observed = opt.Observed.Data().([]float32)
	}
	out := make([]float32, T*C)
	for i := range out {
		out[i] = float32(math.NaN())
	}
	nchunks := (T + chunk - 1) / chunk
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if m.Kind == GLM || m.Recurrent() {
		nchunks, workers = 1, 1 // each bin depends on every bin before it
	}
	workers = max(1, min(workers, nchunks))
	jobs := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := opt.Options
			o.Threads = 1 // the workers are the cores
			s, err := NewStream(m, o)
			if err != nil {
				errs <- err
				return
			}
			warm := make([]float32, C) // rates of the frames before the chunk, owned by the chunk before
			for j := range jobs {
				lo, hi := j*chunk, min(T, (j+1)*chunk)
				if nchunks == 1 {
					hi = T
				}
				s.opt.Seed = opt.Seed + uint64(j)
				s.Reset()
				for t := max(0, lo-in.History+1); t < hi; t++ {
					if t&1023 == 0 && ctx.Err() != nil {
						return
					}
					row := warm
					if t >= lo {
						row = out[t*C : (t+1)*C]
					}
					if !s.Step(frames[t*hw:(t+1)*hw], row) || t < lo {
						continue
					}
					if observed != nil {
						s.Observe(observed[t*C : (t+1)*C])
					}
				}
			}
		}()
	}
feed:
	for j := 0; j < nchunks; j++ {
		select {
		case jobs <- j:
		case <-ctx.Done():
			break feed
		case err := <-errs:
			close(jobs)
			wg.Wait()
			return nil, err
		}
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("infer: predict: %w", err)
	}
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	return tensor.New(tensor.WithShape(T, C), tensor.WithBacking(out)), nil
}
