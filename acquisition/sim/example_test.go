package sim_test

import (
	"context"
	"fmt"

	"retinad/acquisition/sim"
)

// Simulate 2 s of white noise for a small retina and read its ground truth and spikes.
func Example() {
	r, err := sim.New(sim.DefaultParams(), 50, 50, 4, 1)
	if err != nil {
		panic(err)
	}
	s, err := sim.Simulate(context.Background(), r, sim.WhiteNoise(50, 50, 2, 1, 1), 200, 5, 1, nil)
	if err != nil {
		panic(err)
	}
	for c, cell := range s.Cells {
		fmt.Printf("cell %d: %s at (%.0f, %.0f)\n", cell.ID, cell.Polarity(), cell.X, cell.Y)
		_ = sim.Column(s.Rates, s.C, c) // its noise-free rate, spikes/s, one per bin
	}
	fmt.Println(len(s.RepeatCnts) == 5*200*4) // 5 trials of spike counts
	// Output:
	// cell 0: ON at (11, 11)
	// cell 1: OFF at (39, 9)
	// cell 2: OFF at (10, 42)
	// cell 3: ON at (36, 39)
	// true
}
