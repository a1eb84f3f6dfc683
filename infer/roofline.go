package infer

import (
	"math"
	"time"
)

// Roofline is the best one core of this machine does, measured where the engine runs: how
// fast it reads memory that no cache holds, and how many float32 operations a second its
// widest fused multiply-add sustains. A step can be no faster than the bytes it reads over
// the first, nor than its FLOPs over the second; `retinad bench` sets every model's step
// against both, so that a figure says how close the engine is to this machine's limit
// rather than to another machine's.
type Roofline struct {
	ReadBytesPerSec float64 // best of the passes over a buffer larger than the caches
	// CacheReadBytesPerSec is the same over CacheProbeBytes, which the last-level cache of
	// this class of CPU holds and the second level does not (2 MB L2, 32 MB L3 here): what a
	// step whose data stays in L3 between steps can read at best.
	CacheReadBytesPerSec float64
	FLOPsPerSec          float64 // best of the runs of the FMA kernel
	Kernel               string  // the FMA kernel's instruction set: "avx512", "avx2" or "go"
}

// CacheProbeBytes is the buffer of Roofline.CacheReadBytesPerSec.
const CacheProbeBytes = 8 << 20

// MeasureRoofline measures both on the calling goroutine's core (the caller pins it: taskset,
// runtime.LockOSThread), in about half a second. It reads a buffer of size bytes, which should
// be several times the last-level cache (bench uses 256 MB), with the dense layers' dot
// product kernel; allocating it is the caller's memory for the call only. Not for the frame
// path. A loaded machine lowers both: take the best of several calls.
func MeasureRoofline(size int) Roofline {
	buf := make([]float32, max(size/4, 1024))
	for i := range buf {
		buf[i] = 1 // touched: every page is mapped before the timed reads
	}
	var r Roofline
	r.ReadBytesPerSec = readRate(buf)
	r.CacheReadBytesPerSec = readRate(buf[:min(len(buf), CacheProbeBytes/4)])
	const n = 1 << 20
	for run := 0; run < 8; run++ {
		t0 := time.Now()
		fmaPeak(n)
		r.FLOPsPerSec = max(r.FLOPsPerSec, float64(n)*float64(fmaPeakFLOPs)/time.Since(t0).Seconds())
	}
	r.Kernel = fmaPeakKernel
	return r
}

// readRate is the best of 8 timed reads of buf (after one untimed, which brings a buffer
// that fits a cache into it), in bytes per second.
func readRate(buf []float32) float64 {
	dot(buf, buf)
	var best float64
	for pass := 0; pass < 8; pass++ {
		t0 := time.Now()
		dot(buf, buf) // both operands at the same address: one stream from memory
		best = max(best, float64(4*len(buf))/time.Since(t0).Seconds())
	}
	return best
}

// fmaPeak runs n iterations of the widest FMA kernel this CPU has, fmaPeakFLOPs each, on
// independent accumulators (as many as keep every FMA unit busy through the latency), and
// returns one accumulator's lane, n: the proof that it ran n iterations. Assembly where the
// CPU has AVX-512 or AVX2 with FMA.
var (
	fmaPeak       = fmaPeakGo
	fmaPeakFLOPs  = 16 // per iteration of fmaPeakGo: eight multiply-adds
	fmaPeakKernel = "go"
)

// fmaPeakGo is the pure-Go kernel: eight independent sums of 1*1, as the compiler's scalar
// code does them.
func fmaPeakGo(n int) float32 {
	var s [8]float32
	one := float32(math.Float32frombits(0x3f800000)) // 1, hidden from constant folding
	for i := 0; i < n; i++ {
		for j := range s {
			s[j] += one * one
		}
	}
	return s[0]
}

// BytesRead is BytesPerStep for the last Step: a dense layer counts only the weights of that
// step's nonzero inputs, the ones its kernels read. It allocates nothing.
func (s *Stream) BytesRead() int64 {
	b := s.BytesPerStep()
	for _, o := range s.tail {
		if d, ok := o.(*denseOp); ok {
			b -= 4 * int64(d.in-d.nnz) * int64(d.width())
		}
	}
	return b
}
