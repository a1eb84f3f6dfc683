package infer

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestCmacKernels holds the kernel in use (assembly where the CPU has it) to the pure-Go one,
// for every length from 0 to 40 (the tails included).
func TestCmacKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	c := func() complex64 { return complex(float32(r.NormFloat64()), float32(r.NormFloat64())) }
	for n := 0; n <= 40; n++ {
		acc, w, x := make([]complex64, n), make([]complex64, n+3), make([]complex64, n+3)
		for i := range w {
			w[i], x[i] = c(), c()
		}
		for i := range acc {
			acc[i] = c()
		}
		want := append([]complex64{}, acc...)
		cmacGeneric(want, w, x)
		cmac(acc, w, x)
		for i := range acc {
			d := acc[i] - want[i]
			if real(d)*real(d)+imag(d)*imag(d) > 1e-10 {
				t.Fatalf("n=%d, i=%d: %v, want %v", n, i, acc[i], want[i])
			}
		}
	}
}

func BenchmarkCmac(b *testing.B) {
	for _, k := range []struct {
		name string
		f    func(acc, w, x []complex64)
	}{{"generic", cmacGeneric}, {"inuse", cmac}} {
		b.Run(k.name, func(b *testing.B) {
			acc, w, x := make([]complex64, 1300), make([]complex64, 1300), make([]complex64, 1300)
			b.SetBytes(8 * 1300 * 3)
			for b.Loop() {
				k.f(acc, w, x)
			}
		})
	}
}

// TestDotKernels holds the dot product in use to the pure-Go one for every length from 0 to
// 80 (every tail of the 32- and 8-wide loops).
func TestDotKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	for n := 0; n <= 80; n++ {
		a, b := make([]float32, n), make([]float32, n+5)
		var abs float64
		for i := range b {
			b[i] = float32(r.NormFloat64())
		}
		for i := range a {
			a[i] = float32(r.NormFloat64())
			abs += math.Abs(float64(a[i] * b[i]))
		}
		got, want := dot(a, b), dotGeneric(a, b)
		if math.Abs(float64(got-want)) > 1e-6*(abs+1) {
			t.Fatalf("n=%d: %g, want %g", n, got, want)
		}
	}
}
