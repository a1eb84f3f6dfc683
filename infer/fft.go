package infer

import "math"

// fftPlan is a mixed-radix complex FFT of length n (self-sorting Stockham, any factors; radix
// 2, 3, 4 and 5 are cheap, a prime p costs n*p) over s interleaved sequences: element t of
// sequence r is x[r+s*t]. It holds its twiddles and no buffers, so one plan serves many calls.
type fftPlan struct {
	n      int
	stages []fftStage
}

type fftStage struct {
	p, m int         // radix and the length of the sub-transforms after this stage
	tw   []complex64 // tw[q*p+j] = exp(-2 pi i q j / (p*m))
	wp   []complex64 // wp[k*p+j] = exp(-2 pi i k j / p)
	twi  []complex64 // their conjugates, for the inverse
	wpi  []complex64
}

func newFFTPlan(n int) *fftPlan {
	pl := &fftPlan{n: n}
	cur := n
	for cur > 1 {
		p := 0
		for _, f := range []int{4, 2, 3, 5} { // radix 4 first: fewest operations
			if cur%f == 0 {
				p = f
				break
			}
		}
		if p == 0 {
			for p = 7; cur%p != 0; p++ {
			}
		}
		m := cur / p
		st := fftStage{p: p, m: m, tw: make([]complex64, m*p), wp: make([]complex64, p*p)}
		for q := 0; q < m; q++ {
			for j := 0; j < p; j++ {
				st.tw[q*p+j] = cis(-2 * math.Pi * float64(q*j) / float64(cur))
			}
		}
		for k := 0; k < p; k++ {
			for j := 0; j < p; j++ {
				st.wp[k*p+j] = cis(-2 * math.Pi * float64(k*j%p) / float64(p))
			}
		}
		st.twi, st.wpi = conjOf(st.tw), conjOf(st.wp)
		pl.stages = append(pl.stages, st)
		cur = m
	}
	return pl
}

func cis(a float64) complex64 { return complex64(complex(math.Cos(a), math.Sin(a))) }

func conjOf(v []complex64) []complex64 {
	out := make([]complex64, len(v))
	for i, c := range v {
		out[i] = complex(real(c), -imag(c))
	}
	return out
}

// Radix-3 and radix-5 constants.
var (
	s3  = float32(math.Sqrt(3) / 2)
	c51 = float32(math.Cos(2 * math.Pi / 5))
	c52 = float32(math.Cos(4 * math.Pi / 5))
	s51 = float32(math.Sin(2 * math.Pi / 5))
	s52 = float32(math.Sin(4 * math.Pi / 5))
)

// sc returns z*c for a real c, in two multiplies instead of a complex product's four.
func sc(z complex64, c float32) complex64 { return complex(real(z)*c, imag(z)*c) }

// rot returns -i*z for the forward transform and i*z for the inverse (sgn = -1 or 1).
func rot(z complex64, sgn float32) complex64 { return complex(-sgn*imag(z), sgn*real(z)) }

// transform computes the forward DFT (sum_t x[t] exp(-2 pi i f t / n)), or with inv the
// unscaled inverse (exp(+2 pi i f t / n)), of the s sequences in x, using y (same length, n*s)
// as scratch; it returns the slice holding the result (x or y).
func (pl *fftPlan) transform(x, y []complex64, s int, inv bool) []complex64 {
	return pl.run(x, y, s, inv, true)
}

// run is transform, with the assembly stages only when asm is set (the tests compare).
func (pl *fftPlan) run(x, y []complex64, s int, inv, asm bool) []complex64 {
	sgn := float32(-1)
	if inv {
		sgn = 1
	}
	for si := range pl.stages {
		st := &pl.stages[si]
		p, m := st.p, st.m
		twAll, wp := st.tw, st.wp
		if inv {
			twAll, wp = st.twi, st.wpi
		}
		if asm && fftStageAsm(p, x, y, twAll, s, m, inv) {
			x, y = y, x
			s *= p
			continue
		}
		switch p {
		case 2:
			for q := 0; q < m; q++ {
				w1 := twAll[q*2+1]
				x0, x1 := x[s*q:s*q+s], x[s*(q+m):s*(q+m)+s]
				y0, y1 := y[s*2*q:s*2*q+s], y[s*(2*q+1):s*(2*q+1)+s]
				x1, y0, y1 = x1[:len(x0)], y0[:len(x0)], y1[:len(x0)]
				for r, a0 := range x0 {
					a1 := x1[r]
					y0[r] = a0 + a1
					y1[r] = w1 * (a0 - a1)
				}
			}
		case 4:
			for q := 0; q < m; q++ {
				w1, w2, w3 := twAll[q*4+1], twAll[q*4+2], twAll[q*4+3]
				x0, x1, x2, x3 := x[s*q:s*q+s], x[s*(q+m):s*(q+m)+s], x[s*(q+2*m):s*(q+2*m)+s], x[s*(q+3*m):s*(q+3*m)+s]
				o := s * 4 * q
				y0, y1, y2, y3 := y[o:o+s], y[o+s:o+2*s], y[o+2*s:o+3*s], y[o+3*s:o+4*s]
				n := len(x0)
				x1, x2, x3, y0, y1, y2, y3 = x1[:n], x2[:n], x3[:n], y0[:n], y1[:n], y2[:n], y3[:n]
				for r, a0 := range x0 {
					a1, a2, a3 := x1[r], x2[r], x3[r]
					b0, b1 := a0+a2, a0-a2
					b2, b3 := a1+a3, rot(a1-a3, sgn)
					y0[r] = b0 + b2
					if q == 0 {
						y1[r], y2[r], y3[r] = b1+b3, b0-b2, b1-b3
					} else {
						y1[r], y2[r], y3[r] = w1*(b1+b3), w2*(b0-b2), w3*(b1-b3)
					}
				}
			}
		case 3:
			for q := 0; q < m; q++ {
				w1, w2 := twAll[q*3+1], twAll[q*3+2]
				x0, x1, x2 := x[s*q:s*q+s], x[s*(q+m):s*(q+m)+s], x[s*(q+2*m):s*(q+2*m)+s]
				o := s * 3 * q
				y0, y1, y2 := y[o:o+s], y[o+s:o+2*s], y[o+2*s:o+3*s]
				n := len(x0)
				x1, x2, y0, y1, y2 = x1[:n], x2[:n], y0[:n], y1[:n], y2[:n]
				for r, a0 := range x0 {
					a1, a2 := x1[r], x2[r]
					t1 := a1 + a2
					t2 := a0 - sc(t1, 0.5)
					t3 := rot(sc(a1-a2, s3), sgn)
					y0[r] = a0 + t1
					if q == 0 {
						y1[r], y2[r] = t2+t3, t2-t3
					} else {
						y1[r], y2[r] = w1*(t2+t3), w2*(t2-t3)
					}
				}
			}
		case 5:
			for q := 0; q < m; q++ {
				w1, w2, w3, w4 := twAll[q*5+1], twAll[q*5+2], twAll[q*5+3], twAll[q*5+4]
				x0, x1, x2, x3, x4 := x[s*q:s*q+s], x[s*(q+m):s*(q+m)+s], x[s*(q+2*m):s*(q+2*m)+s], x[s*(q+3*m):s*(q+3*m)+s], x[s*(q+4*m):s*(q+4*m)+s]
				o := s * 5 * q
				y0, y1, y2, y3, y4 := y[o:o+s], y[o+s:o+2*s], y[o+2*s:o+3*s], y[o+3*s:o+4*s], y[o+4*s:o+5*s]
				n := len(x0)
				x1, x2, x3, x4 = x1[:n], x2[:n], x3[:n], x4[:n]
				y0, y1, y2, y3, y4 = y0[:n], y1[:n], y2[:n], y3[:n], y4[:n]
				for r, a0 := range x0 {
					a1, a2, a3, a4 := x1[r], x2[r], x3[r], x4[r]
					b1, b2, d1, d2 := a1+a4, a2+a3, a1-a4, a2-a3
					t1 := a0 + sc(b1, c51) + sc(b2, c52)
					t2 := a0 + sc(b1, c52) + sc(b2, c51)
					u1 := rot(sc(d1, s51)+sc(d2, s52), sgn)
					u2 := rot(sc(d1, s52)-sc(d2, s51), sgn)
					y0[r] = a0 + b1 + b2
					if q == 0 {
						y1[r], y2[r], y3[r], y4[r] = t1+u1, t2+u2, t2-u2, t1-u1
					} else {
						y1[r], y2[r], y3[r], y4[r] = w1*(t1+u1), w2*(t2+u2), w3*(t2-u2), w4*(t1-u1)
					}
				}
			}
		default:
			for q := 0; q < m; q++ {
				tw := twAll[q*p : q*p+p]
				for r := 0; r < s; r++ {
					o := r + s*p*q
					for j := 0; j < p; j++ {
						var acc complex64
						for k := 0; k < p; k++ {
							acc += x[r+s*(q+m*k)] * wp[k*p+j]
						}
						y[o+s*j] = tw[j] * acc
					}
				}
			}
		}
		x, y = y, x
		s *= p
	}
	return x
}

// spectral is the 2-D real FFT of h x w images: spectra are h x (w/2+1) complex values,
// row (ky) major. Images may be smaller (ih x iw, zero-padded to h x w). It owns its scratch
// buffers: one goroutine at a time.
type spectral struct {
	h, w, hf   int
	ih, iw     int
	row, col   *fftPlan
	bufA, bufB []complex64 // scratch, max(w*ceil(h/2), h*hf)
	pad        []float32   // h*w, the padded image, when ih x iw is smaller than h x w
}

func newSpectral(h, w int) *spectral {
	hf := w/2 + 1
	n := max(w*((h+1)/2), h*hf)
	return &spectral{h: h, w: w, hf: hf, ih: h, iw: w, row: newFFTPlan(w), col: newFFTPlan(h), bufA: make([]complex64, n), bufB: make([]complex64, n)}
}

// newPaddedSpectral is the transform of ih x iw images zero-padded to the nearest even size
// of cheap radices (2, 3, 5) in each dimension: a valid correlation computed through it is
// exact as long as the transform is at least the image's size, and a length like 86 (2 x 43)
// would otherwise cost a prime-radix stage 43 operations per point.
func newPaddedSpectral(ih, iw int) *spectral {
	sp := newSpectral(smoothSize(ih), smoothSize(iw))
	sp.ih, sp.iw = ih, iw
	if sp.h != ih || sp.w != iw {
		sp.pad = make([]float32, sp.h*sp.w)
	}
	return sp
}

// smoothSize is the least n' >= n of the form 2^a 3^b 5^c, even unless n is 1.
func smoothSize(n int) int {
	for m := n; ; m++ {
		r := m
		for _, f := range []int{2, 3, 5} {
			for r%f == 0 {
				r /= f
			}
		}
		if r == 1 && (m%2 == 0 || m == 1) {
			return m
		}
	}
}

// forward writes the spectrum of the h x w image img (row-major) to dst (h*hf values).
func (sp *spectral) forward(img []float32, dst []complex64) {
	copy(dst, sp.spectrum(img))
}

// spectrum returns the spectrum of the ih x iw image img (row-major, zero-padded to h x w) in one of the scratch
// buffers: valid until the next call.
func (sp *spectral) spectrum(img []float32) []complex64 {
	h, w, hf := sp.h, sp.w, sp.hf
	if sp.pad != nil { // the rows and columns past the image stay zero
		for y := 0; y < sp.ih; y++ {
			copy(sp.pad[y*w:y*w+sp.iw], img[y*sp.iw:(y+1)*sp.iw])
		}
		img = sp.pad
	}
	P := (h + 1) / 2
	full := h / 2 // pairs with both rows
	// Rows in pairs: z = row 2p + i row 2p+1, laid out [x][p] for the interleaved FFT.
	z := sp.bufA[:w*P]
	done := full == P && packAsm(z, img, P, w)
	for p := 0; p < full && !done; p++ {
		a, b := img[2*p*w:2*p*w+w], img[(2*p+1)*w:(2*p+1)*w+w]
		for x, av := range a {
			z[x*P+p] = complex(av, b[x])
		}
	}
	if full < P {
		for x, av := range img[2*full*w : 2*full*w+w] {
			z[x*P+full] = complex(av, 0)
		}
	}
	Z := sp.row.transform(z, sp.bufB[:w*P], P, false)
	u, v := sp.bufA[:h*hf], sp.bufB[:h*hf] // u the buffer Z is not in
	if &Z[0] == &sp.bufA[0] {
		u, v = v, u
	}
	// Unpack the two real rows' half spectra into u laid out [y][fx]: with zn = conj(Z[w-fx]),
	// row 2p's is (Z+zn)/2 and row 2p+1's is (Z-zn)/(2i).
	nfx := hf
	if full == P && splitAsm(u, Z, P, hf, w) {
		nfx = 1 // the assembly did fx >= 1
	}
	for fx := 0; fx < nfx; fx++ {
		nf := (w - fx) % w
		zs, zns := Z[fx*P:fx*P+P], Z[nf*P:nf*P+P]
		for p := 0; p < full; p++ {
			zf, zn := zs[p], zns[p]
			u[2*p*hf+fx] = complex((real(zf)+real(zn))*0.5, (imag(zf)-imag(zn))*0.5)
			u[(2*p+1)*hf+fx] = complex((imag(zf)+imag(zn))*0.5, (real(zn)-real(zf))*0.5)
		}
		if full < P {
			zf, zn := zs[full], zns[full]
			u[2*full*hf+fx] = complex((real(zf)+real(zn))*0.5, (imag(zf)-imag(zn))*0.5)
		}
	}
	// Columns: h-point FFTs over the hf interleaved columns.
	return sp.col.transform(u, v, hf, false)
}

// inverse writes the top-left oh x ow corner of the image whose spectrum is spec (h*hf values,
// destroyed) plus bias to dst (oh*ow, row-major), unscaled: the image is h*w times the true
// inverse.
func (sp *spectral) inverse(spec []complex64, dst []float32, oh, ow int, bias float32) {
	h, w, hf := sp.h, sp.w, sp.hf
	g := sp.col.transform(spec, sp.bufA[:h*hf], hf, true)
	// Rows in pairs: Z[f] = A[f] + i B[f] with the Hermitian halves filled in (A[f] =
	// conj(A[w-f]) for f >= hf), laid out [f][p].
	P := (oh + 1) / 2
	full := min(P, h/2) // pairs with both rows
	z := sp.bufB[:w*P]
	done := full == P && fillAsm(z, g, P, hf, w)
	for p := 0; p < full && !done; p++ {
		a, b := g[2*p*hf:2*p*hf+hf], g[(2*p+1)*hf:(2*p+1)*hf+hf]
		for f, av := range a {
			bv := b[f]
			z[f*P+p] = complex(real(av)-imag(bv), imag(av)+real(bv))
		}
		for f := hf; f < w; f++ {
			av, bv := a[w-f], b[w-f]
			z[f*P+p] = complex(real(av)+imag(bv), real(bv)-imag(av))
		}
	}
	if full < P && !done { // the last row alone (odd h)
		a := g[2*full*hf : 2*full*hf+hf]
		for f, av := range a {
			z[f*P+full] = av
		}
		for f := hf; f < w; f++ {
			av := a[w-f]
			z[f*P+full] = complex(real(av), -imag(av))
		}
	}
	out := sp.row.transform(z, sp.bufA[:w*P], P, true)
	dst = dst[:oh*ow]
	if oh == 2*P && unpackAsm(dst, out, P, ow, bias) {
		return
	}
	for p := 0; p < P; p++ {
		// real part row 2p, imaginary part row 2p+1
		r0 := dst[2*p*ow : 2*p*ow+ow]
		if 2*p+1 < oh {
			r1 := dst[(2*p+1)*ow : (2*p+1)*ow+ow]
			for x := range r0 {
				v := out[x*P+p]
				r0[x], r1[x] = real(v)+bias, imag(v)+bias
			}
		} else {
			for x := range r0 {
				r0[x] = real(out[x*P+p]) + bias
			}
		}
	}
}
