package dashboard

import (
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"retinad/configs"
	"retinad/daemon"
	pb "retinad/proto/retinadpb"
	"retinad/stimulus"
)

// BenchmarkLiveSnapshot is the dashboard's own work per status period, whatever the number of
// browsers: one snapshot of two 16-cell models with their latest predictions, 25 closed bins
// (a quarter second at 100 Hz) and a 50x50 white-noise thumbnail rebuilt from its
// description, encoded to JSON once. It reports the encoded size.
func BenchmarkLiveSnapshot(b *testing.B) {
	cfg := configs.Default().Stimulus
	cfg.Kind, cfg.Height, cfg.Width = "whitenoise", 50, 50
	src, err := stimulus.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	cells := make([]int32, 16)
	rates := make([]float32, 16)
	for i := range cells {
		cells[i], rates[i] = int32(i), float32(i)
	}
	fig := daemon.Figures{Models: []daemon.ModelFigures{{Name: "cnn", Cells: 16, CellIDs: cells}, {Name: "ln", Cells: 16, CellIDs: cells}}}
	next := int64(0)
	bins := func(after int64, maxBins, n int) daemon.RecentBins {
		rb := daemon.RecentBins{CellIDs: cells, Models: []string{"cnn", "ln"}, Predicted: make([][]float64, 2)}
		for range 25 {
			rb.Frames = append(rb.Frames, next)
			rb.Observed = append(rb.Observed, make([]float64, 16))
			for m := range rb.Predicted {
				rb.Predicted[m] = append(rb.Predicted[m], make([]float64, 16)...)
			}
			next++
		}
		return rb
	}
	l := NewLive(func() daemon.Figures { return fig }, bins, time.Second)
	desc := src.Describe().Proto()
	for _, name := range []string{"cnn", "ln"} {
		p, _ := proto.Marshal(&pb.Prediction{Model: name, Rates: rates, CellIds: cells})
		l.keepPrediction(p)
	}
	var size int
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		f, _ := proto.Marshal(&pb.FrameOnset{Frame: uint64(i), Index: uint64(i), Source: desc, Confirmed: true})
		l.keepFrame(f)
		out, err := json.Marshal(l.snapshot(time.Now()))
		if err != nil {
			b.Fatal(err)
		}
		size = len(out)
	}
	b.ReportMetric(float64(size), "bytes/snapshot")
}
