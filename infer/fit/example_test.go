package fit_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"retinad/infer/fit"
	"retinad/infer/fit/fittest"
)

// Fit LN models to a recording, print what they found, and write the model file the daemon
// runs. (A recording would come from dataset.Read; here it is synthetic: an ON and an OFF cell
// seen through full-field white noise.)
func ExampleFitLN() {
	d, _ := fittest.Generate(fittest.Spec{T: 20000, H: 1, W: 1, FrameRate: 100, Seed: 1, Cells: []fittest.Cell{
		{Temporal: fittest.Biphasic(20, 4), Bias: -1.5, Softplus: true},
		{Temporal: fittest.Scale(fittest.Biphasic(20, 6), -1), Bias: -1.5, Softplus: true},
	}})
	m, err := fit.FitLN(context.Background(), d, "synthetic", fit.Options{History: 20, TestFraction: 0.2})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range m.Cells {
		fmt.Printf("cell %d: %s, %s nonlinearity, held-out gain over a constant rate: %v\n",
			c.ID, fit.Polarity(c.Filter, 1), c.Link, c.Test.BitsPerSpike > 0.1)
	}
	dir, _ := os.MkdirTemp("", "fit")
	defer os.RemoveAll(dir)
	if err := m.WriteModel(filepath.Join(dir, "ln.model")); err != nil {
		fmt.Println(err)
	}
	// Output:
	// cell 100: ON, softplus nonlinearity, held-out gain over a constant rate: true
	// cell 101: OFF, softplus nonlinearity, held-out gain over a constant rate: true
}
