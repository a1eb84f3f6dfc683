package infer

import "math"

// The conv-GRU's gates in float32, vectorisable: exp as Cephes' expf (a range reduction by
// ln 2 in two parts and a degree-6 polynomial, within 2 ulp), the sigmoid as 1/(1+exp(-v)),
// tanh as Cephes' tanhf (an odd polynomial below 0.625, (1-e)/(1+e) with e = exp(-2|v|) above).
// gruGatesGo is the arithmetic; gruGates runs it in AVX-512 or AVX2 with FMA where the CPU
// has them (gru_amd64.s, the same operations in the same order, FMAs fused), and the tests
// hold them to each other and to float64's math.Exp and math.Tanh. Before these, the gates
// called math.Exp and math.Tanh in float64 per value: 16,000 of them a step at paper size, 60%
// of the step. At that size (BenchmarkGRUGates, load 4.9): Go 192 us, AVX2 10.5, AVX-512 8.3.

// The constants of expf and tanhf (Cephes).
const (
	expHi    = 88.3 // exp(88.3) = 2.2e38: 2^n stays a normal float32 (n <= 127)
	expLo    = -87.3
	expLog2e = 1.44269504088896341
	expC1    = 0.693359375     // ln 2, its first bits (exact in a float32 times n)
	expC2    = -2.12194440e-4  // ln 2 - expC1
	expP0    = 1.9875691500e-4 // the polynomial, highest power first
	expP1    = 1.3981999507e-3
	expP2    = 8.3334519073e-3
	expP3    = 4.1665795894e-2
	expP4    = 1.6666665459e-1
	expP5    = 5.0000001201e-1
	tanhMid  = 0.625 // below it the odd polynomial, above it (1-e)/(1+e)
	tanhQ0   = -5.70498872745e-3
	tanhQ1   = 2.06390887954e-2
	tanhQ2   = -5.37397155531e-2
	tanhQ3   = 1.33314422036e-1
	tanhQ4   = -3.33332819422e-1
)

// exp32 is e^v in float32 (NaN stays NaN; v is clamped to [expLo, expHi]).
func exp32(v float32) float32 {
	if v != v {
		return v
	}
	x := min(max(v, expLo), expHi)
	n := float32(math.RoundToEven(float64(x * expLog2e)))
	x = x - n*expC1
	x = x - n*expC2
	p := float32(expP0)
	p = p*x + expP1
	p = p*x + expP2
	p = p*x + expP3
	p = p*x + expP4
	p = p*x + expP5
	p = p*(x*x) + x
	p = p + 1
	return p * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// sigmoid32 is 1/(1+e^-v) in float32.
func sigmoid32(v float32) float32 { return 1 / (1 + exp32(-v)) }

// tanh32 is tanh(v) in float32.
func tanh32(v float32) float32 {
	s := float32(math.Abs(float64(v)))
	var t float32
	if s < tanhMid {
		z := s * s
		q := float32(tanhQ0)
		q = q*z + tanhQ1
		q = q*z + tanhQ2
		q = q*z + tanhQ3
		q = q*z + tanhQ4
		t = q*z*s + s
	} else {
		e := exp32(-2 * s)
		t = (1 - e) / (1 + e)
	}
	if v < 0 {
		return -t
	}
	return t // and NaN for NaN
}

// gruGates updates the state h (n values) from the gates' convolutions gi and gh (each
// [3][stride]: reset, update, new, as torch's GRUCell): r = sigmoid(gi_r+gh_r), z =
// sigmoid(gi_z+gh_z), c = tanh(gi_n + r*gh_n), h = (1-z)*c + z*h, written as c + z*(h-c).
var gruGates = gruGatesGo

func gruGatesGo(h, gi, gh []float32, stride int) {
	gi, gh = gi[:2*stride+len(h)], gh[:2*stride+len(h)]
	for p, hv := range h {
		r := sigmoid32(gi[p] + gh[p])
		z := sigmoid32(gi[stride+p] + gh[stride+p])
		c := tanh32(gi[2*stride+p] + r*gh[2*stride+p])
		h[p] = c + z*(hv-c)
	}
}
