package npy

import (
	"bytes"
	"testing"
)

// BenchmarkRead reads a 10,000-frame 50x50 movie from memory into float32: as float32 (read
// straight into the slice) and as uint8 (converted).
//
//	go test -run XXX -bench Read -benchtime 20x ./infer/npy/
func BenchmarkRead(b *testing.B) {
	const n = 10000 * 2500
	for name, data := range map[string][]byte{"f4": encoded(make([]float32, n)), "u1": encoded(make([]uint8, n))} {
		b.Run(name, func(b *testing.B) {
			dst := make([]float32, n)
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				a, err := newArray("bench", bytes.NewReader(data), nil, uint64(len(data)))
				if err != nil {
					b.Fatal(err)
				}
				if err := ReadInto(a, dst); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/element")
		})
	}
}

func encoded[T Elem](v []T) []byte {
	var b bytes.Buffer
	Write(&b, []int{len(v)}, v)
	return b.Bytes()
}
