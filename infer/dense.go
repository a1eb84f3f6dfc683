package infer

// denseOp is a dense layer after the first: a matrix-vector product blocked by outputs. The
// weights are held in slabs of 16 outputs, input-major ([block][input][16]), so that one
// input's weights for a block are one 64-byte cache line and the block's 16 sums stay in
// registers for the whole pass. Only the nonzero inputs are visited: after a ReLU about half
// of them are zero, and their cache lines are never read (the result is the same sum; a
// dense input costs the full pass, the worst case).
type denseOp struct {
	w        []float32 // [nob][in][denseBlock], the padding outputs zero
	bias     []float32 // [out] or nil
	in, nob  int
	idx      []int32   // this step's nonzero inputs: their indices
	val      []float32 // and values
	nnz      int
	acc, out []float32 // [nob*denseBlock] sums, [out] the layer's output
	pool     *pool
	part     func(part, parts int) // one core's share of the blocks, bound once
}

// denseBlock is the outputs one pass of the kernel computes: 16 float32s, one cache line.
const denseBlock = 16

// newDenseOp takes w as [out][in], row-major (torch.nn.Linear's weight).
func newDenseOp(w, bias []float32, out, in int, p *pool) *denseOp {
	nob := (out + denseBlock - 1) / denseBlock
	o := &denseOp{w: make([]float32, nob*in*denseBlock), bias: bias, in: in, nob: nob,
		idx: make([]int32, in), val: make([]float32, in), acc: make([]float32, nob*denseBlock), out: make([]float32, out), pool: p}
	o.part = o.blocksPart
	for c := 0; c < out; c++ {
		b, j := c/denseBlock, c%denseBlock
		for i, v := range w[c*in : (c+1)*in] {
			o.w[(b*in+i)*denseBlock+j] = v
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

// blocksPart computes the sums of one core's share of the output blocks.
func (o *denseOp) blocksPart(part, parts int) {
	lo, hi := span(o.nob, part, parts)
	if lo >= hi {
		return
	}
	n := o.in * denseBlock
	denseBlocks(o.acc[lo*denseBlock:hi*denseBlock], o.w[lo*n:hi*n], o.idx[:o.nnz], o.val[:o.nnz], o.in, hi-lo)
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

// denseBlocks is the kernel: for each of nob blocks b, acc[16b+j] = sum_k val[k] *
// w[(b*in + idx[k])*16 + j]. Assembly where the CPU has AVX-512 or AVX2 with FMA.
var denseBlocks = denseBlocksGo

func denseBlocksGo(acc, w []float32, idx []int32, val []float32, in, nob int) {
	for b := 0; b < nob; b++ {
		var s [denseBlock]float32
		slab := w[b*in*denseBlock : (b+1)*in*denseBlock]
		for k, i := range idx {
			v, wi := val[k], slab[int(i)*denseBlock:int(i)*denseBlock+denseBlock]
			for j := range s {
				s[j] += v * wi[j]
			}
		}
		copy(acc[b*denseBlock:], s[:])
	}
}
