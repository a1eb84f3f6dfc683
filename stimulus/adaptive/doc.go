// Package adaptive chooses the next stimulus clip from what the models predict and what the
// recorded cells did, to spend the tissue's hours on the stimuli that teach the most. It knows
// nothing of model files or NATS: predictions come through a Predictor (daemon/scoring runs the
// models locally and on `retinad worker`s), recorded spikes come in as Observations, and
// choices go out through a callback (the daemon publishes them).
//
// # Strategies
//
//   - Discriminate: among candidate clips drawn from a Pool (stretches of one reproducible
//     stimulus), the one where two models disagree most: the expected log-likelihood ratio
//     between them, sum over bins and cells of (λa-λb)(ln λa - ln λb), λ the expected count of a
//     bin (the Poisson Jeffreys divergence). Observed spikes add sum n ln(λa/λb) - (λa-λb) to a
//     running log-likelihood ratio per cell. With Random it picks uniformly (the control).
//   - Uncertainty: the candidate with the largest ensemble spread, sum of var(λ)/mean(λ) over
//     the members (query by committee).
//   - Maximize: the candidate with the highest mean predicted rate of a weighted set of cells.
//   - IsoResponse: drifting gratings (directions) whose contrast is steered, from the recorded
//     mean rate during each probe, to a target response; probes alternate with gray rests.
//   - Sequence: the stimulus clip after clip (not adaptive).
//
// # Timing
//
// A Scheduler runs one strategy one clip ahead of the screen: while clip k shows, it scores
// the candidates of clip k+1 within a budget. The strategy's default stands until the choice
// is made, so Take never blocks and never comes back empty once Run has started (the first
// default is ready before). A choice that misses the budget, or is not ready when its clip is
// due, is the default marked Fallback, with the reason in Why.
//
// # Threads
//
// Strategies are single-goroutine objects: only the Scheduler's Run calls them. Take,
// TakeReady, Observe, Switch and Inspect are safe from any goroutine; Take is meant for a
// frame loop (no waiting; it allocates a little, once per clip).
//
// # Units
//
// Rates are spikes/s, row-major [frame][cell] in the models' cell order; counts are spikes per
// bin, same layout; a bin is one stimulus frame (DT seconds); contrast as package stimulus
// defines it. Clip frames are frames of the source stimulus.New(Clip.Stimulus) makes; a scored
// clip is shown with its Lead frames of model history first.
package adaptive
