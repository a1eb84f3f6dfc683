package stimulus_test

import (
	"fmt"

	"retinad/configs"
	"retinad/stimulus"
)

// A source from the config's stimulus block fills a caller-owned frame for any index.
func Example() {
	cfg := configs.Default().Stimulus
	cfg.Kind, cfg.Height, cfg.Width, cfg.Seed = "whitenoise", 2, 4, 7
	cfg.WhiteNoise = configs.WhiteNoise{Distribution: "binary", Checker: 2, Contrast: 1}
	src, err := stimulus.New(cfg)
	if err != nil {
		panic(err)
	}
	h, w := src.Size()
	frame := make([]float32, h*w)
	for i := 0; i < 3; i++ {
		src.Frame(i, frame)
		fmt.Println(frame)
	}
	d := src.Describe()
	fmt.Println(d.Kind, d.Seed, d.Params["checker"], d.Reproducible)
	// Output:
	// [1 1 1 1 1 1 1 1]
	// [-1 -1 1 1 -1 -1 1 1]
	// [1 1 1 1 1 1 1 1]
	// whitenoise 7 2 true
}
