package acquisition

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"retinad/configs"
	pb "retinad/proto/retinadpb"
)

const crashEnv = "RETINAD_ACQUISITION_CRASH_DIR"

// TestCrashChild is the daemon stand-in of TestSurvivesKill9: run only as its child process.
// It records a session and publishes frame onsets at 120 Hz, printing each frame number after
// Publish returns, until it is killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("child of TestSurvivesKill9 only")
	}
	b, err := Start(configs.NATS{Embedded: true}, BusOptions{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	subj := mustSubjects(t, "crash")
	if err := Record(context.Background(), b.Conn(), subj, RecordOptions{}); err != nil {
		t.Fatal(err)
	}
	p := NewPublisher(b.Conn(), 4096, nil)
	go p.Run(context.Background())
	p.Publish(subj.Session, &pb.SessionEvent{Session: "crash", Kind: pb.SessionEvent_START})
	m := &pb.FrameOnset{Session: "crash", Source: &pb.StimulusSource{Kind: "gray", Height: 1, Width: 1}}
	tick := time.NewTicker(time.Second / 120)
	for i := uint64(0); ; i++ {
		<-tick.C
		m.Frame = i
		p.Publish(subj.Frame, m)
		fmt.Printf("frame %d\n", i)
	}
}

// TestSurvivesKill9 kills a recording process with SIGKILL after about 1.5 s of frames at
// 120 Hz, reopens its store, and checks that at most the last second of frames is missing
// and that nothing before it is.
func TestSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	last := int64(-1)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "frame "); ok {
			last, _ = strconv.ParseInt(n, 10, 64)
			if last == 180 {
				break
			}
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if last != 180 {
		t.Fatalf("child stopped at frame %d", last)
	}

	b, err := Start(configs.NATS{Embedded: true}, BusOptions{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	subj := mustSubjects(t, "crash")
	ctx := context.Background()
	r, err := FindSession(ctx, b.Conn(), subj, "crash")
	if err != nil {
		t.Fatal(err)
	}
	next := int64(0)
	var f pb.FrameOnset
	err = ReadSession(ctx, b.Conn(), subj, r, func(subject string, seq uint64, data []byte) error {
		if subject != subj.Frame {
			return nil
		}
		if err := proto.Unmarshal(data, &f); err != nil {
			return err
		}
		if int64(f.Frame) != next {
			return fmt.Errorf("sequence %d: frame %d, want %d", seq, f.Frame, next)
		}
		next++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	lost := last + 1 - next
	t.Logf("published frames 0..%d before kill -9; recovered 0..%d (%d lost, %.0f ms at 120 Hz)", last, next-1, lost, float64(lost)*1000/120)
	if lost > 120 {
		t.Fatalf("lost %d frames (more than 1 s at 120 Hz)", lost)
	}
}
