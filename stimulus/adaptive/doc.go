// Package adaptive chooses the next stimulus clip from what the models predict and what the
// recorded cells did: strategies (discriminate, uncertainty, maximize, isoresponse, sequence)
// score candidate clips through a Predictor and learn from the recorded spike counts of the
// clips shown. It knows nothing of model files or NATS: predictions come through Predictor.
package adaptive
