package adaptive_test

import (
	"context"
	"testing"

	"retinad/configs"
	"retinad/stimulus/adaptive"
)

// BenchmarkChoose is a strategy's own cost of one choice: 8 candidates of 100 frames x 16
// cells from two models, predictions given. Compare with the predictions' cost (daemon/scoring
// BenchmarkCandidates): the strategy is a rounding error of a choice.
func BenchmarkChoose(b *testing.B) {
	pred := &fakePredictor{models: []string{"cnn", "ln"}, cells: 16}
	for _, name := range []string{"discriminate", "uncertainty", "maximize"} {
		b.Run(name, func(b *testing.B) {
			cfg := configs.DefaultAdaptive()
			cfg.Strategy = name
			st, err := adaptive.FromConfig(cfg, configs.Default().Stimulus, pred.Models(), 11)
			if err != nil {
				b.Fatal(err)
			}
			cands := st.Candidates(0)
			preds, err := pred.Predict(context.Background(), cands)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				st.Choose(i, cands, preds)
			}
		})
	}
}
