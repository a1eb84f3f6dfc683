package scoring

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"retinad/acquisition"
	"retinad/configs"
	"retinad/stimulus/adaptive"
)

// startServer starts the project's embedded NATS server on a loopback port; workers and pools
// reach it over TCP as separate machines would.
func startServer(t testing.TB) string {
	t.Helper()
	bus, err := acquisition.Start(configs.NATS{Embedded: true, Listen: "127.0.0.1:0"}, acquisition.BusOptions{Name: "scoring-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Stop() })
	return bus.ClientURL()
}

func connect(t testing.TB, url, name string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.Name(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// discoverWait is how long the tests' pools gather workers' INFO replies. A pool always waits
// it out, so it is a second rather than the default 50 ms: on a loaded machine a worker that is
// up (startWorker waited for it) answered INFO after 200 ms, and its clips were scored locally.
const discoverWait = time.Second

type runningWorker struct {
	*Worker
	conn *nats.Conn
	stop func() error // cancels Run and returns what it returned
}

// startWorker runs a worker with its own connection and goroutines, and waits until it is
// reachable.
func startWorker(t testing.TB, url, name string, models []Model, cores int, hook func(*runningWorker)) *runningWorker {
	t.Helper()
	local, err := NewLocal(models, cores)
	if err != nil {
		t.Fatal(err)
	}
	nc := connect(t, url, name)
	w := &runningWorker{Worker: NewWorker(nc, local, WorkerOptions{Name: name, Grace: time.Second}), conn: nc}
	if hook != nil {
		w.received = func() { hook(w) }
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	var runErr error
	w.stop = func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { _ = w.stop() })
	waitForWorker(t, nc, name)
	return w
}

// waitForWorker polls $SRV.INFO until the named worker answers with its endpoints. A worker
// answers INFO from micro.AddService on, before it adds its endpoints: a request sent between
// found no responders (TestMismatchedWorkerIsRefused, once in CI). Its INFO lists an endpoint
// once it has subscribed, on the connection that sends the reply, so the server has the
// subscription when the reply comes.
func waitForWorker(t testing.TB, nc *nats.Conn, name string) {
	t.Helper()
	subject, _ := micro.ControlSubject(micro.InfoVerb, ServiceName, "")
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		inbox := nc.NewRespInbox()
		sub, _ := nc.SubscribeSync(inbox)
		_ = nc.PublishRequest(subject, inbox, nil)
		for {
			msg, err := sub.NextMsg(100 * time.Millisecond)
			if err != nil {
				break
			}
			if info := string(msg.Data); strings.Contains(info, `"worker":"`+name+`"`) && strings.Contains(info, `"name":"direct"`) {
				_ = sub.Unsubscribe()
				return
			}
		}
		_ = sub.Unsubscribe()
	}
	t.Fatalf("worker %s did not appear on %s", name, subject)
}

func localRates(t testing.TB, models []Model, clips []adaptive.Clip) [][]adaptive.Rates {
	t.Helper()
	local, err := NewLocal(models, 2)
	if err != nil {
		t.Fatal(err)
	}
	want, err := local.Predict(context.Background(), clips)
	if err != nil {
		t.Fatal(err)
	}
	return want
}

func checkSame(t *testing.T, got, want [][]adaptive.Rates) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d", len(got), len(want))
	}
	for i := range want {
		if !equalRates(got[i], want[i]) {
			t.Fatalf("clip %d: the rates differ from the local predictor's", i)
		}
	}
}

func TestTwoWorkersOnLoopbackMatchLocal(t *testing.T) {
	url := startServer(t)
	models := testModels(t)
	clips := testClips(10, 30)
	want := localRates(t, models, clips)
	w1 := startWorker(t, url, "w1", models, 1, nil)
	w2 := startWorker(t, url, "w2", models, 1, nil)

	local, _ := NewLocal(models, 1)
	pool := NewPool(connect(t, url, "daemon"), local, PoolOptions{Local: -1, Timeout: time.Minute, Probe: time.Second, DiscoverWait: discoverWait})
	if got := strings.Join(pool.Models(), ","); got != "cnn,ln" {
		t.Fatalf("Models() = %s", got)
	}
	got, err := pool.Predict(context.Background(), clips)
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, got, want)
	st := pool.Stats()
	if st.Remote != uint64(len(clips)) || st.Local != 0 || st.Fallback != 0 {
		t.Fatalf("stats %+v: want every clip scored by the workers", st)
	}
	if w1.Served() == 0 || w2.Served() == 0 {
		t.Fatalf("w1 served %d requests, w2 %d: want both to share the batch", w1.Served(), w2.Served())
	}

	// With its own cores too, the same rates; the queue subject answers plain clients.
	pool = NewPool(connect(t, url, "daemon2"), local, PoolOptions{Timeout: time.Minute, Probe: time.Second, DiscoverWait: discoverWait})
	got, err = pool.Predict(context.Background(), clips)
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, got, want)
	if st := pool.Stats(); st.Remote+st.Local != uint64(len(clips)) {
		t.Fatalf("stats %+v: want %d clips in all", st, len(clips))
	}
	got, err = Call(context.Background(), connect(t, url, "client"), DefaultPrefix+".score", models, clips[:2])
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, got, want[:2])

	// A worker asked for a subset of its models, in another order, answers that.
	rev := []Model{models[1]}
	got, err = Call(context.Background(), connect(t, url, "client2"), DefaultPrefix+".score", rev, clips[:1])
	if err != nil {
		t.Fatal(err)
	}
	if !equalRates(got[0], want[0][1:]) {
		t.Fatal("the ln-only request differs from ln's local rates")
	}

	for _, w := range []*runningWorker{w1, w2} {
		if err := w.stop(); err != nil {
			t.Fatalf("Run returned %v after its context ended, want nil", err)
		}
	}
	// Without workers the pool scores everything here, after a short wait for discovery.
	pool = NewPool(connect(t, url, "daemon3"), local, PoolOptions{Local: -1})
	got, err = pool.Predict(context.Background(), clips[:3])
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, got, want[:3])
	if st := pool.Stats(); st.Local != 3 {
		t.Fatalf("stats %+v with no worker: want 3 local", st)
	}
}

func TestMismatchedWorkerIsRefused(t *testing.T) {
	url := startServer(t)
	models := testModels(t)
	// "cnn" on this worker is the LN file: same name, other bytes.
	wrong := []Model{{Name: "cnn", File: models[1].File, SHA256: models[1].SHA256, Model: models[1].Model}, models[1]}
	w := startWorker(t, url, "odd", wrong, 1, nil)
	clips := testClips(2, 20)

	_, err := Call(context.Background(), connect(t, url, "client"), DefaultPrefix+".score", models, clips)
	var re *RemoteError
	if !errors.Is(err, ErrMismatch) || !errors.As(err, &re) {
		t.Fatalf("error %v, want a model mismatch", err)
	}
	for _, s := range []string{"retinad.workers.score", "409", "worker odd", `model "cnn"`, "ln.rtm", models[1].Short(), models[0].Short(), "same file"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	_, err = Call(context.Background(), connect(t, url, "client2"), DefaultPrefix+".score", []Model{{Name: "glm", SHA256: models[0].SHA256, Model: models[0].Model}}, clips)
	if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), `has no model "glm" (it holds cnn, ln)`) {
		t.Fatalf("error %v, want a missing model named", err)
	}
	if w.Refused() != 2 || w.Served() != 0 {
		t.Fatalf("worker refused %d and served %d, want 2 and 0", w.Refused(), w.Served())
	}

	// A pool never sends it clips: it scores them itself.
	local, _ := NewLocal(models, 1)
	pool := NewPool(connect(t, url, "daemon"), local, PoolOptions{Local: -1, DiscoverWait: discoverWait})
	got, err := pool.Predict(context.Background(), clips)
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, got, localRates(t, models, clips))
	if st := pool.Stats(); st.Remote != 0 || st.Local != 2 || w.Refused() != 2 {
		t.Fatalf("stats %+v, worker refused %d: want no clip sent to the mismatched worker", st, w.Refused())
	}
}

// A worker dies in the middle of a batch (its connection closes under it, as when its process
// is killed): its clips go back to the batch, scored by the other worker or here, and the batch
// completes with the same rates.
func TestWorkerKilledMidBatchFallsBack(t *testing.T) {
	models := testModels(t)
	clips := testClips(8, 30)
	want := localRates(t, models, clips)
	for _, alone := range []bool{false, true} {
		url := startServer(t)
		var killed atomic.Bool
		if !alone {
			startWorker(t, url, "healthy", models, 1, nil)
		}
		startWorker(t, url, "doomed", models, 1, func(w *runningWorker) {
			if !killed.Swap(true) {
				w.conn.Close()
			}
		})
		local, _ := NewLocal(models, 1)
		// The timeout is long: the pool learns of the death from its pings.
		pool := NewPool(connect(t, url, "daemon"), local, PoolOptions{Local: -1, Timeout: 10 * time.Minute, DiscoverWait: discoverWait})
		got, err := pool.Predict(context.Background(), clips)
		if err != nil {
			t.Fatal(err)
		}
		checkSame(t, got, want)
		st := pool.Stats()
		if !killed.Load() || st.Fallback == 0 || st.Gone != 1 || st.Remote+st.Local != uint64(len(clips)) || (alone && st.Local != uint64(len(clips))) {
			t.Fatalf("alone %v: killed %v, stats %+v: want the dead worker's clips given back and scored", alone, killed.Load(), st)
		}
		// The next batch does not wait for the dead worker again.
		got, err = pool.Predict(context.Background(), clips)
		if err != nil {
			t.Fatal(err)
		}
		checkSame(t, got, want)
		if st2 := pool.Stats(); st2.Fallback != st.Fallback || st2.Gone != st.Gone {
			t.Fatalf("alone %v: stats %+v after %+v: want no clip sent to the dead worker again", alone, st2, st)
		}
	}
}

// A worker that answers nonsense is excluded with a reason naming its subject and worker, and
// the batch is scored here. Without authentication its identity is its service id.
func TestBadReplyNamesTheSubject(t *testing.T) {
	url := startServer(t)
	models := testModels(t)
	nc := connect(t, url, "liar")
	for _, reply := range [][]byte{{0xff, 0x01}, {}} {
		svc, err := micro.AddService(nc, micro.Config{Name: ServiceName, Version: "0.0.0",
			Metadata: map[string]string{"models": ModelsMeta(models), "cores": "1", "worker": "liar"}})
		if err != nil {
			t.Fatal(err)
		}
		direct := DefaultPrefix + "." + svc.Info().ID + ".score"
		err = svc.AddEndpoint("direct", micro.HandlerFunc(func(r micro.Request) { _ = r.Respond(reply) }), micro.WithEndpointSubject(direct))
		if err != nil {
			t.Fatal(err)
		}
		local, _ := NewLocal(models, 1)
		var reason string
		pool := NewPool(connect(t, url, "daemon"), local, PoolOptions{Local: -1, DiscoverWait: discoverWait,
			OnExclude: func(e Exclusion) { reason = e.String() }})
		clips := testClips(2, 10)
		// A pool that has not heard the liar's INFO within its discovery window (once in CI, at
		// load) scores locally and excludes nobody: predict until it has heard it, then once more.
		calls, after := 0, 0
		for ; after < 2 && calls < 10; calls++ {
			got, err := pool.Predict(context.Background(), clips)
			if err != nil {
				t.Fatalf("reply %x: %v", reply, err)
			}
			checkSame(t, got, localRates(t, models, clips))
			if reason != "" {
				after++
			}
		}
		if !strings.Contains(reason, direct) || !strings.Contains(reason, "liar") || !strings.Contains(reason, "worker "+svc.Info().ID+" ") {
			t.Fatalf("reply %x: exclusion %q after %d batches, want one naming %s and the worker", reply, reason, calls, direct)
		}
		if st := pool.Stats(); st.Local != uint64(2*calls) || st.Remote != 0 || st.Excluded != 1 {
			t.Fatalf("stats %+v after %d batches and the bad reply: want every batch scored here, the liar excluded once", st, calls)
		}
		_ = svc.Stop()
	}
}

// A worker holding more models than the daemon serves the daemon's subset.
func TestWorkerWithMoreModelsServesASubset(t *testing.T) {
	url := startServer(t)
	models := testModels(t)
	w := startWorker(t, url, "both", models, 1, nil)
	ln := models[1:]
	local, _ := NewLocal(ln, 1)
	pool := NewPool(connect(t, url, "daemon"), local, PoolOptions{Local: -1, Timeout: time.Minute, Probe: time.Second, DiscoverWait: discoverWait})
	clips := testClips(3, 20)
	got, err := pool.Predict(context.Background(), clips)
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, got, localRates(t, ln, clips))
	if st := pool.Stats(); st.Remote != 3 || w.Served() == 0 {
		t.Fatalf("stats %+v, served %d: want the worker to score the ln-only batch", st, w.Served())
	}
}

// A pool keeps each request's reply within the server's max payload, however many cores a
// worker has.
func TestRequestsFitTheMaxPayload(t *testing.T) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, MaxPayload: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	if !srv.ReadyForConnections(5 * time.Second) {
		t.Fatal("server not ready")
	}
	url := srv.ClientURL()
	models := testModels(t)
	clips := testClips(4, 300) // 38 kB of rates each: one per request
	w := startWorker(t, url, "wide", models, 4, nil)
	local, _ := NewLocal(models, 1)
	pool := NewPool(connect(t, url, "daemon"), local, PoolOptions{Local: -1, Timeout: time.Minute, Probe: time.Second, DiscoverWait: discoverWait})
	got, err := pool.Predict(context.Background(), clips)
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, got, localRates(t, models, clips))
	if st := pool.Stats(); st.Remote != 4 || w.Served() != 4 {
		t.Fatalf("stats %+v, served %d requests: want 4 clips in 4 requests", st, w.Served())
	}
	// Asked for all four at once, the worker says why it cannot.
	_, err = Call(context.Background(), connect(t, url, "client"), DefaultPrefix+".score", models, clips)
	var re *RemoteError
	if !errors.As(err, &re) || re.Code != CodeTooLarge || !strings.Contains(err.Error(), "max payload of 65536") {
		t.Fatalf("error %v, want a 413 naming the max payload", err)
	}
}
