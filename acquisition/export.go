package acquisition

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"retinad/infer/dataset"
	pb "retinad/proto/retinadpb"
)

// FrameMaker regenerates frame index of a reproducible stimulus source into dst (len
// height*width, contrast, row-major). The stimulus package provides it; Export needs it only
// for frames recorded without pixels.
type FrameMaker func(src *pb.StimulusSource, index uint64, dst []float32) error

// ExportOptions tune Export.
type ExportOptions struct {
	Frames FrameMaker // nil: every frame must carry its pixels
	// BinRate is the dataset's bins per second; 0 takes the session's (SessionEvent.bin_rate_hz),
	// else the stimulus frame rate.
	BinRate float64
}

// Export turns a recorded session into a dataset (see infer/dataset):
//
//   - bins of 1/BinRate seconds on host time, from the first frame onset to the end of the last
//     frame; bin t's stimulus is the frame on screen at the bin's centre, by confirmed onsets
//     (an unconfirmed frame's onset is its flip plus the session's median latency);
//   - spikes are placed on host time by a straight-line fit (offset and drift) of the
//     acquisition clock against the host clock over the sync events, each paired with the onset
//     of its frame (Sync.frame, or in order with the confirmed onsets when the acquisition
//     system does not know frame numbers), then counted per bin and cell;
//   - cell ids are every cell seen in spikes or in predictions, ascending.
//
// Daemon messages of other sessions in the range are ignored; spikes and sync events count
// when their session is empty or this one.
func Export(ctx context.Context, conn *nats.Conn, subj Subjects, session string, o ExportOptions) (*dataset.Dataset, error) {
	r, err := FindSession(ctx, conn, subj, session)
	if err != nil {
		return nil, err
	}
	var s recorded
	var fo pb.FrameOnset
	var sp pb.Spikes
	var sy pb.Sync
	var pr pb.Prediction
	err = ReadSession(ctx, conn, subj, r, func(subject string, seq uint64, data []byte) error {
		var err error
		switch {
		case subject == subj.Frame:
			if err = proto.Unmarshal(data, &fo); err == nil && fo.Session == session {
				s.frames = append(s.frames, proto.Clone(&fo).(*pb.FrameOnset))
			}
		case subject == subj.Spikes:
			if err = DecodeSpikes(data, &sp); err == nil && (sp.Session == "" || sp.Session == session) {
				for i, c := range sp.CellIds {
					s.spikeCells = append(s.spikeCells, c)
					s.spikeTimes = append(s.spikeTimes, sp.TimesAcqNs[i])
				}
			}
		case subject == subj.Sync:
			if err = DecodeSync(data, &sy); err == nil && (sy.Session == "" || sy.Session == session) {
				s.syncs = append(s.syncs, proto.Clone(&sy).(*pb.Sync))
			}
		case len(subject) > len(subj.Root)+12 && subject[:len(subj.Root)+12] == subj.Root+".prediction.":
			if err = proto.Unmarshal(data, &pr); err == nil && pr.Session == session {
				s.predCells = append(s.predCells, pr.CellIds...)
			}
		}
		if err != nil {
			return fmt.Errorf("acquisition: session %q, %s sequence %d: %w", session, subject, seq, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rate := o.BinRate
	if rate == 0 && r.Start != nil {
		rate = r.Start.BinRateHz
	}
	return s.dataset(session, rate, o.Frames)
}

// recorded is what Export gathers from a session.
type recorded struct {
	frames     []*pb.FrameOnset
	syncs      []*pb.Sync
	spikeCells []int32
	spikeTimes []int64 // acquisition clock
	predCells  []int32
}

func (s *recorded) dataset(session string, rate float64, maker FrameMaker) (*dataset.Dataset, error) {
	fail := func(f string, a ...any) (*dataset.Dataset, error) {
		return nil, fmt.Errorf("acquisition: export session %q: "+f, append([]any{session}, a...)...)
	}
	if len(s.frames) == 0 {
		return fail("no frame onsets recorded")
	}
	sort.Slice(s.frames, func(i, j int) bool { return s.frames[i].Frame < s.frames[j].Frame })
	src0 := s.frames[0].Source
	if src0 == nil || src0.Height == 0 || src0.Width == 0 {
		return fail("frame %d has no stimulus source size", s.frames[0].Frame)
	}
	if rate == 0 {
		rate = src0.FrameRateHz
	}
	if !(rate > 0) || math.IsInf(rate, 0) {
		return fail("no bin rate: the session's START has no bin_rate_hz and the stimulus no frame_rate_hz; give one")
	}
	// Onsets on host time.
	var lat []int64
	for _, f := range s.frames {
		if f.Confirmed {
			lat = append(lat, f.OnsetHostNs-f.FlipHostNs)
		}
	}
	if len(lat) == 0 {
		return fail("no frame onset was confirmed by the photodiode; cannot place frames on host time")
	}
	slices.Sort(lat)
	median := lat[len(lat)/2]
	onset := make([]int64, len(s.frames))
	byFrame := make(map[uint64]int, len(s.frames))
	for i, f := range s.frames {
		onset[i] = f.OnsetHostNs
		if !f.Confirmed {
			onset[i] = f.FlipHostNs + median
		}
		byFrame[f.Frame] = i
	}
	width := float64(1e9) / rate // ns per bin
	framePeriod := width
	if src0.FrameRateHz > 0 {
		framePeriod = 1e9 / src0.FrameRateHz
	}
	t0 := onset[0]
	T := int(math.Floor(float64(onset[len(onset)-1]-t0+int64(framePeriod)) / width))
	if T < 1 {
		return fail("shorter than one bin")
	}
	H, W := int(src0.Height), int(src0.Width)
	P := H * W

	// Cells.
	cells := slices.Concat(s.spikeCells, s.predCells)
	slices.Sort(cells)
	cells = slices.Compact(cells)
	if len(cells) == 0 {
		return fail("no cells: no spikes and no predictions with cell ids")
	}
	col := make(map[int32]int, len(cells))
	ids := make([]int64, len(cells))
	for i, c := range cells {
		col[c], ids[i] = i, int64(c)
	}
	C := len(cells)

	d := &dataset.Dataset{T: T, H: H, W: W, C: C, FrameRate: rate, CellIDs: ids,
		Stimulus: make([]float32, T*P), Counts: make([]float32, T*C)}

	// Stimulus: the frame on screen at each bin's centre.
	fi := 0
	prev := -1
	for t := range T {
		centre := float64(t0) + (float64(t)+0.5)*width
		for fi+1 < len(onset) && float64(onset[fi+1]) <= centre {
			fi++
		}
		dst := d.Stimulus[t*P : (t+1)*P]
		if fi == prev {
			copy(dst, d.Stimulus[(t-1)*P:t*P])
			continue
		}
		prev = fi
		f := s.frames[fi]
		if f.Source == nil || int(f.Source.Height) != H || int(f.Source.Width) != W {
			return fail("frame %d: stimulus size changed within the session (want %dx%d); export one stimulus at a time", f.Frame, H, W)
		}
		switch {
		case len(f.Pixels) == P:
			copy(dst, f.Pixels)
		case len(f.Pixels) != 0:
			return fail("frame %d: %d pixels, want %d (%dx%d)", f.Frame, len(f.Pixels), P, H, W)
		case maker == nil:
			return fail("frame %d: stimulus %q carries no pixels and no frame maker regenerates it", f.Frame, f.Source.Kind)
		default:
			if err := maker(f.Source, f.Index, dst); err != nil {
				return fail("frame %d: regenerate %q frame %d: %w", f.Frame, f.Source.Kind, f.Index, err)
			}
		}
	}

	// Clock: host = a + b*acq, fitted over (sync acq time, frame onset) pairs.
	var acq, host []float64
	sort.Slice(s.syncs, func(i, j int) bool { return s.syncs[i].Seq < s.syncs[j].Seq })
	confirmed := 0
	for _, y := range s.syncs {
		if y.HasFrame {
			if i, ok := byFrame[y.Frame]; ok && s.frames[i].Confirmed {
				acq, host = append(acq, float64(y.TimeAcqNs)), append(host, float64(onset[i]))
			}
			continue
		}
		for confirmed < len(s.frames) && !s.frames[confirmed].Confirmed {
			confirmed++
		}
		if confirmed < len(s.frames) {
			acq, host = append(acq, float64(y.TimeAcqNs)), append(host, float64(onset[confirmed]))
			confirmed++
		}
	}
	if len(s.spikeTimes) > 0 && len(acq) == 0 {
		return fail("no sync event pairs with a confirmed frame onset; cannot place spikes on host time")
	}
	a, b := fitLine(acq, host)
	for i, ta := range s.spikeTimes {
		th := a + b*float64(ta)
		t := int(math.Floor((th - float64(t0)) / width))
		if t >= 0 && t < T {
			d.Counts[t*C+col[s.spikeCells[i]]]++
		}
	}
	return d, nil
}

// fitLine is the least-squares y = a + b*x (b = 1 with fewer than two distinct x).
func fitLine(x, y []float64) (a, b float64) {
	n := float64(len(x))
	if n == 0 {
		return 0, 1
	}
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx, my = mx/n, my/n
	var sxy, sxx float64
	for i := range x {
		sxy += (x[i] - mx) * (y[i] - my)
		sxx += (x[i] - mx) * (x[i] - mx)
	}
	b = 1
	if sxx > 0 {
		b = sxy / sxx
	}
	return my - b*mx, b
}
