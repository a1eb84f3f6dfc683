// Package validate compares model predictions with the spikes the acquisition system recorded,
// while the experiment runs.
//
// Acquisition time is mapped to host time by a Clock fitted (offset and drift, least squares
// over the most recent pairs) from the acquisition's sync events against the daemon's frame
// onsets. A Validator places each spike on host time, counts it into the model bin it falls in
// (bin t starts at frame t's onset and lasts one bin width), and once acquisition has covered a
// bin, pairs its counts with every model's predicted rate for that bin (and hands them to
// OnClose, which feeds observed models their recorded spike history and the adaptive stimulus
// its clips' counts). A sync edge or a spike that comes before its frame's onset waits for it.
// The Clock is the one acquisition-to-host fit of the project: a session's export fits with it
// too (Clock.Line). Stats keep, per model and
// cell, the running Pearson r and the variance of the counts explained over a sliding window of
// bins and over the whole session. Models may be added and removed while it runs.
//
// Units: times are int64 nanoseconds (host monotonic or acquisition clock, as named); rates are
// spikes/s; counts are spikes per bin.
//
// Besides r, the live figure is the variance of the counts explained, 1 - MSE/Var, with MSE and
// Var on spike counts per bin (predicted count = rate x bin width). It is not the fraction of
// explainable variance (FEV): FEV divides by the variance that is not noise, and one trial has
// no repeats to measure the noise with. Taking the noise to be Poisson (variance = mean count),
// as this package once did, is wrong for real and virtual ganglion cells, whose refractoriness
// makes them sub-Poisson: the noise is overestimated and "FEV" could exceed 1. The variance
// explained of counts is never above 1; a model that predicts the true rate scores about r^2
// (its MSE is the noise variance), so its ceiling is the true rate's own r^2 against the counts,
// well below 1 for 10 ms bins. FEV proper needs repeated trials (offline: train/, retinad
// simulate --repeats).
//
// A Validator is not safe for concurrent use: one goroutine (the daemon's validation goroutine)
// feeds it frames, syncs, spikes and predictions and asks it for reports.
package validate
