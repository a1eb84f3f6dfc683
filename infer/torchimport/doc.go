// Package torchimport reads torch-deep-retina checkpoints in Go, with no Python: the
// torch.save file (zip or legacy format) is unpickled by github.com/nlpodyssey/gopickle, which
// executes nothing; only tensors, plain Python values, numpy scalars and their dtypes are
// rebuilt, and every other class stays an inert object.
//
// A checkpoint is a dict holding model_type ("BNCNN"), model_state_dict (the module list
// sequential.N.*: conv, BatchNorm1d over the flattened units with running statistics, linear
// with or without bias), the architecture kwargs under hyps or model_hyps (n_units, chans,
// ksizes, img_shape, bias, linear_bias, softplus), the stimulus normalisation under norm_stats
// (mean and std, possibly numpy scalars) and optimiser state, which is ignored. retinad's own
// trainer adds frame_rate (bins per second): then the network's outputs are spikes per bin and
// are scaled to spikes per second; without it they are taken as spikes per second.
//
// Read returns the Checkpoint; Checkpoint.Graph turns it into the ONNX graph PyTorch would
// export, which retinad/infer/onnx turns into a native model. retinad's trainer's recurrent
// model (model_type "RecurrentBNCNN": BNCNN's sequential.0-10, gru.ih/gru.hh of a conv-GRU,
// readout.1-2, hyps hidden and gru_ksize) is built as a native model with a convgru layer
// directly (its ONNX form is a step with the state as input and output, infer/onnx gru.go,
// which a checkpoint need not go through). torch-deep-retina's own recurrent classes are
// refused by name, because their cells differ: RNNCNN's ConvRNNCell and ConvGRUCell
// concatenate a state with each convolution's input (at the window's 50x50 for the first) and
// update it by a same-padded convolution of both (ConvRNNCell linearly; upstream's
// ConvGRUCell.forward calls torch.cat(x, h*r, dim=1), which raises a TypeError, so that
// variant, RNNCNN's default, never ran); SkipAmacRNN adds a transposed-convolution feedback
// onto the bipolar layer. Functions are safe to call from any goroutine; nothing is shared.
package torchimport
