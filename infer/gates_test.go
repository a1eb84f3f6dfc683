package infer

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestExp32 holds exp32, sigmoid32 and tanh32 to float64's math over the range the gates see
// and beyond it: every float32 power of two's neighbourhood from 1e-8 to 200, both signs, and
// random values. The bounds are a few float32 ulps (relative 1.2e-7 each); tanh's bound is
// absolute near 0.625, where (1-e)/(1+e) loses a digit to the subtraction.
func TestExp32(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var vs []float32
	for e := -27; e <= 8; e++ {
		for _, f := range []float64{1, 1.3, 1.5, 1.9} {
			vs = append(vs, float32(f*math.Ldexp(1, e)), -float32(f*math.Ldexp(1, e)))
		}
	}
	for range 20000 {
		vs = append(vs, float32(r.NormFloat64()*8))
	}
	vs = append(vs, 0, expHi, expLo, 0.625, -0.625, math.Nextafter32(0.625, 0))
	for _, v := range vs {
		x := float64(v)
		want := math.Exp(float64(min(max(v, expLo), expHi))) // the clamps in float32, as exp32's
		if got := float64(exp32(v)); math.Abs(got-want) > 3e-7*want {
			t.Errorf("exp32(%g) = %g, want %g", v, got, want)
		}
		if got, want := float64(sigmoid32(v)), 1/(1+math.Exp(-x)); math.Abs(got-want) > 3e-7*want+1e-37 {
			t.Errorf("sigmoid32(%g) = %g, want %g", v, got, want)
		}
		if got, want := float64(tanh32(v)), math.Tanh(x); math.Abs(got-want) > 3e-7*math.Abs(want)+6e-8 {
			t.Errorf("tanh32(%g) = %g, want %g", v, got, want)
		}
	}
	for _, f := range []func(float32) float32{exp32, sigmoid32, tanh32} {
		if v := f(float32(math.NaN())); v == v {
			t.Errorf("NaN in, %g out", v)
		}
	}
	if exp32(-1000) <= 0 || sigmoid32(-1000) < 0 || sigmoid32(1000) != 1 || tanh32(1000) != 1 || tanh32(-1000) != -1 {
		t.Errorf("saturation: exp32(-1000) %g, sigmoid32(±1000) %g %g, tanh32(±1000) %g %g", exp32(-1000), sigmoid32(-1000), sigmoid32(1000), tanh32(1000), tanh32(-1000))
	}
}

// TestGRUGates holds every gates kernel this CPU has to gruGatesGo and gruGatesGo to the
// float64 update, for lengths around the sixteen, gate planes further apart than the state,
// inputs from saturating to tiny, a NaN carried through. The bound is a few ulps of the state
// plus one of the new gate's terms: gi_n + r*gh_n rounds at their size, and the assembly fuses
// the product (over 65,536 values the kernels differ by 2.4e-7 at most).
func TestGRUGates(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	ks := map[string]func(h, gi, gh []float32, stride int){"go": gruGatesGo, "inuse": gruGates}
	for name, k := range gruGatesKernels() {
		ks[name] = k
	}
	t.Logf("kernels: %d (go, the one in use, and %v)", len(ks), keys(gruGatesKernels()))
	for _, n := range []int{1, 7, 8, 9, 15, 16, 17, 33, 338, 5408} {
		stride := n + r.IntN(5)
		gi, gh := make([]float32, 3*stride), make([]float32, 3*stride)
		h := make([]float32, n)
		scale := []float64{1e-6, 0.3, 3, 60}
		for i := range gi {
			gi[i] = float32(r.NormFloat64() * scale[i%4])
			gh[i] = float32(r.NormFloat64() * scale[(i/4)%4])
		}
		for i := range h {
			h[i] = float32(2*r.Float64() - 1)
		}
		if n > 20 {
			gi[2*stride+n-3] = float32(math.NaN())
		}
		for name, k := range ks {
			want, got := append([]float32(nil), h...), append([]float32(nil), h...)
			gruGatesGo(want, gi, gh, stride)
			k(got, gi, gh, stride)
			for p := range h {
				tol := 5e-7 + 1.2e-7*math.Abs(float64(gi[2*stride+p])) + 1.2e-7*math.Abs(float64(gh[2*stride+p]))
				if math.IsNaN(float64(want[p])) != math.IsNaN(float64(got[p])) || math.Abs(float64(got[p]-want[p])) > tol {
					t.Fatalf("%s, n %d: h[%d] = %g, want %g (Go)", name, n, p, got[p], want[p])
				}
				g := func(s []float32, i int) float64 { return float64(s[i*stride+p]) }
				sig := func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
				rr, z := sig(g(gi, 0)+g(gh, 0)), sig(g(gi, 1)+g(gh, 1))
				c := math.Tanh(g(gi, 2) + rr*g(gh, 2))
				exact := (1-z)*c + z*float64(h[p])
				if math.IsNaN(exact) != math.IsNaN(float64(want[p])) || math.Abs(float64(want[p])-exact) > tol {
					t.Fatalf("n %d: Go's h[%d] = %g, want %g (float64)", n, p, want[p], exact)
				}
			}
		}
	}
}

func keys[V any](m map[string]V) []string {
	var k []string
	for name := range m {
		k = append(k, name)
	}
	slices.Sort(k)
	return k
}

// BenchmarkGRUGates is the paper-size conv-GRU's gates (8 x 26 x 26 states) in each kernel.
func BenchmarkGRUGates(b *testing.B) {
	const n = 8 * 26 * 26
	r := rand.New(rand.NewPCG(1, 2))
	gi, gh, h := make([]float32, 3*n), make([]float32, 3*n), make([]float32, n)
	for i := range gi {
		gi[i], gh[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
	}
	ks := map[string]func(h, gi, gh []float32, stride int){"go": gruGatesGo}
	for name, k := range gruGatesKernels() {
		ks[name] = k
	}
	for _, name := range keys(ks) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				ks[name](h, gi, gh, n)
			}
		})
	}
}
