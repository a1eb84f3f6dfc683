// Package validate compares model predictions with the spikes the acquisition system recorded,
// while the experiment runs.
//
// Acquisition time is mapped to host time by a Clock fitted (offset and drift, least squares
// over the most recent pairs) from the acquisition's sync events against the daemon's frame
// onsets. A Validator places each spike on host time, counts it into the model bin it falls in
// (bin t starts at frame t's onset and lasts one bin width), and once acquisition has covered a
// bin, pairs its counts with every model's predicted rate for that bin. Stats keep, per model
// and cell, the running Pearson r and fraction of explainable variance over a sliding window of
// bins and over the whole session.
//
// Units: times are int64 nanoseconds (host monotonic or acquisition clock, as named); rates are
// spikes/s; counts are spikes per bin. The fraction of explainable variance takes the noise
// variance of a bin's count to be its mean (Poisson spiking), since one trial has no repeats:
// FEV = 1 - (MSE - mean) / (Var - mean), with MSE and Var on spike counts per bin.
//
// A Validator is not safe for concurrent use: one goroutine (the daemon's validation goroutine)
// feeds it frames, syncs, spikes and predictions and asks it for reports.
package validate
