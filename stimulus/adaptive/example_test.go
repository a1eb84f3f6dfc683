package adaptive_test

import (
	"context"
	"fmt"

	"retinad/configs"
	"retinad/stimulus/adaptive"
)

// A scheduler runs a strategy ahead of the screen: here the plain sequence of 1-s clips of the
// config's stimulus, taken as an offline run takes them.
func Example() {
	cfg := configs.DefaultAdaptive()
	cfg.Strategy = "sequence"
	st, err := adaptive.FromConfig(cfg, configs.Default().Stimulus, nil, 0)
	if err != nil {
		panic(err)
	}
	s, err := adaptive.NewScheduler(st, adaptive.Options{})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	for i := 0; i < 3; i++ {
		c, _ := s.TakeReady(ctx)
		fmt.Printf("clip %d: %s frames [%d, %d): %s\n", c.Seq, c.Clip.Stimulus.Kind, c.Clip.Start, c.Clip.Start+c.Clip.Frames, c.Why)
	}
	cancel()
	<-done
	// Output:
	// clip 0: natural frames [0, 100): plain schedule: clip 0 of the configured stimulus
	// clip 1: natural frames [100, 200): plain schedule: clip 1 of the configured stimulus
	// clip 2: natural frames [200, 300): plain schedule: clip 2 of the configured stimulus
}
