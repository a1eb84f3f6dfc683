// Package infer runs trained models of retinal ganglion cells: model files, the streaming,
// batch and reference engines, metrics and fitting. Inputs are stimulus frames in contrast,
// outputs firing rates in spikes per second. It knows nothing of screens or NATS.
package infer
