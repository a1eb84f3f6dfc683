// Package infer runs trained models of retinal ganglion cells (McIntosh et al. 2016): the
// native model file, and three engines that compute the same thing: a plain reference engine
// (the whole history window every step, obviously correct, used by the tests), a streaming
// engine (one new frame per step, nothing recomputed, no allocation), and a batch engine for
// whole movies on several cores. It knows nothing of screens or NATS.
//
// # Units
//
// Frames are stimulus values as the rig shows them (contrast, by convention); a model
// normalises them itself with the mean and std of its [Input]. A model runs on its own bin
// clock: one step per frame at Input.FrameRate (Hz). Rates are spikes per second, one per
// cell, in the order of Model.Cells. Spike counts (GLM history, stochastic samples) are spikes
// per bin.
//
// # Threads
//
// A *Model is immutable once loaded and may be shared by goroutines. An engine (Stream,
// Reference) is used by one goroutine at a time: the daemon makes one per model and calls
// Step once per bin from its frame loop. With Options.Threads > 1 a Stream also has
// Threads-1 helper goroutines of its own, started once by NewStream and ended by Close (or
// when the engine is garbage), that take a share of each step: the pieces are claimed, and the
// stepping goroutine runs those no helper has started (a helper whose core is busy delays the
// step only by a piece it has begun). Between the pieces of a step
// they (and the stepping goroutine, waiting for them) spin for up to 50 us on their cores
// before they park, when GOMAXPROCS gives every part a core: give a model's helpers cores
// of their own (Options.HelperCPUs pins each to one, on Linux). Batch prediction (Predict)
// uses several goroutines of its own and returns when they are done.
//
// # Engines
//
// NewReference and NewStream return engines with the same methods: Step(frame, rates) once
// per bin, Counts() (this bin's sampled or mean counts), Observe(counts) (a GLM's recorded
// spikes for the bin just stepped), Reset(). Predict runs a whole movie (*tensor.Dense) on
// several cores. The streaming engine's hot loops are AVX2/FMA assembly on amd64 CPUs that
// have it (cmac_amd64.s, fft_amd64.s): the complex multiply-accumulate of spectra (held planar
// in blocks of eight, so a product is four 8-wide fused multiply-adds, or two 16-wide with
// AVX-512, and the blocks of a window's frames interleaved, so the kernel reads them as one
// stream; with AVX-512 the blocked first layer sums two outputs per load of a weight block), the FFT stages and their
// transposes, the batch norm with the ReLU after it, and the dense layers' dot product; a
// conv-GRU's gates (gru_amd64.s: AVX2 or AVX-512, float32 expf and tanhf) and, with AVX-512,
// its two convolutions (direct, eight channels by 48 outputs in registers). They
// are pure Go elsewhere or with -tags purego; both pass the same tests. In deterministic mode
// the stream leaves noise layers out.
//
// Sizes: a convolution's transforms are padded to the least even size of radices 2, 3 and 5
// at or above the image (86 -> 90; exact for a valid correlation), so no stage has a costly
// prime radix. A dense layer after the convolutions (dense.go) is a matrix-vector product in
// slabs of 16 outputs, input-major, so that an input's 16 weights are one cache line and the
// sums stay in registers (AVX-512 kernel, AVX2, Go), and with AVX-512 in wide slabs of 128 or
// 64 outputs first (an input's weights 512 or 256 contiguous bytes); only nonzero inputs are
// visited (after a ReLU about half are zero and their weights are never read), split evenly
// across the cores of Options.Threads. The first layer's weight
// spectra, above 4 MB (80x80 and larger grids), are read once per four steps, not every step
// (temporal blocking, stream.go's convRing: each step a quarter of the spectrum's blocks sum
// the whole window for this output and the partial sums of the next three; the others add
// their newest frames to the partial they stored). What a step costs is memory
// traffic more than arithmetic at large sizes: Stream.BytesPerStep is the weights and state a
// step reads, Stream.FLOPs its arithmetic, and `retinad bench --sweep` sets both against time.
//
// # Recurrent models
//
// A convgru layer (the paper's recurrent variant) carries a state from one step to the next:
// a CNN's output at a bin then depends on every bin since the engine's Reset, not on its
// window alone. The unit is torch.nn.GRUCell with each matrix product a same-padded 2-D
// convolution (train/'s ConvGRUCell), placed after the BN-CNN's convolutions (train/'s
// RecurrentBNCNN: conv, BN, ReLU, conv, BN, ReLU, convgru, dense, BN, softplus); it is our
// choice within torch-deep-retina's ConvGRU family, whose RNNCNN puts a recurrent cell at each
// convolution instead. The state is zero after Reset, which is where a session starts (the
// caller's to call: the daemon resets every engine before a session's first frame), and advances
// once per step that gives rates (from the History-th frame on), so a session is the sequence
// of its full windows, as PyTorch runs it with h = 0 first. Each engine holds the state
// itself, sized when it is built (the stream's step still allocates nothing); batch prediction
// runs a recurrent model as one session on one core. The streaming engine runs the layer on
// the calling goroutine, in float32, whatever Options.Threads.
//
// # The native model file (versions 1 and 2)
//
// One self-describing little-endian file, written by [Save] here and by the Python trainer
// (train/), read by [Load]:
//
//	offset  size        content
//	0       8           magic "RETINADM"
//	8       4           version, uint32: 2 if a layer is convgru, else 1. Readers take
//	                    both; a convgru layer in a version 1 file is refused, so that a
//	                    reader older than recurrent layers refuses such a model by its
//	                    version instead of running it wrong.
//	12      4           n = length of the header in bytes, uint32
//	16      n           header: UTF-8 JSON, padded at its end with spaces (0x20) so that
//	                    16+n is a multiple of 64
//	16+n    data_bytes  tensor data: float32 little-endian, each tensor at its offset
//	end-4   4           CRC-32 (IEEE, as zlib.crc32 and Go's crc32.ChecksumIEEE) of every
//	                    byte before it, uint32
//
// The file is exactly 16 + n + data_bytes + 4 bytes long; anything else is refused as
// truncated or padded. The header (unknown fields are refused):
//
//	{
//	  "kind": "cnn" | "ln" | "glm",
//	  "name": "free text, optional",
//	  "input": {"history": 40, "height": 50, "width": 50, "frame_rate_hz": 100,
//	            "mean": 0, "std": 1},
//	  "output_scale": 100,
//	  "cells": [11, 12, ...],
//	  "layers": [ {"type": "conv2d", "weight": "conv1.weight", "bias": "conv1.bias"}, ... ],
//	  "glm": { ... },                       (kind glm only)
//	  "tensors": [ {"name": "conv1.weight", "shape": [8, 40, 15, 15], "offset": 0}, ... ],
//	  "data_bytes": 12345
//	}
//
// input: the model sees x = (frame - mean) / std (std > 0). Its window is [history, height,
// width] with the OLDEST frame first: channel k holds frame t-history+1+k, so the last channel
// is the current frame (torch-deep-retina's and train/'s convention; note that infer/fit's
// filters are lag-major, most recent first, and must be reversed).
//
// output_scale (> 0): rates in spikes/s = output of the last layer * output_scale. A model that
// outputs spikes per bin (train/'s, infer/fit's) stores its frame rate here; a model that
// outputs spikes/s stores 1.
//
// cells: the cell ids (integers, as the dataset's cell_ids), one per output.
//
// tensors: every tensor the layers name, each once. name is unique; shape lists its
// dimensions, row-major (C order, the last dimension contiguous; [] is a scalar of one value);
// offset is in bytes from the start of the data section, a multiple of 4 (the Go and Python
// writers use multiples of 64). Tensors lie inside data_bytes and do not overlap. Values must
// be finite.
//
// layers (kinds cnn and ln) run in order on the window, as torch.nn.Sequential would:
//
//	conv2d     weight [out, in, kh, kw], bias [out] (optional). Valid cross-correlation,
//	           stride 1 (torch.nn.Conv2d): [in, h, w] -> [out, h-kh+1, w-kw+1].
//	dense      weight [out, in], bias [out] (optional). The input is flattened in C order
//	           (channel, row, column, as torch.nn.Flatten): [...] -> [out].
//	batchnorm  running_mean, running_var, weight (optional, default 1), bias (optional,
//	           default 0), all of one shape, and "eps" (>= 0; var+eps > 0), and
//	           "per": "unit" (one value per element of the flattened input: BatchNorm1d on
//	           the flattened units, the paper's) or "channel" (one per channel of a [c, h, w]
//	           input: BatchNorm2d). y = (x - mean) / sqrt(var + eps) * weight + bias.
//	relu       max(x, 0).
//	noise      "std" (>= 0): latent Gaussian noise N(0, std^2) added to every element in
//	           stochastic mode only; deterministic mode skips it.
//	softplus   log(1 + exp(z)) (torch.nn.Softplus: z when z > 20)  \
//	exp        exp(z)                                               > y = gain * f(slope*x + offset)
//	sigmoid    1 / (1 + exp(-z))                                   /
//	           with optional tensors gain, slope, offset, each [] (one value for all) or of
//	           the input's element count (one per unit); absent = 1, 1, 0.
//	convgru    (version 2) weight [3*hidden, in, kh, kw] and weight_hh [3*hidden, hidden,
//	           kh, kw] (kh, kw odd), bias and bias_hh [3*hidden] (optional): the gates r,
//	           z, n in that order along the first dimension, * a cross-correlation
//	           zero-padded by kh/2, kw/2 (torch.nn.Conv2d with padding=k//2):
//	             r = sigmoid(W_ir*x + b_ir + W_hr*h + b_hr)
//	             z = sigmoid(W_iz*x + b_iz + W_hz*h + b_hz)
//	             n = tanh(W_in*x + b_in + r (W_hn*h + b_hn))
//	             h' = (1 - z) n + z h
//	           [in, h, w] -> [hidden, h, w], the new state h' (zero at Reset).
//
// The last layer's output must have one element per cell. kind cnn starts with conv2d; kind ln
// is one dense layer on the whole window (weight [cells, history*height*width]), optionally a
// per-unit batchnorm, and a nonlinearity.
//
// glm (kind glm; "layers" is empty or absent): the rate in spikes per bin is
//
//	exp(bias[c] + sum stimulus_filter[c] * window
//	      + sum_j history_filter[c, j] * n[c, t-1-j]
//	      + sum_i sum_j coupling_filter[c, i, j] * n[i, t-1-j])
//
// with tensors named by "stimulus_filter" [cells, history, height, width] (window order, oldest
// first), "bias" [cells], "history_filter" [cells, L] (optional; j = 0 is the previous bin) and
// "coupling_filter" [cells, cells, L] (optional, same L; its diagonal adds to the history
// filter). n are spike counts per bin: observed ones fed with Stream.Observe (validation) or
// the model's own samples (generative). Rates in spikes/s are that times output_scale.
//
// Stochastic mode (Options.Stochastic with a seed): noise layers add their Gaussian noise and
// each step also samples spike counts per bin, Poisson with mean rate / frame_rate_hz, from a
// generator seeded by Options.Seed; the same seed gives the same samples.
package infer
