package scoring

import (
	"context"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"retinad/stimulus/adaptive"
)

// liar is a worker service that computes the right rates with a Local, then tampers with
// them before replying, as a rogue `retinad worker` would.
type liar struct {
	svc      micro.Service
	subject  string
	requests atomic.Int32
}

// startLiar serves on <prefix>.<identity>.score (identity "" is its service id) with the
// models' metadata of an honest worker, on its own connection nc.
func startLiar(t *testing.T, nc *nats.Conn, name, identity string, models []Model, tamper func([][]adaptive.Rates)) *liar {
	t.Helper()
	local, err := NewLocal(models, 1)
	if err != nil {
		t.Fatal(err)
	}
	l := &liar{}
	l.svc, err = micro.AddService(nc, micro.Config{Name: ServiceName, Version: "0.0.0",
		Metadata: map[string]string{"models": ModelsMeta(models), "cores": "1", "worker": name}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.svc.Stop() })
	if identity == "" {
		identity = l.svc.Info().ID
	}
	l.subject = DefaultPrefix + "." + identity + ".score"
	err = l.svc.AddEndpoint("direct", micro.HandlerFunc(func(r micro.Request) {
		l.requests.Add(1)
		req, err := DecodeRequest(r.Data())
		if err != nil {
			_ = r.Error(CodeBadRequest, err.Error(), nil)
			return
		}
		preds, err := local.Predict(context.Background(), req.Clips)
		if err != nil {
			_ = r.Error(CodeBadRequest, err.Error(), nil)
			return
		}
		tamper(preds)
		data, _ := EncodeReply(preds, name, 1)
		_ = r.Respond(data)
	}), micro.WithEndpointSubject(l.subject), micro.WithEndpointQueueGroupDisabled())
	if err != nil {
		t.Fatal(err)
	}
	waitForWorker(t, nc, name)
	return l
}

// inflate makes every candidate look like it drives the cells hard (still under MaxRate), the
// forgery that won every adaptive choice.
func inflate(preds [][]adaptive.Rates) {
	for _, clip := range preds {
		for _, m := range clip {
			for j := range m.Rates {
				m.Rates[j] = m.Rates[j]*3 + 50
			}
		}
	}
}

// Each rogue worker answers next to an honest one: it is excluded by its identity, with the
// reason logged and handed to OnExclude, every clip it answered is scored again, and the batch
// (the choice's input) holds only honest rates.
func TestRogueWorkersAreExcluded(t *testing.T) {
	models := testModels(t)
	clips := testClips(8, 20)
	want := localRates(t, models, clips)
	for _, tc := range []struct {
		name   string
		tamper func([][]adaptive.Rates)
		reason string
	}{
		{"inflated", inflate, "disagree with this machine's"},
		{"nan", func(p [][]adaptive.Rates) { p[0][0].Rates[3] = float32(math.NaN()) }, "NaN spikes/s: want a finite rate in [0, 10000]"},
		{"negative", func(p [][]adaptive.Rates) { p[0][1].Rates[0] = -1 }, "-1 spikes/s"},
		{"huge", func(p [][]adaptive.Rates) { p[0][0].Rates[0] = 1e9 }, "1e+09 spikes/s"},
		{"shape", func(p [][]adaptive.Rates) { p[0][0].Rates = p[0][0].Rates[1:] }, "rates; want"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := startServer(t)
			startWorker(t, url, "honest", models, 1, nil)
			rogue := startLiar(t, connect(t, url, "rogue"), "rogue", "", models, tc.tamper)
			local, _ := NewLocal(models, 1)
			var mu sync.Mutex
			var told []Exclusion
			// Verify -1: only the unproven minimum of one clip per batch is checked, and that
			// is enough to catch a worker that lies on every clip.
			// Rediscover at every batch: on a loaded machine a worker's INFO may miss one
			// discovery; batches go on until the rogue has been asked.
			pool := NewPool(connect(t, url, "daemon"), local, PoolOptions{Local: -1, Timeout: time.Minute, Probe: time.Second,
				DiscoverWait: discoverWait, Rediscover: time.Millisecond, Verify: -1, Seed: 1,
				OnExclude: func(e Exclusion) { mu.Lock(); told = append(told, e); mu.Unlock() }})
			for batch := 0; rogue.requests.Load() == 0; batch++ {
				if batch == 20 {
					t.Fatal("the rogue was not asked in 20 batches: the test proves nothing")
				}
				got, err := pool.Predict(context.Background(), clips)
				if err != nil {
					t.Fatalf("batch %d: %v", batch, err)
				}
				checkSame(t, got, want)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(told) != 1 || told[0].Subject != rogue.subject || told[0].Name != "rogue" || !strings.Contains(told[0].Reason, tc.reason) {
				t.Fatalf("exclusions %+v: want the rogue on %s, for %q", told, rogue.subject, tc.reason)
			}
			if ex := pool.Excluded(); len(ex) != 1 || ex[0].Identity != told[0].Identity {
				t.Fatalf("Excluded() = %+v", ex)
			}
			if !strings.Contains(told[0].String(), "excluded: ") {
				t.Fatalf("exclusion says %q", told[0])
			}
			asked := rogue.requests.Load()
			// The next batches send the rogue nothing, though discovery finds it again.
			for range 2 {
				got, err := pool.Predict(context.Background(), clips)
				if err != nil {
					t.Fatal(err)
				}
				checkSame(t, got, want)
			}
			if n := rogue.requests.Load(); n != asked {
				t.Fatalf("the rogue got %d requests after its exclusion", n-asked)
			}
			if st := pool.Stats(); st.Excluded != 1 || st.Fallback == 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// An honest worker checked on every clip is never excluded, and is proven after Proven clips:
// then only the Verify fraction is checked.
func TestHonestWorkerPassesEveryCheck(t *testing.T) {
	url := startServer(t)
	models := testModels(t)
	clips := testClips(6, 20)
	want := localRates(t, models, clips)
	startWorker(t, url, "honest", models, 1, nil)
	local, _ := NewLocal(models, 1)
	pool := NewPool(connect(t, url, "daemon"), local, PoolOptions{Local: -1, Timeout: time.Minute, Probe: time.Second,
		DiscoverWait: discoverWait, Verify: 1, Proven: 6})
	got, err := pool.Predict(context.Background(), clips)
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, got, want)
	if st := pool.Stats(); st.Verified != 6 || st.Excluded != 0 || st.Remote != 6 {
		t.Fatalf("stats %+v: want all 6 clips checked and the worker kept", st)
	}
	// Proven, and with Verify -1 nothing more is checked.
	pool.o.Verify = -1
	if _, err := pool.Predict(context.Background(), clips); err != nil {
		t.Fatal(err)
	}
	if st := pool.Stats(); st.Verified != 6 || st.Remote != 12 {
		t.Fatalf("stats %+v: want no check of a proven worker with Verify -1", st)
	}
}

// With authentication on, a worker's identity is its NATS user: a permission binds the user
// to retinad.workers.score and retinad.workers.<user>.>. A rogue excluded under its user that
// comes back under a new service id (a new process) gets no clip, and it cannot take another
// worker's identity: the server refuses the subscription.
func TestExcludedUserCannotComeBack(t *testing.T) {
	workerPerm := func(user string) *server.Permissions {
		return &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{"$SRV.>", "_INBOX.>"}},
			Subscribe: &server.SubjectPermission{Allow: []string{DefaultPrefix + ".score", DefaultPrefix + "." + user + ".>", "$SRV.>", "_INBOX.>"}},
		}
	}
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, Users: []*server.User{
		{Username: "daemon", Password: "d"},
		{Username: "rogue", Password: "r", Permissions: workerPerm("rogue")},
		{Username: "honest", Password: "h", Permissions: workerPerm("honest")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(5 * time.Second) {
		t.Fatal("server not ready")
	}
	url := srv.ClientURL()
	as := func(user, pass string) *nats.Conn {
		nc, err := nats.Connect(url, nats.UserInfo(user, pass), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	models := testModels(t)
	clips := testClips(4, 20)
	want := localRates(t, models, clips)

	local, _ := NewLocal(models, 1)
	honestLocal, _ := NewLocal(models, 1)
	// The honest worker gives its user in the URL, as `retinad worker --nats` may: its direct
	// subject is its user's (the only one its permission lets it serve), so it gets clips.
	hc, err := nats.Connect(strings.Replace(url, "nats://", "nats://honest:h@", 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.Close)
	if ConnUser(hc) != "honest" {
		t.Fatalf("ConnUser of a URL with a user = %q, want honest", ConnUser(hc))
	}
	honest := NewWorker(hc, honestLocal, WorkerOptions{Name: "honest"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- honest.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitForWorker(t, as("daemon", "d"), "honest")

	rc := as("rogue", "r")
	if ConnUser(rc) != "rogue" {
		t.Fatalf("ConnUser = %q, want rogue", ConnUser(rc))
	}
	first := startLiar(t, rc, "rogue", ConnUser(rc), models, inflate)
	var excluded atomic.Int32
	pool := NewPool(as("daemon", "d"), local, PoolOptions{Local: -1, Timeout: 10 * time.Second, Probe: time.Second,
		DiscoverWait: discoverWait, Rediscover: time.Millisecond, Verify: -1, Seed: 2,
		OnExclude: func(Exclusion) { excluded.Add(1) }})
	var got [][]adaptive.Rates
	for batch := 0; first.requests.Load() == 0; batch++ {
		if batch == 20 {
			t.Fatal("the rogue was not asked in 20 batches: the test proves nothing")
		}
		if got, err = pool.Predict(context.Background(), clips); err != nil {
			t.Fatal(err)
		}
		checkSame(t, got, want)
	}
	if ex := pool.Excluded(); len(ex) != 1 || ex[0].Identity != "rogue" || first.requests.Load() == 0 {
		t.Fatalf("excluded %+v, rogue asked %d times: want the user rogue excluded", ex, first.requests.Load())
	}
	_ = first.svc.Stop()

	// Back under a new service id (and a new self-chosen name), same user.
	second := startLiar(t, as("rogue", "r"), "fresh", "rogue", models, inflate)
	if second.svc.Info().ID == first.svc.Info().ID {
		t.Fatal("same service id: the test proves nothing")
	}
	// Under another worker's identity: the server refuses its subscription.
	thief := startLiar(t, as("rogue", "r"), "thief", "honest", models, inflate)
	// Batches go on until discovery has seen both (it finds them, and leaves them out).
	for batch := 0; batch < 3 || !discovered(pool, second.svc.Info().ID) || !discovered(pool, thief.svc.Info().ID); batch++ {
		if batch == 20 {
			t.Fatal("discovery did not find the returning rogue and the thief in 20 batches: the test proves nothing")
		}
		got, err = pool.Predict(context.Background(), clips)
		if err != nil {
			t.Fatal(err)
		}
		checkSame(t, got, want)
	}
	if second.requests.Load() != 0 || thief.requests.Load() != 0 || excluded.Load() != 1 {
		t.Fatalf("the returning rogue got %d requests, the thief %d, exclusions %d: want none, none and 1",
			second.requests.Load(), thief.requests.Load(), excluded.Load())
	}
	if honest.Served() == 0 {
		t.Fatal("the honest worker served nothing")
	}
}

// discovered reports whether the pool's last discovery found the service id.
func discovered(p *Pool, id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, w := range p.workers {
		if w.id == id {
			return true
		}
	}
	return false
}

// An identity must be one subject token: a worker given "a.b" (which would serve another
// subject than <prefix>.<identity>.score) or "x*" refuses to start, naming it.
func TestWorkerIdentityMustBeOneToken(t *testing.T) {
	url := startServer(t)
	models := testModels(t)
	local, _ := NewLocal(models, 1)
	for _, id := range []string{"a.b", "x*", "all>", "two words"} {
		w := NewWorker(connect(t, url, "w"), local, WorkerOptions{Identity: id})
		err := w.Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), "scoring: worker identity "+strconv.Quote(id)) || !strings.Contains(err.Error(), "one subject token") {
			t.Fatalf("identity %q: Run returned %v, want an error naming it", id, err)
		}
	}
}
