package scoring

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"retinad/acquisition"
	"retinad/acquisition/acquisitiontest"
	"retinad/configs"
	"retinad/daemon/daemontest"
	"retinad/stimulus/adaptive"
)

// workerProc is a worker process (TestMain's workerProcess) and its "received" lines.
type workerProc struct {
	cmd      *exec.Cmd
	received chan struct{}
	exited   chan struct{}
}

// startWorkerProcess starts a worker process connected to url.
func startWorkerProcess(t *testing.T, url string) *workerProc {
	t.Helper()
	w := &workerProc{cmd: exec.Command(os.Args[0], "-test.run", "^$"), received: make(chan struct{}, 1), exited: make(chan struct{})}
	w.cmd.Env = append(os.Environ(), "SCORING_WORKER_URL="+url)
	w.cmd.Stderr = os.Stderr
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			if strings.TrimSpace(s.Text()) == "received" {
				select {
				case w.received <- struct{}{}:
				default:
				}
			}
		}
		_ = w.cmd.Wait()
		close(w.exited)
	}()
	t.Cleanup(func() { _ = w.cmd.Process.Kill(); <-w.exited })
	return w
}

// TestWorkersOnHub: two worker processes on a lab hub serve two rigs (embedded servers that are
// leaf nodes of the hub, logged in as leaf users with the hub's permissions for them, the
// workers as worker users, no cores
// of their own for scoring while workers answer) choosing at the same time; one worker is
// killed at its first request. Every choice's batch is complete, equal to this machine's
// rates, and made within its budget. Then the hub goes away: each rig's next choice is made on
// its own cores, within the same budget.
func TestWorkersOnHub(t *testing.T) {
	if testing.Short() { // real time: under the race detector the batches outlast the pool's 2 s Timeout
		t.Skip("-short")
	}
	const budget = 5 * time.Second // one choice's batch; the pool gives a silent worker up after 2 s (Timeout)
	// The workers log in as worker users (the worker role, as configs/nats-hub.conf's worker1).
	var users []*server.User
	for _, w := range []string{"worker1", "worker2"} {
		p, err := acquisition.Permissions(acquisition.RoleWorker, "rigA", w)
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, &server.User{Username: w, Password: w + "-secret", Permissions: p})
	}
	users = append(users, acquisitiontest.HubUsers(t, acquisition.LeafPermissions, "rigA", "rigB")...)
	hubs := acquisitiontest.StartHub(t, acquisitiontest.HubOptions{Users: users, MaxPayload: 8 << 20})
	hub := hubs[0]
	v, _ := hub.Varz(nil)
	workerURL := func(w string) string { return fmt.Sprintf("nats://%s:%s-secret@127.0.0.1:%d", w, w, v.Port) }
	workers := []*workerProc{startWorkerProcess(t, workerURL("worker1")), startWorkerProcess(t, workerURL("worker2"))}

	models := testModels(t)
	clips := testClips(6, 60)
	want := localRates(t, models, clips)
	var pools []*Pool
	var buses []*acquisition.Bus
	for _, rig := range []string{"rigA", "rigB"} {
		leaf := acquisitiontest.LeafURLs(hubs, rig, nil)
		b, err := acquisition.Start(configs.NATS{Embedded: true, Leaf: configs.Leaf{URL: leaf}}, acquisition.BusOptions{Rig: rig})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Stop() })
		buses = append(buses, b)
		waitForWorker(t, b.Conn(), "process") // through the leaf connection
		local, _ := NewLocal(models, 1)
		pools = append(pools, NewPool(b.Conn(), local, PoolOptions{Local: -1, DiscoverWait: discoverWait}))
	}
	// Both rigs choose at once; the first worker to receive a request is killed.
	go func() {
		select {
		case <-workers[0].received:
			_ = workers[0].cmd.Process.Signal(syscall.SIGKILL)
		case <-workers[1].received:
			_ = workers[1].cmd.Process.Signal(syscall.SIGKILL)
		case <-time.After(budget):
		}
	}()
	got := make([][][]adaptive.Rates, len(pools))
	errs := make([]error, len(pools))
	took := make([]time.Duration, len(pools))
	// chooseAll has every rig score the clips at once, each within the budget.
	chooseAll := func() {
		var wg sync.WaitGroup
		for i, p := range pools {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), budget)
				defer cancel()
				got[i], errs[i] = p.Predict(ctx, clips)
				took[i] = time.Since(start)
			}()
		}
		wg.Wait()
	}
	chooseAll()
	killed := 0
	for _, w := range workers {
		select {
		case <-w.exited:
			killed++
		case <-time.After(time.Second):
		}
	}
	if killed != 1 {
		t.Errorf("%d workers exited, want the one killed", killed)
	}
	var remote, fallback uint64
	for i, p := range pools {
		st := p.Stats()
		remote, fallback = remote+st.Remote, fallback+st.Fallback
		t.Logf("rig %d: batch in %v, %+v", i, took[i].Round(time.Millisecond), st)
		if errs[i] != nil {
			t.Fatalf("rig %d: %v", i, errs[i])
		}
		if took[i] > budget {
			t.Errorf("rig %d: the choice took %v, over its budget of %v", i, took[i], budget)
		}
		checkSame(t, got[i], want)
	}
	if remote == 0 || fallback == 0 {
		t.Errorf("%d clips scored by the hub's workers, %d taken back from the killed one: want both above 0", remote, fallback)
	}

	// The hub is unreachable: the rigs choose on their own cores.
	hub.Shutdown()
	hub.WaitForShutdown()
	for i, b := range buses {
		if !daemontest.WaitFor(t, 10*time.Second, fmt.Sprintf("rig %d's leaf connection to close with the hub down", i), func() bool { return !b.LeafConnected() }) {
			t.FailNow()
		}
	}
	before := make([]PoolStats, len(pools))
	for i, p := range pools {
		before[i] = p.Stats()
	}
	chooseAll()
	for i, p := range pools {
		st := p.Stats()
		t.Logf("rig %d without the hub: batch in %v, %+v", i, took[i].Round(time.Millisecond), st)
		if errs[i] != nil {
			t.Fatalf("rig %d without the hub: %v", i, errs[i])
		}
		if took[i] > budget {
			t.Errorf("rig %d without the hub: the choice took %v, over its budget of %v", i, took[i], budget)
		}
		if st.Remote != before[i].Remote || st.Local-before[i].Local != uint64(len(clips)) {
			t.Errorf("rig %d without the hub: %d clips scored remotely and %d here, want 0 and %d",
				i, st.Remote-before[i].Remote, st.Local-before[i].Local, len(clips))
		}
		checkSame(t, got[i], want)
	}
}
