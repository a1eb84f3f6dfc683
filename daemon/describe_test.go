package daemon_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"retinad/daemon"
	"retinad/daemon/daemontest"
	pb "retinad/proto/retinadpb"
)

// describedSource is a Source that describes its frames (a daemon.Describer).
type describedSource struct {
	daemontest.Source
	desc *pb.StimulusSource
}

func (s *describedSource) Description() *pb.StimulusSource { return s.desc }

// TestFrameOnsetCarriesTheSource checks that every published FrameOnset carries the
// description its source gave for that frame, with the source's index: what export rebuilds
// the frame from. A source that is no Describer gets the grid alone, and its frames carry
// their pixels.
func TestFrameOnsetCarriesTheSource(t *testing.T) {
	desc := &pb.StimulusSource{Kind: "flicker", Seed: 7, Height: 4, Width: 4, FrameRateHz: 100, Reproducible: true,
		Params: []*pb.Param{{Name: "contrast", Value: 0.3}, {Name: "gaussian", Value: 1}}}
	for _, tc := range []struct {
		name string
		src  daemon.Source
		want *pb.StimulusSource
	}{
		{"describer", &describedSource{desc: desc}, desc},
		{"plain", &daemontest.Source{}, &pb.StimulusSource{Height: 4, Width: 4, FrameRateHz: 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, clock := daemontest.Setup(t)
			d, err := daemon.New(daemon.Parts{
				Rig: "desc", Session: "s", Source: tc.src, Presenter: &daemontest.Presenter{Clock: clock, Period: 10 * time.Millisecond},
				Bus: daemon.NATSBus(nc, 4096, nil), FrameRate: 100, Height: 4, Width: 4, Clock: clock,
			})
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var got []*pb.FrameOnset
			enough := make(chan struct{})
			sub, err := nc.Subscribe("retinad.desc.frame", func(m *nats.Msg) {
				o := &pb.FrameOnset{}
				if err := proto.Unmarshal(m.Data, o); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if got = append(got, o); len(got) == 20 {
					close(enough)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Unsubscribe()
			_, stopDaemon := daemontest.Run(t, d.Run)
			select {
			case <-enough:
			case <-time.After(10 * time.Second):
				t.Error("fewer than 20 frame onsets in 10 s")
			}
			stopDaemon()
			mu.Lock()
			defer mu.Unlock()
			// The frames a fresh source makes, to compare the pixels of the plain one with.
			ref := &daemontest.Source{}
			var frames [][]float32
			for i, o := range got {
				if !proto.Equal(o.Source, tc.want) {
					t.Fatalf("frame %d: source %v, want %v", o.Frame, o.Source, tc.want)
				}
				if o.Frame != uint64(i) || o.DisplayFrame != o.Frame || o.Index != o.Frame { // daemontest.Source's index is its frame count
					t.Fatalf("onset %d: frame %d, display frame %d, index %d", i, o.Frame, o.DisplayFrame, o.Index)
				}
				for uint64(len(frames)) <= o.Index {
					f := make([]float32, 16)
					ref.Next(f)
					frames = append(frames, f)
				}
				switch {
				case tc.want.Reproducible && len(o.Pixels) != 0:
					t.Fatalf("frame %d of a reproducible source carries %d pixels", o.Frame, len(o.Pixels))
				case !tc.want.Reproducible && fmt.Sprint(o.Pixels) != fmt.Sprint(frames[o.Index]):
					t.Fatalf("frame %d: pixels %v, shown %v", o.Frame, o.Pixels, frames[o.Index])
				}
			}
		})
	}
}
