package closedloop_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"retinad/clock"
	"retinad/configs"
	"retinad/daemon/closedloop"
	pb "retinad/proto/retinadpb"
)

// choiceBus hands each published AdaptiveChoice to a channel and drops everything else.
type choiceBus struct{ choices chan []byte }

func (b choiceBus) Publish(subject string, data []byte) error {
	if strings.HasSuffix(subject, ".adaptive") {
		select {
		case b.choices <- append([]byte(nil), data...):
		default:
		}
	}
	return nil
}

func (choiceBus) Subscribe(string, func([]byte)) (func() error, error) {
	return func() error { return nil }, nil
}

// TestAdaptiveChoiceOnTheDaemonsClock: an Adaptive made without a Now stamps its choices with
// the daemon's one clock (CLOCK_MONOTONIC, clock.System), the clock of every other
// message, not with a clock that starts at zero when the process or the Adaptive does.
func TestAdaptiveChoiceOnTheDaemonsClock(t *testing.T) {
	cfg := configs.Default()
	cfg.Stimulus.Kind = "whitenoise"
	cfg.Adaptive.Strategy = "sequence"
	bus := choiceBus{make(chan []byte, 1)}
	before := clock.System{}.Now()
	ad, err := closedloop.New(closedloop.Options{Rig: "test", Config: cfg.Adaptive, Stimulus: cfg.Stimulus, Bus: bus})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ad.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	frame := make([]float32, cfg.Stimulus.Height*cfg.Stimulus.Width)
	if _, err := ad.Next(frame); err != nil { // takes the first clip
		t.Fatal(err)
	}
	var data []byte
	select {
	case data = <-bus.choices:
	case <-time.After(10 * time.Second):
		t.Fatal("no AdaptiveChoice published in 10 s")
	}
	after := clock.System{}.Now()
	var c pb.AdaptiveChoice
	if err := proto.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	if c.HostNs < before || c.HostNs > after {
		t.Errorf("AdaptiveChoice.host_ns %d, want on CLOCK_MONOTONIC between %d and %d", c.HostNs, before, after)
	}
	if d := time.Duration(c.UnixNs - time.Now().UnixNano()); d < -10*time.Second || d > time.Second {
		t.Errorf("AdaptiveChoice.unix_ns is %v from now", d)
	}
}
