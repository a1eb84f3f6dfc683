package infer

// denseOp is a dense layer after the first: a matrix-vector product blocked by outputs. The
// weights are held in slabs of outputs, input-major ([slab][input][outputs]), so that one
// input's weights for a slab are contiguous (one 64-byte cache line for a slab of 16, four or
// eight for a wide slab of 64 or 128) and the slab's sums stay in registers for the whole
// pass. Only the nonzero inputs are visited: after a ReLU about half of them are zero, and
// their weights are never read (the result is the same sum; a dense input costs the full
// pass, the worst case). Where the CPU has AVX-512 the outputs go in wide slabs first (of 128
// outputs, or of 64 for 64 to 127 cells: eight or four registers of sums, each input's
// weights 512 or 256 contiguous bytes, which memory streams faster than lines scattered one
// by one, and one pass over the inputs instead of eight or four), the rest in slabs of 16.
// The wide kernels prefetch the weights of the nonzero input 16 KB ahead: the hardware
// prefetcher cannot guess which lines a random half of the inputs will need, and at 80x80 x
// 512 cells (25 MB of them a step) it waited for each.
//
// Split across cores, each core takes an equal share of the nonzero inputs for every slab,
// into sums of its own, added at the end: each reads its share of the weight stream (two
// cores draw more of the memory's bandwidth than one), and the shares are equal whatever the
// slabs (a model of 64 cells is one slab, which a split by slabs would leave to one core).
type denseOp struct {
	w          []float32 // [nwide][in][wide] then [nob][in][denseBlock], padding zero
	bias       []float32 // [out] or nil
	in         int
	wide       int       // outputs of a wide slab (denseWide or denseWide64), or 0
	nwide, nob int       // wide slabs, then narrow ones
	idx        []int32   // this step's nonzero inputs: their indices
	val        []float32 // and values
	nnz        int
	// wideK is the wide slabs' kernel.
	wideK func(acc, w []float32, idx []int32, val []float32, in, nob int)
	acc   [][]float32 // [part][nwide*wide + nob*denseBlock]: each core's sums over its inputs
	out   []float32   // [out] the layer's output
	pool  *pool
	part  func(part, parts int) // one core's share of the inputs, bound once
}

// denseBlock is the outputs one pass of the narrow kernel computes: 16 float32s, one cache
// line; denseWide and denseWide64 those of the wide kernels (eight and four 16-wide registers).
const (
	denseBlock  = 16
	denseWide   = 128
	denseWide64 = 64
)

// newDenseOp takes w as [out][in], row-major (torch.nn.Linear's weight).
func newDenseOp(w, bias []float32, out, in int, p *pool) *denseOp {
	o := &denseOp{bias: bias, in: in, idx: make([]int32, in), val: make([]float32, in), out: make([]float32, out), pool: p}
	for _, width := range []int{denseWide, denseWide64} {
		if k := denseWideBlocks[width]; k != nil && out >= width {
			o.wide, o.wideK, o.nwide = width, k, out/width
			break
		}
	}
	o.nob = (out - o.nwide*o.wide + denseBlock - 1) / denseBlock
	n := o.width()
	o.w = make([]float32, n*in)
	o.acc = make([][]float32, p.parts())
	for i := range o.acc {
		o.acc[i] = make([]float32, n)
	}
	o.part = o.inputsPart
	for c := 0; c < out; c++ {
		off, width, b, j := 0, o.wide, 0, 0
		if o.wide > 0 {
			b, j = c/o.wide, c%o.wide
		}
		if r := c - o.nwide*o.wide; r >= 0 { // a narrow slab's, after the wide ones
			off, width, b, j = o.nwide*o.wide*in, denseBlock, r/denseBlock, r%denseBlock
		}
		for i, v := range w[c*in : (c+1)*in] {
			o.w[off+(b*in+i)*width+j] = v
		}
	}
	return o
}

// width is the outputs rounded up to whole slabs: the sums the kernels write, and the
// weights each nonzero input reads.
func (o *denseOp) width() int { return o.nwide*o.wide + o.nob*denseBlock }

func (o *denseOp) apply(x []float32) []float32 {
	o.gather(x)
	o.pool.run(o.part)
	o.finish()
	return o.out
}

// gather lists the nonzero inputs.
func (o *denseOp) gather(x []float32) { o.nnz = gatherNonzero(o.idx, o.val, x) }

// gatherNonzero writes the indices and values of x's nonzero entries (NaN included) to the
// front of idx and val (each at least len(x) long) and returns their count. Where the CPU has
// AVX-512 it packs 16 inputs at a time (the Go loop, about 1 ns an input, was 2% of the 80x80 x
// 512-cell step).
var gatherNonzero = gatherNonzeroGo

// gatherNonzeroGo is branch-free: a ReLU's zeros fall at random.
func gatherNonzeroGo(idx []int32, val []float32, x []float32) int {
	n := 0
	idx, val = idx[:len(x)], val[:len(x)]
	for i, xi := range x {
		idx[n], val[n] = int32(i), xi // written always, kept when nonzero
		if xi != 0 {                  // a conditional increment, no branch to mispredict
			n++
		}
	}
	return n
}

// inputsPart computes, into acc[part], every slab's sums over one core's share of the
// nonzero inputs.
func (o *denseOp) inputsPart(part, parts int) {
	k0, k1 := span(o.nnz, part, parts)
	idx, val, acc := o.idx[k0:k1], o.val[k0:k1], o.acc[part]
	base := o.nwide * o.wide
	if o.nwide > 0 {
		o.wideK(acc[:base], o.w[:base*o.in], idx, val, o.in, o.nwide)
	}
	if o.nob > 0 {
		denseBlocks(acc[base:], o.w[base*o.in:], idx, val, o.in, o.nob)
	}
}

// finish adds the cores' sums and the bias, and drops the padding outputs.
func (o *denseOp) finish() {
	copy(o.out, o.acc[0])
	for _, acc := range o.acc[1:] {
		for c := range o.out {
			o.out[c] += acc[c]
		}
	}
	if o.bias != nil {
		for c, b := range o.bias {
			o.out[c] += b
		}
	}
}

// denseBlocks is the narrow kernel: for each of nob slabs b, acc[16b+j] = sum_k val[k] *
// w[(b*in + idx[k])*16 + j]. Assembly where the CPU has AVX-512 or AVX2 with FMA.
var denseBlocks = denseBlocksGo

// denseWideBlocks is the same for wide slabs, by their width (denseWide, denseWide64), where
// the CPU has AVX-512 (nil elsewhere: every slab is narrow).
var denseWideBlocks map[int]func(acc, w []float32, idx []int32, val []float32, in, nob int)

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
