package scoring_test

import (
	"context"
	"fmt"

	"retinad/configs"
	"retinad/daemon/scoring"
	"retinad/stimulus/adaptive"
)

// Score two white-noise candidates of half a second with the bundled CNN and LN on this
// machine. A daemon wraps the Local in a Pool (scoring.NewPool(conn, local, ...)) to share
// the batch with `retinad worker`s when there are any.
func Example() {
	models, err := scoring.LoadConfigModels([]configs.Model{
		{Name: "cnn", File: "../../models/bncnn.rtm"},
		{Name: "ln", File: "../../models/ln.rtm"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	local, err := scoring.NewLocal(models, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	var clips []adaptive.Clip
	for seed := range uint64(2) {
		clips = append(clips, adaptive.Clip{Start: 100, Frames: 50, Stimulus: configs.Stimulus{
			Kind: "whitenoise", FrameRate: 100, Height: 50, Width: 50, Seed: seed, Mean: 0.5,
			WhiteNoise: configs.WhiteNoise{Distribution: "binary", Checker: 5, Contrast: 1}}})
	}
	preds, err := local.Predict(context.Background(), clips)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := range clips {
		for _, r := range preds[i] {
			fmt.Printf("clip %d %s: %d cells x %d frames\n", i, r.Model, r.Cells, len(r.Rates)/r.Cells)
		}
	}
	// Output:
	// clip 0 cnn: 16 cells x 50 frames
	// clip 0 ln: 16 cells x 50 frames
	// clip 1 cnn: 16 cells x 50 frames
	// clip 1 ln: 16 cells x 50 frames
}
