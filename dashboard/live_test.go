package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"retinad/acquisition"
	"retinad/daemon"
)

// TestLiveStalledBrowser connects one browser that never reads and one that does: the reader
// gets every snapshot (NaN figures as null) while the other's connection is stuck, and both
// streams end when the server stops.
func TestLiveStalledBrowser(t *testing.T) {
	fig := daemon.Figures{Frames: 7, AcqDriftPPM: math.NaN(), Models: []daemon.ModelFigures{{Name: "cnn", LiveR: math.NaN()}}}
	live := NewLive(func() daemon.Figures { return fig }, 10*time.Millisecond)
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
	subj, err := acquisition.SubjectsFor("t")
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
