package scoring

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"retinad/stimulus/adaptive"
)

// TestMain lets the test binary run as a worker process of its own (SCORING_WORKER_URL set),
// so that a test can kill it with SIGKILL as an operator or the OOM killer would.
func TestMain(m *testing.M) {
	if url := os.Getenv("SCORING_WORKER_URL"); url != "" {
		os.Exit(workerProcess(url))
	}
	os.Exit(m.Run())
}

// workerProcess serves the bundled models until SIGTERM, printing "received" on stdout when a
// request arrives.
func workerProcess(url string) int {
	ms, err := loadPairs([][2]string{{"cnn", "../../models/bncnn.rtm"}, {"ln", "../../models/ln.rtm"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	local, err := NewLocal(ms, 1)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	nc, err := nats.Connect(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	w := NewWorker(nc, local, WorkerOptions{Name: "process"})
	w.received = func() { fmt.Println("received") }
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	fmt.Println("ready")
	if err := w.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// loadPairs loads (name, file) pairs.
func loadPairs(pairs [][2]string) ([]Model, error) {
	var ms []Model
	for _, p := range pairs {
		m, err := LoadModel(p[0], p[1])
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// A worker process killed with SIGKILL while it scores: the pool learns it from its pings and
// the batch completes here with the local rates.
func TestWorkerProcessKilledMidBatch(t *testing.T) {
	url := startServer(t)
	models := testModels(t)
	clips := testClips(6, 60)
	want := localRates(t, models, clips)

	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), "SCORING_WORKER_URL="+url)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	lines := make(chan string, 16)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	waitForWorker(t, connect(t, url, "probe"), "process")

	local, _ := NewLocal(models, 1)
	pool := NewPool(connect(t, url, "daemon"), local, PoolOptions{Local: -1, Timeout: 10 * time.Minute, DiscoverWait: discoverWait})
	type result struct {
		preds [][]adaptive.Rates
		err   error
	}
	done := make(chan result, 1)
	go func() {
		p, err := pool.Predict(context.Background(), clips)
		done <- result{p, err}
	}()
	for line := range lines {
		if strings.TrimSpace(line) == "received" {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	checkSame(t, r.preds, want)
	if st := pool.Stats(); st.Gone != 1 || st.Fallback == 0 || st.Local != uint64(len(clips)) {
		t.Fatalf("stats %+v: want the killed worker given up and every clip scored here", st)
	}
	<-exited
	if waitErr == nil || !strings.Contains(waitErr.Error(), "killed") {
		t.Fatalf("worker process ended with %v, want killed", waitErr)
	}
}
