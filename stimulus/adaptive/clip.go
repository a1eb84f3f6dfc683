package adaptive

import (
	"context"

	"retinad/configs"
)

// Clip is a stretch of a reproducible stimulus: frames [Start, Start+Frames) of the source that
// Stimulus configures (stimulus.New(Stimulus)). Models see History-1 frames before Start too.
type Clip struct {
	Stimulus configs.Stimulus
	Start    int
	Frames   int
}

// Rates are one model's predictions for one clip: Rates[t*Cells+c], spikes/s, t in [0, Frames).
type Rates struct {
	Model string
	Cells int
	Rates []float32
}

// Predictor runs every loaded model on every clip (batch inference). preds[i][m] is clip i,
// model m, in the order of Models. It is the only way this package learns what the models say:
// it knows nothing of model files or of the bus (package daemon/scoring implements it locally
// and over a NATS queue group).
type Predictor interface {
	Predict(ctx context.Context, clips []Clip) ([][]Rates, error)
	Models() []string
}
