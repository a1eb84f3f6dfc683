// Package infertest builds random but well-conditioned models of every kind for the tests of
// infer and of its users (the daemon, benchmarks): batch-norm statistics far from identity,
// weights scaled so that rates stay in a plausible range. Builders are deterministic in their
// seed. Any goroutine may call them.
package infertest

import (
	"math"
	"math/rand/v2"

	"retinad/infer"
)

// Size is a CNN's geometry.
type Size struct {
	History, Height, Width int
	C1, C2                 int // channels of the two convolutions
	K1, K2                 int // their kernel sizes
	Cells                  int
}

var (
	// Small is a reduced model for fast tests.
	Small = Size{History: 5, Height: 16, Width: 16, C1: 4, C2: 3, K1: 7, K2: 5, Cells: 3}
	// Paper is McIntosh et al.'s BN-CNN: 40x50x50, 8@15x15, 8@11x11, 16 cells.
	Paper = Size{History: 40, Height: 50, Width: 50, C1: 8, C2: 8, K1: 15, K2: 11, Cells: 16}
)

func input(s Size) infer.Input {
	return infer.Input{History: s.History, Height: s.Height, Width: s.Width, FrameRate: 100, Mean: 0.1, Std: 0.9}
}

func cells(n int) []int64 {
	c := make([]int64, n)
	for i := range c {
		c[i] = int64(100 + 7*i)
	}
	return c
}

func normal(r *rand.Rand, std float64, shape ...int) *infer.Tensor {
	t := infer.NewTensor(shape...)
	for i := range t.Data {
		t.Data[i] = float32(r.NormFloat64() * std)
	}
	return t
}

func uniform(r *rand.Rand, lo, hi float64, shape ...int) *infer.Tensor {
	t := infer.NewTensor(shape...)
	for i := range t.Data {
		t.Data[i] = float32(lo + (hi-lo)*r.Float64())
	}
	return t
}

func bn(r *rand.Rand, n int, perChannel bool) infer.Layer {
	return infer.Layer{
		Type: infer.BatchNorm, PerChannel: perChannel, Eps: 1e-3,
		RunningMean: normal(r, 0.3, n), RunningVar: uniform(r, 0.2, 2, n),
		Weight: uniform(r, 0.5, 1.5, n), Bias: normal(r, 0.3, n),
	}
}

// CNN is a BN-CNN of size s as torch-deep-retina builds it: conv -> batchnorm (flattened
// units) -> noise -> ReLU -> conv -> batchnorm -> noise -> ReLU -> dense (no bias) ->
// batchnorm -> softplus, with latent noise std 0.05.
func CNN(seed uint64, s Size) *infer.Model {
	r := rand.New(rand.NewPCG(seed, 1))
	h1, w1 := s.Height-s.K1+1, s.Width-s.K1+1
	h2, w2 := h1-s.K2+1, w1-s.K2+1
	n1, n2 := s.C1*h1*w1, s.C2*h2*w2
	return &infer.Model{
		Kind: infer.CNN, Name: "infertest.CNN", Input: input(s), OutputScale: 100, Cells: cells(s.Cells),
		Layers: []infer.Layer{
			{Type: infer.Conv2D, Weight: normal(r, 1/math.Sqrt(float64(s.History*s.K1*s.K1)), s.C1, s.History, s.K1, s.K1), Bias: normal(r, 0.1, s.C1)},
			bn(r, n1, false),
			{Type: infer.Noise, Std: 0.05},
			{Type: infer.ReLU},
			{Type: infer.Conv2D, Weight: normal(r, 1/math.Sqrt(float64(s.C1*s.K2*s.K2)), s.C2, s.C1, s.K2, s.K2), Bias: normal(r, 0.1, s.C2)},
			bn(r, n2, false),
			{Type: infer.Noise, Std: 0.05},
			{Type: infer.ReLU},
			{Type: infer.Dense, Weight: normal(r, 1/math.Sqrt(float64(n2)), s.Cells, n2)},
			bn(r, s.Cells, false),
			{Type: infer.Softplus},
		},
	}
}

// CNNVariant is CNN with per-channel batch norm, a dense bias and the output nonlinearity f
// (exp, sigmoid or softplus) in its parametric form.
func CNNVariant(seed uint64, s Size, f infer.LayerType) *infer.Model {
	m := CNN(seed, s)
	r := rand.New(rand.NewPCG(seed, 2))
	m.Layers[1] = bn(r, s.C1, true)
	m.Layers[5] = bn(r, s.C2, true)
	m.Layers[8].Bias = normal(r, 0.2, s.Cells)
	m.Layers[10] = infer.Layer{Type: f, Gain: uniform(r, 0.5, 2, s.Cells), Slope: uniform(r, 0.5, 1.5, s.Cells), Offset: normal(r, 0.2, 1)}
	return m
}

// LNModel is an LN model with a softplus of per-cell gain, slope and offset.
func LNModel(seed uint64, s Size) *infer.Model {
	r := rand.New(rand.NewPCG(seed, 3))
	d := s.History * s.Height * s.Width
	w := normal(r, 2/math.Sqrt(float64(d)), s.Cells, d)
	m, err := infer.NewLN(input(s), cells(s.Cells), w.Data, normal(r, 0.3, s.Cells).Data, infer.Softplus,
		uniform(r, 0.5, 2, s.Cells).Data, uniform(r, 0.5, 1.5, s.Cells).Data, normal(r, 0.2, s.Cells).Data, 100)
	if err != nil {
		panic(err)
	}
	return m
}

// GLMModel is a GLM with a spike-history filter of 6 bins and, if coupled, coupling filters;
// its rates are around 5-50 spikes/s at 100 Hz.
func GLMModel(seed uint64, s Size, coupled bool) *infer.Model {
	r := rand.New(rand.NewPCG(seed, 4))
	const L = 6
	d := s.History * s.Height * s.Width
	hist := infer.NewTensor(s.Cells, L)
	for c := 0; c < s.Cells; c++ {
		for j := 0; j < L; j++ {
			hist.Data[c*L+j] = float32(-2*math.Exp(-float64(j)) + 0.1*r.NormFloat64())
		}
	}
	var coup []float32
	if coupled {
		coup = normal(r, 0.1, s.Cells, s.Cells, L).Data
	}
	m, err := infer.NewGLM(input(s), cells(s.Cells), normal(r, 1/math.Sqrt(float64(d)), s.Cells, s.History, s.Height, s.Width).Data,
		uniform(r, -3, -1.5, s.Cells).Data, L, hist.Data, coup, 100)
	if err != nil {
		panic(err)
	}
	return m
}

// RecurrentCNN is CNN with a convgru layer of hidden channels and odd kernel k between the
// second convolution's ReLU and the dense layer (the recurrent BN-CNN train/ builds). Its
// state kernels are scaled so that the state neither dies nor saturates over long runs.
func RecurrentCNN(seed uint64, s Size, hidden, k int) *infer.Model {
	m := CNN(seed, s)
	r := rand.New(rand.NewPCG(seed, 5))
	h2, w2 := s.Height-s.K1-s.K2+2, s.Width-s.K1-s.K2+2
	n := hidden * h2 * w2
	gru := infer.Layer{
		Type:     infer.ConvGRU,
		Weight:   normal(r, 1/math.Sqrt(float64(s.C2*k*k)), 3*hidden, s.C2, k, k),
		Bias:     normal(r, 0.2, 3*hidden),
		WeightHH: normal(r, 1/math.Sqrt(float64(hidden*k*k)), 3*hidden, hidden, k, k),
		BiasHH:   normal(r, 0.2, 3*hidden),
	}
	m.Name = "infertest.RecurrentCNN"
	m.Layers = append(m.Layers[:8], append([]infer.Layer{gru,
		{Type: infer.Dense, Weight: normal(r, 2/math.Sqrt(float64(n)), s.Cells, n)}}, m.Layers[9:]...)...)
	return m
}
