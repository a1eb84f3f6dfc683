package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"retinad/acquisition"
	"retinad/configs"
	"retinad/daemon"
	"retinad/proto/contract"
	pb "retinad/proto/retinadpb"
	"retinad/stimulus"
)

// TestLiveStalledBrowser connects one browser that never reads and one that does: the reader
// gets every snapshot (NaN figures as null) while the other's connection is stuck, and both
// streams end when the server stops.
func TestLiveStalledBrowser(t *testing.T) {
	fig := daemon.Figures{Frames: 7, AcqDriftPPM: math.NaN(), Models: []daemon.ModelFigures{{Name: "cnn", LiveR: math.NaN()}}}
	live := NewLive(func() daemon.Figures { return fig }, nil, 10*time.Millisecond)
	srv, err := Listen("127.0.0.1:0", Options{Live: live})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()

	// The stalled browser: a raw connection that asks for the stream and never reads it.
	stalled, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	if _, err := stalled.Write([]byte("GET /events HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + srv.Addr() + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	n := 0
	for n < 50 && sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var s struct {
			Frames      uint64
			AcqDriftPPM *float64
			Models      []struct{ LiveR *float64 }
		}
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatalf("snapshot %q: %v", line, err)
		}
		if s.Frames != 7 || s.AcqDriftPPM != nil || len(s.Models) != 1 || s.Models[0].LiveR != nil {
			t.Fatalf("snapshot %q: want 7 frames, NaN drift and r as null", line)
		}
		n++
	}
	if n < 50 {
		t.Fatalf("read %d snapshots, then %v", n, sc.Err())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return with a browser stalled")
	}
	for sc.Scan() {
	}
}

// TestControlRefusals: what the relay refuses before reaching NATS, with the reason.
func TestControlRefusals(t *testing.T) {
	subj, err := contract.SubjectsFor("t")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		url, path, origin string
		code              int
		want              string
	}{
		{"", "/control/mark", "", http.StatusServiceUnavailable, "need the NATS listener"},
		{"nats://127.0.0.1:1", "/control/status", "", http.StatusNotFound, `no control "status"`},
		{"nats://127.0.0.1:1", "/control/mark", "http://evil.example", http.StatusForbidden, "origin http://evil.example refused"},
	} {
		srv, err := Listen("127.0.0.1:0", Options{Control: NewControl(c.url, subj)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Run(ctx) }()
		req, _ := http.NewRequest(http.MethodPost, "http://"+srv.Addr()+c.path, strings.NewReader("label=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		bufio.NewReader(resp.Body).WriteTo(&b)
		resp.Body.Close()
		if resp.StatusCode != c.code || !strings.Contains(b.String(), c.want) {
			t.Errorf("%s %s (nats %q): %d %q, want %d with %q", c.path, c.origin, c.url, resp.StatusCode, b.String(), c.code, c.want)
		}
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// TestLiveSnapshot feeds Live a frame onset of a reproducible white-noise source (no pixels, as
// the daemon publishes it) and one of a source that cannot be rebuilt (with its pixels): the
// thumbnail is the frame rebuilt from its description, then the pixels carried, in gray as the
// presenter's shader maps contrast. The bins closed since the last snapshot come once, and the
// onset-error histogram is per bucket with its quantiles.
func TestLiveSnapshot(t *testing.T) {
	cfg := configs.Default().Stimulus
	cfg.Kind, cfg.Height, cfg.Width = "whitenoise", 4, 3
	src, err := stimulus.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	desc := src.Describe().Proto()
	want := make([]float32, 12)
	src.Frame(41, want)
	h := acquisition.NewHistogram(-5e3, 0, 5e3)
	for _, x := range []int64{-7e3, -1e3, 2e3, 3e3, 9e3} {
		h.Observe(x)
	}
	fig := daemon.Figures{OnsetError: h.Snapshot()}
	var asked []int64
	bins := func(after int64, maxBins, cells int) daemon.RecentBins {
		asked = append(asked, after)
		if after >= 11 {
			return daemon.RecentBins{}
		}
		return daemon.RecentBins{CellIDs: []int32{3}, Models: []string{"ln"}, Frames: []int64{10, 11},
			Observed: [][]float64{{0}, {100}}, Predicted: [][]float64{{20, math.NaN()}}}
	}
	l := NewLive(func() daemon.Figures { return fig }, bins, time.Second)
	onset := func(m *pb.FrameOnset) {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		l.keepFrame(b)
	}
	onset(&pb.FrameOnset{Frame: 7, Index: 41, Source: desc, Confirmed: true})
	s := l.snapshot(time.Now())
	if s.Thumb == nil || s.Thumb.Frame != 7 || s.Thumb.H != 4 || s.Thumb.W != 3 {
		t.Fatalf("thumbnail %+v (%s), want frame 7, 4x3", s.Thumb, s.ThumbError)
	}
	for i, c := range want {
		if g := gray(desc.Mean, c); s.Thumb.Gray[i] != g {
			t.Fatalf("thumbnail pixel %d: %d, want %d (contrast %v)", i, s.Thumb.Gray[i], g, c)
		}
	}
	if s.Bins == nil || !slices.Equal(s.Bins.Frames, []int64{10, 11}) || s.Bins.Observed[1][0] != 100 || s.Bins.Predicted[0][0][0] != 20 || !math.IsNaN(float64(s.Bins.Predicted[0][1][0])) {
		t.Errorf("bins %+v, want frames 10 and 11 with their rates", s.Bins)
	}
	e := s.OnsetError
	if !slices.Equal(e.Counts, []uint64{1, 1, 2}) || e.Above != 1 || e.P50 != 5 || e.P99 != 5 || e.UpperUs[0] != -5 {
		t.Errorf("onset error %+v, want 1, 1, 2 and 1 above; p50 and p99 5 us", e)
	}

	// A source that cannot be rebuilt: its pixels. The next snapshot asks for bins after 11.
	desc2 := proto.Clone(desc).(*pb.StimulusSource)
	desc2.Reproducible, desc2.StimulusYaml = false, ""
	pix := []float32{-1, 1, 0, 0.5, -0.5, 0, 0, 0, 0, 0, 0, 2}
	onset(&pb.FrameOnset{Frame: 8, Source: desc2, Pixels: pix})
	s = l.snapshot(time.Now())
	if s.Thumb == nil || s.Thumb.Gray[0] != 0 || s.Thumb.Gray[1] != gray(desc.Mean, 1) || s.Thumb.Gray[11] != 255 {
		t.Errorf("thumbnail of carried pixels %+v (%s)", s.Thumb, s.ThumbError)
	}
	if s.Bins != nil || !slices.Equal(asked, []int64{-1, 11}) {
		t.Errorf("second snapshot: bins %+v, asked after %v; want none new, asked after -1 then 11", s.Bins, asked)
	}
	onset(&pb.FrameOnset{Frame: 9, Source: desc2})
	if s = l.snapshot(time.Now()); s.Thumb != nil || !strings.Contains(s.ThumbError, "cannot be rebuilt") {
		t.Errorf("frame without pixels of a source that cannot be rebuilt: %+v %q", s.Thumb, s.ThumbError)
	}
	huge := proto.Clone(desc).(*pb.StimulusSource)
	huge.Height = 1 << 30 // not the daemon's: the thumbnail refuses it rather than allocate
	onset(&pb.FrameOnset{Frame: 10, Index: 1, Source: huge})
	if s = l.snapshot(time.Now()); s.Thumb != nil || !strings.Contains(s.ThumbError, "beyond the largest a config allows") {
		t.Errorf("frame of a %dx%d grid: %+v %q", huge.Height, huge.Width, s.Thumb, s.ThumbError)
	}
}

func gray(mean float64, c float32) byte {
	return byte(math.Round(min(max(mean*(1+float64(c)), 0), 1) * 255))
}

// TestLiveBlockedBrowser: a browser whose connection has stopped taking bytes (its write blocks
// until the test ends) holds up neither Run nor another browser, which gets its snapshots.
func TestLiveBlockedBrowser(t *testing.T) {
	live := NewLive(func() daemon.Figures { return daemon.Figures{Frames: 3} }, nil, 5*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); live.Run(ctx) }()

	blocked := &streamWriter{block: make(chan struct{}), entered: make(chan struct{})}
	reader := &streamWriter{got: make(chan string, 100)}
	served := make(chan struct{}, 2)
	for _, w := range []*streamWriter{blocked, reader} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "/events", nil)
		go func() { live.ServeHTTP(w, req); served <- struct{}{} }()
	}
	select {
	case <-blocked.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the blocked browser was never sent a snapshot")
	}
	for n := 0; n < 20; n++ { // while the other is stuck in its write
		select {
		case s := <-reader.got:
			if !strings.Contains(s, `"Frames":3`) {
				t.Fatalf("snapshot %q", s)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("the reading browser got %d snapshots, then none while the other was blocked", n)
		}
	}
	cancel()
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return with a browser blocked")
	}
	close(blocked.block) // the connection gives way (Shutdown closes it, in the server)
	for range 2 {
		<-served
	}
}

// streamWriter is an event stream's http.ResponseWriter: each Write either blocks until block
// closes (after saying so on entered, once) or is sent on got.
type streamWriter struct {
	block, entered chan struct{}
	got            chan string
	once           sync.Once
}

func (w *streamWriter) Header() http.Header { return http.Header{} }
func (w *streamWriter) WriteHeader(int)     {}
func (w *streamWriter) Flush()              {}
func (w *streamWriter) Write(b []byte) (int, error) {
	if w.block != nil {
		w.once.Do(func() { close(w.entered) })
		<-w.block
		return 0, net.ErrClosed
	}
	w.got <- string(b)
	return len(b), nil
}
