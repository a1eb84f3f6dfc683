package infer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// cmacPlanarFunc is the signature of the spectral multiply-accumulate kernels.
type cmacPlanarFunc = func(out []complex64, cstride int, w, x []float32, xoff []int, xstride, nk, nb, ng, wskip int)

// specMACKernels is the kernel in use, the Go one and every assembly one this CPU can run.
func specMACKernels() map[string]cmacPlanarFunc {
	ks := map[string]cmacPlanarFunc{"inuse": cmacPlanar, "go": cmacPlanarGo}
	for name, k := range cmacKernels() {
		ks[name] = k
	}
	return ks
}

// withCMAC runs f with k as the bank's kernel.
func withCMAC(k cmacPlanarFunc, f func()) {
	saved := cmacPlanar
	cmacPlanar = k
	defer func() { cmacPlanar = saved }()
	f()
}

// TestSpecMAC holds every spectral multiply-accumulate kernel (the one in use, the Go one and
// each assembly one the CPU has) to the plain complex sum, for channel counts around the group
// of four, input counts and spectrum lengths around the block of eight, inputs in any order.
func TestSpecMAC(t *testing.T) {
	for name, k := range specMACKernels() {
		t.Run(name, func(t *testing.T) { withCMAC(k, func() { testSpecMAC(t) }) })
	}
}

func testSpecMAC(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	c := func() complex64 { return complex(float32(r.NormFloat64()), float32(r.NormFloat64())) }
	for _, co := range []int{1, 3, 4, 5, 8, 9} {
		for _, nk := range []int{1, 2, 7} {
			for _, n := range []int{1, 7, 8, 9, 23, 40} {
				w := make([]complex64, co*nk*n)
				for i := range w {
					w[i] = c()
				}
				m := newSpecMAC(w, co, nk, n)
				xs := make([][]complex64, nk)
				// Each input whole in turn (block stride 16), or the inputs' blocks interleaved
				// (stride (nk+1)*16, one slot spare) as the engine holds them; in reverse
				// order, as a ring is.
				for _, interleaved := range []bool{false, true} {
					x := make([]float32, (nk+1)*m.planarLen())
					xoff := make([]int, nk)
					stride := 16
					if interleaved {
						stride = (nk + 1) * 16
					}
					for k := range xs {
						xs[k] = make([]complex64, n)
						for i := range xs[k] {
							xs[k][i] = c()
						}
						if interleaved {
							xoff[k] = (nk - k) * 16
						} else {
							xoff[k] = (nk - k) * m.planarLen()
						}
						toPlanar(xs[k], x[xoff[k]:], stride)
					}
					m.run(x, xoff, stride)
					for ch := 0; ch < co; ch++ {
						got := m.out(ch)
						for i := 0; i < n; i++ {
							var want complex128
							for k := 0; k < nk; k++ {
								want += complex128(w[(ch*nk+k)*n+i]) * complex128(xs[k][i])
							}
							if d := complex128(got[i]) - want; real(d)*real(d)+imag(d)*imag(d) > 1e-9*float64(nk) {
								t.Fatalf("co=%d nk=%d n=%d interleaved %v: channel %d value %d is %v, want %v", co, nk, n, interleaved, ch, i, got[i], want)
							}
						}
					}
				}
			}
		}
	}
}

// TestSpecMACBlocks: runBlocks, with every kernel (specMACKernels), sums exactly the
// blocks and inputs it is given (the rest of dst untouched), for every block range and every
// run of inputs of a group of four channels (the last group padded).
func TestSpecMACBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	c := func() complex64 { return complex(float32(r.NormFloat64()), float32(r.NormFloat64())) }
	const co, nk, n = 7, 5, 37 // two groups, five blocks (the last one partial)
	w := make([]complex64, co*nk*n)
	for i := range w {
		w[i] = c()
	}
	m := newSpecMAC(w, co, nk, n)
	stride := (nk + 1) * 16
	x := make([]float32, m.nb*stride)
	xs := make([][]complex64, nk)
	for k := range xs {
		xs[k] = make([]complex64, n)
		for i := range xs[k] {
			xs[k][i] = c()
		}
		toPlanar(xs[k], x[k*16:], stride) // slot k holds input k
	}
	cs := m.nb * 8
	for name, kern := range specMACKernels() {
		saved := cmacPlanar
		cmacPlanar = kern
		for g := 0; g < m.ng; g++ {
			for b0 := 0; b0 <= m.nb; b0++ {
				for b1 := b0; b1 <= m.nb; b1++ {
					for k0 := 0; k0 < nk; k0++ {
						for kn := 1; k0+kn <= nk; kn++ {
							xoff := make([]int, kn)
							for i := range xoff {
								xoff[i] = (k0 + i) * 16
							}
							dst := make([]complex64, m.ng*4*cs)
							for i := range dst {
								dst[i] = 99
							}
							m.runBlocks(dst, cs, x, xoff, stride, g, b0, b1, k0)
							for ch := 0; ch < m.ng*4; ch++ {
								for i := 0; i < cs; i++ {
									got := complex128(dst[ch*cs+i])
									want := complex128(99)
									if ch/4 == g && i >= 8*b0 && i < 8*b1 {
										want = 0
										for k := k0; k < k0+kn && ch < co && i < n; k++ {
											want += complex128(w[(ch*nk+k)*n+i]) * complex128(xs[k][i])
										}
									}
									if d := got - want; real(d)*real(d)+imag(d)*imag(d) > 1e-9*float64(nk) {
										cmacPlanar = saved
										t.Fatalf("%s: group %d blocks [%d,%d) inputs %d+%d: channel %d value %d is %v, want %v", name, g, b0, b1, k0, kn, ch, i, got, want)
									}
								}
							}
						}
					}
				}
			}
		}
		cmacPlanar = saved
	}
}

// TestSpecMACBlocks2: runBlocks2, with the pair kernel in use (AVX-512 where the CPU has it)
// and with two calls of cmacPlanar, sums exactly the blocks and inputs it is given into each
// of its two outputs, the second set of inputs another order of the slots, for every block
// range and run of inputs of each group (the last padded), the rest of both untouched.
func TestSpecMACBlocks2(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	c := func() complex64 { return complex(float32(r.NormFloat64()), float32(r.NormFloat64())) }
	const co, nk, n = 7, 5, 37
	w := make([]complex64, co*nk*n)
	for i := range w {
		w[i] = c()
	}
	m := newSpecMAC(w, co, nk, n)
	stride := (nk + 1) * 16
	x := make([]float32, m.nb*stride)
	xs := make([][]complex64, nk+1) // slot nk stays zero, as the ring's
	for k := range xs {
		xs[k] = make([]complex64, n)
		for i := range xs[k][:n*min(1, nk-k)] {
			xs[k][i] = c()
		}
		toPlanar(xs[k], x[k*16:], stride)
	}
	cs := m.nb * 8
	check := func(name string, dst []complex64, g, b0, b1, k0 int, xoff []int) {
		t.Helper()
		for ch := 0; ch < m.ng*4; ch++ {
			for i := 0; i < cs; i++ {
				want := complex128(99)
				if ch/4 == g && i >= 8*b0 && i < 8*b1 {
					want = 0
					for j, o := range xoff {
						if ch < co && i < n {
							want += complex128(w[(ch*nk+k0+j)*n+i]) * complex128(xs[o/16][i])
						}
					}
				}
				if d := complex128(dst[ch*cs+i]) - want; real(d)*real(d)+imag(d)*imag(d) > 1e-9*float64(nk) {
					t.Fatalf("%s: group %d blocks [%d,%d) inputs from %d at %v: channel %d value %d is %v, want %v", name, g, b0, b1, k0, xoff, ch, i, dst[ch*cs+i], want)
				}
			}
		}
	}
	for name, kern := range map[string]func(out0, out1 []complex64, cstride int, w, x []float32, xoff0, xoff1 []int, xstride, nk, nb, wskip int){"inuse": cmacPlanar2, "pair": cmacPlanarPair} {
		saved := cmacPlanar2
		cmacPlanar2 = kern
		defer func() { cmacPlanar2 = saved }()
		for g := 0; g < m.ng; g++ {
			for b0 := 0; b0 <= m.nb; b0++ {
				for b1 := b0; b1 <= m.nb; b1++ {
					for k0 := 0; k0 < nk; k0++ {
						for kn := 1; k0+kn <= nk; kn++ {
							xoff0, xoff1 := make([]int, kn), make([]int, kn)
							for i := range xoff0 {
								xoff0[i] = (k0 + i) * 16
								xoff1[i] = (nk - i) * 16 // the zero slot, then the last slots backwards
							}
							dst0, dst1 := make([]complex64, m.ng*4*cs), make([]complex64, m.ng*4*cs)
							for i := range dst0 {
								dst0[i], dst1[i] = 99, 99
							}
							m.runBlocks2(dst0, dst1, cs, x, xoff0, xoff1, stride, g, b0, b1, k0)
							check(name+" first", dst0, g, b0, b1, k0, xoff0)
							check(name+" second", dst1, g, b0, b1, k0, xoff1)
						}
					}
				}
			}
		}
		cmacPlanar2 = saved
	}
}

// TestSpecMACKernelsRandom holds every spectral kernel to the Go one, within float32
// rounding, on 300 random shapes (groups, blocks, inputs, skipped weights and strides, the
// inputs at random slots, repeats allowed), and the pair kernel in use to two calls of the Go
// one on the same shapes.
func TestSpecMACKernelsRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 11))
	ks := specMACKernels()
	for i := 0; i < 300; i++ {
		ng, nb, nk, skip := 1+r.IntN(3), 1+r.IntN(9), 1+r.IntN(12), r.IntN(3)
		slots := nk + r.IntN(4)
		xstride, cstride := slots*16, nb*8+8*r.IntN(3)
		w := make([]float32, ng*nb*(nk*64+skip*64))
		x := make([]float32, nb*xstride)
		for j := range w {
			w[j] = float32(r.NormFloat64())
		}
		for j := range x {
			x[j] = float32(r.NormFloat64())
		}
		xoff0, xoff1 := make([]int, nk), make([]int, nk)
		for j := range xoff0 {
			xoff0[j], xoff1[j] = r.IntN(slots)*16, r.IntN(slots)*16
		}
		want := make([]complex64, ng*4*cstride)
		cmacPlanarGo(want, cstride, w, x, xoff0, xstride, nk, nb, ng, skip*64)
		near := func(name string, got, want []complex64) {
			t.Helper()
			for j := range want {
				if d := got[j] - want[j]; real(d)*real(d)+imag(d)*imag(d) > 1e-9*float32(nk) {
					t.Fatalf("%s: %d groups, %d blocks, %d inputs (skip %d), strides %d/%d: value %d is %v, want %v", name, ng, nb, nk, skip, xstride, cstride, j, got[j], want[j])
				}
			}
		}
		for name, k := range ks {
			got := make([]complex64, len(want))
			k(got, cstride, w, x, xoff0, xstride, nk, nb, ng, skip*64)
			near(name, got, want)
		}
		want1 := make([]complex64, 4*cstride)
		cmacPlanarGo(want1, cstride, w, x, xoff1, xstride, nk, nb, 1, skip*64)
		got0, got1 := make([]complex64, 4*cstride), make([]complex64, 4*cstride)
		cmacPlanar2(got0, got1, cstride, w, x, xoff0, xoff1, xstride, nk, nb, skip*64)
		near("pair, first", got0, want[:4*cstride])
		near("pair, second", got1, want1)
	}
}

// TestAddComplexKernels holds the complex add in use to the Go one for every length from 0 to
// 20 (the 8-wide loop and its tail), leaving what follows dst untouched.
func TestAddComplexKernels(t *testing.T) {
	for n := 0; n <= 20; n++ {
		dst, want, src := make([]complex64, n+1), make([]complex64, n+1), make([]complex64, n+1)
		for i := range dst {
			dst[i] = complex(float32(i), float32(-i))
			src[i] = complex(float32(i*i)+0.5, 2)
		}
		copy(want, dst)
		addComplexGo(want[:n], src[:n])
		addComplex(dst[:n], src[:n])
		for i := range dst {
			if dst[i] != want[i] {
				t.Fatalf("n=%d: value %d is %v, want %v", n, i, dst[i], want[i])
			}
		}
	}
}

// BenchmarkSpecMAC is the first layer of the paper's model (8 channels x 40 frames of 50x26
// values) and of 80x80 and 100x100 grids, and a spectrum of 64 values whose weights stay in
// the core's L2 cache (the kernel's arithmetic alone, as the blocked first layer runs it).
func BenchmarkSpecMAC(b *testing.B) {
	const co, nk = 8, 40
	for _, n := range []int{64, 50 * 26, 80 * 41, 100 * 51} {
		for _, k := range []struct {
			name string
			f    func(out []complex64, cstride int, w, x []float32, xoff []int, xstride, nk, nb, ng, wskip int)
		}{{"generic", cmacPlanarGo}, {"inuse", cmacPlanar}, {"avx2", cmacKernels()["avx2"]}, {"avx512", cmacKernels()["avx512"]}} {
			if k.f == nil {
				continue
			}
			b.Run(fmt.Sprintf("%d/%s", n, k.name), func(b *testing.B) {
				m := newSpecMAC(make([]complex64, co*nk*n), co, nk, n)
				x := make([]float32, nk*m.planarLen())
				xoff := make([]int, nk)
				for i := range xoff {
					xoff[i] = i * 16 // interleaved, as the engine's ring
				}
				b.SetBytes(int64(4 * len(m.w)))
				for b.Loop() {
					k.f(m.acc, m.nb*8, m.w, x, xoff, nk*16, m.nk, m.nb, m.ng, 0)
				}
				b.ReportMetric(float64(8*co*nk*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
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

// TestAffineKernels holds the batch norm (and fused ReLU) in use to the Go loop for every
// length from 0 to 40, a NaN kept as NaN.
func TestAffineKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for n := 0; n <= 40; n++ {
		for _, relu := range []bool{false, true} {
			x, sc, sh := make([]float32, n), make([]float32, n+3), make([]float32, n+3)
			for i := range sc {
				sc[i], sh[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
			}
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			if n > 3 {
				x[n-2] = float32(math.NaN())
			}
			want := append([]float32{}, x...)
			affineGo(want, sc, sh, relu)
			affine(x, sc, sh, relu)
			for i := range x {
				if x[i] != want[i] && !(math.IsNaN(float64(x[i])) && math.IsNaN(float64(want[i]))) && math.Abs(float64(x[i]-want[i])) > 1e-6 {
					t.Fatalf("n=%d relu=%v: value %d is %g, want %g", n, relu, i, x[i], want[i])
				}
			}
		}
	}
}

// TestToPlanar holds the planar repack in use to its definition for lengths around the block,
// the blocks contiguous and interleaved with others.
func TestToPlanar(t *testing.T) {
	for n := 0; n <= 41; n++ {
		src := make([]complex64, n)
		for i := range src {
			src[i] = complex(float32(i), float32(-i-1))
		}
		for _, stride := range []int{16, 48} {
			dst := make([]float32, (n+7)/8*stride)
			toPlanar(src, dst, stride)
			for i, v := range src {
				b, l := i/8, i%8
				if dst[b*stride+l] != real(v) || dst[b*stride+8+l] != imag(v) {
					t.Fatalf("n=%d stride %d: value %d is (%g, %g), want %v", n, stride, i, dst[b*stride+l], dst[b*stride+8+l], v)
				}
			}
		}
	}
}
