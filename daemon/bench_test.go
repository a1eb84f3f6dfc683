package daemon

import (
	"retinad/clock/clocktest"
	"testing"
)

// BenchmarkFramePath is the daemon's own per-frame work without the display and the model
// math: generate a 50x50 frame, hand it to one model through its ring, take the result, and
// stamp and publish the frame onset and the prediction (marshalled) on a bus that drops them.
func BenchmarkFramePath(b *testing.B) {
	bus := &nopBus{}
	clk := clocktest.NewVirtualClock(0) // the presenter moves it to each flip
	d, err := New(Parts{
		Rig: "a", Session: "s", Source: &constSource{}, Presenter: &clockPresenter{clk: clk}, Bus: bus,
		FrameRate: 100, Height: 50, Width: 50, Clock: clk,
		Models: []Model{{Name: "m", Engine: sumEngine{}, CellIDs: []int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, BinRate: 100}},
	})
	if err != nil {
		b.Fatal(err)
	}
	r := d.models.Load().runners[0]
	for k := uint64(0); k < uint64(len(d.stage)); k++ {
		_ = d.generate(k)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for k := 0; k < b.N; k++ {
		_ = d.showFrame(uint64(k))
		x, o := r.in.Peek(), r.out.Reserve()
		_ = r.Engine.Step(x.pix, o.rates)
		o.frame, o.doneNs = x.frame, clk.Now()
		r.out.Commit()
		r.in.Release()
		d.stamp.process()
	}
}

// BenchmarkHandoff compares the frame loop's hand-off of a 50x50 frame to a model goroutine
// through the lock-free ring with a buffered channel of frame copies (the obvious peer), each
// with a real consumer goroutine.
func BenchmarkHandoff(b *testing.B) {
	const pixels = 2500
	src := make([]float32, pixels)
	b.Run("ring", func(b *testing.B) {
		r := newRing(64, func(x *modelIn) { x.pix = make([]float32, pixels) })
		w := newWake()
		done := make(chan struct{})
		go func() {
			for n := 0; n < b.N; {
				if x := r.Peek(); x != nil {
					_ = x.pix[0]
					r.Release()
					n++
					continue
				}
				<-w
			}
			close(done)
		}()
		b.ReportAllocs()
		for k := 0; k < b.N; k++ {
			for {
				if x := r.Reserve(); x != nil {
					x.frame = uint64(k)
					copy(x.pix, src)
					r.Commit()
					w.Ring()
					break
				}
				w.Ring()
			}
		}
		<-done
	})
	b.Run("chan", func(b *testing.B) {
		c := make(chan []float32, 64)
		done := make(chan struct{})
		go func() {
			for n := 0; n < b.N; n++ {
				x := <-c
				_ = x[0]
			}
			close(done)
		}()
		b.ReportAllocs()
		for k := 0; k < b.N; k++ {
			c <- append([]float32(nil), src...)
		}
		<-done
	})
}
