package infer

// denseOp is a dense layer after the first: a matrix-vector product blocked by outputs. The
// weights are held in slabs of outputs, input-major ([slab][input][outputs]), so that one
// input's weights for a slab are contiguous (one 64-byte cache line for a slab of 16, eight
// for a wide slab of 128) and the slab's sums stay in registers for the whole pass. Only the
// nonzero inputs are visited: after a ReLU about half of them are zero, and their weights are
// never read (the result is the same sum; a dense input costs the full pass, the worst case).
// Where the CPU has AVX-512 the outputs go in wide slabs first (eight registers of sums: each
// input's weights are 512 contiguous bytes, which memory streams faster than lines scattered
// one by one), the rest in slabs of 16. The wide kernel prefetches the weights of the nonzero
// input 32 places ahead: the hardware prefetcher cannot guess which lines a random half of
// the inputs will need, and at 80x80 x 512 cells (25 MB of them a step) it waited for each.
type denseOp struct {
	w          []float32 // [nwide][in][denseWide] then [nob][in][denseBlock], padding zero
	bias       []float32 // [out] or nil
	in         int
	nwide, nob int       // wide slabs, then narrow ones
	idx        []int32   // this step's nonzero inputs: their indices
	val        []float32 // and values
	nnz        int
	acc, out   []float32 // [nwide*denseWide + nob*denseBlock] sums, [out] the layer's output
	pool       *pool
	part       func(part, parts int) // one core's share of the slabs, bound once
}

// denseBlock is the outputs one pass of the narrow kernel computes: 16 float32s, one cache
// line; denseWide those of the wide kernel (eight 16-wide registers).
const (
	denseBlock = 16
	denseWide  = 128
)

// newDenseOp takes w as [out][in], row-major (torch.nn.Linear's weight).
func newDenseOp(w, bias []float32, out, in int, p *pool) *denseOp {
	nwide := 0
	if denseWideBlocks != nil {
		nwide = out / denseWide
	}
	nob := (out - nwide*denseWide + denseBlock - 1) / denseBlock
	n := nwide*denseWide + nob*denseBlock
	o := &denseOp{w: make([]float32, n*in), bias: bias, in: in, nwide: nwide, nob: nob,
		idx: make([]int32, in), val: make([]float32, in), acc: make([]float32, n), out: make([]float32, out), pool: p}
	o.part = o.blocksPart
	for c := 0; c < out; c++ {
		off, width, b, j := 0, denseWide, c/denseWide, c%denseWide
		if r := c - nwide*denseWide; r >= 0 { // a narrow slab's, after the wide ones
			off, width, b, j = nwide*denseWide*in, denseBlock, r/denseBlock, r%denseBlock
		}
		for i, v := range w[c*in : (c+1)*in] {
			o.w[off+(b*in+i)*width+j] = v
		}
	}
	return o
}

func (o *denseOp) apply(x []float32) []float32 {
	o.gather(x)
	o.pool.run(o.part)
	o.finish()
	return o.out
}

// gather lists the nonzero inputs (branch-free: a ReLU's zeros fall at random).
func (o *denseOp) gather(x []float32) {
	n := 0
	idx, val := o.idx[:len(x)], o.val[:len(x)]
	for i, xi := range x {
		idx[n], val[n] = int32(i), xi // written always, kept when nonzero
		if xi != 0 {                  // a conditional increment, no branch to mispredict
			n++
		}
	}
	o.nnz = n
}

// blocksPart computes the sums of one core's share of the slabs (wide ones count as the
// eight narrow ones they hold).
func (o *denseOp) blocksPart(part, parts int) {
	units := o.nwide*(denseWide/denseBlock) + o.nob
	lo, hi := span(units, part, parts)
	const per = denseWide / denseBlock
	idx, val := o.idx[:o.nnz], o.val[:o.nnz]
	// A wide slab belongs to the part whose span holds its first unit.
	if w0, w1 := (lo+per-1)/per, min((hi+per-1)/per, o.nwide); w0 < w1 {
		n := o.in * denseWide
		denseWideBlocks(o.acc[w0*denseWide:w1*denseWide], o.w[w0*n:w1*n], idx, val, o.in, w1-w0)
	}
	b0, b1 := max(lo-o.nwide*per, 0), hi-o.nwide*per
	if b0 < b1 {
		base, n := o.nwide*denseWide, o.in*denseBlock
		denseBlocks(o.acc[base+b0*denseBlock:base+b1*denseBlock], o.w[base*o.in+b0*n:base*o.in+b1*n], idx, val, o.in, b1-b0)
	}
}

// finish adds the bias and drops the padding outputs.
func (o *denseOp) finish() {
	copy(o.out, o.acc)
	if o.bias != nil {
		for c, b := range o.bias {
			o.out[c] += b
		}
	}
}

// denseBlocks is the narrow kernel: for each of nob slabs b, acc[16b+j] = sum_k val[k] *
// w[(b*in + idx[k])*16 + j]. Assembly where the CPU has AVX-512 or AVX2 with FMA.
var denseBlocks = denseBlocksGo

// denseWideBlocks is the same for slabs of denseWide outputs, where the CPU has AVX-512
// (nil elsewhere: every slab is narrow).
var denseWideBlocks func(acc, w []float32, idx []int32, val []float32, in, nob int)

func denseBlocksGo(acc, w []float32, idx []int32, val []float32, in, nob int) {
	slabsGo(acc, w, idx, val, in, nob, denseBlock)
}

// slabsGo is the kernels' arithmetic for slabs of any width.
func slabsGo(acc, w []float32, idx []int32, val []float32, in, nob, width int) {
	s := make([]float32, 0, denseWide)[:width] // on the stack: width <= denseWide
	for b := 0; b < nob; b++ {
		clear(s)
		slab := w[b*in*width : (b+1)*in*width]
		for k, i := range idx {
			v, wi := val[k], slab[int(i)*width:int(i)*width+width]
			for j := range s {
				s[j] += v * wi[j]
			}
		}
		copy(acc[b*width:], s)
	}
}
