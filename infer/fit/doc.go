// Package fit fits the paper's baseline models of retinal ganglion cells to a recorded
// dataset (package dataset): linear-nonlinear (LN) models and Poisson generalised linear
// models (GLM) with spike-history and coupling filters. It is the Go side of `retinad fit`.
//
// # Models and methods
//
// LN ([FitLN]): the spike-triggered average; then a linear filter by ridge regression of the
// counts on the last N frames, the penalty chosen by k-fold cross-validation over contiguous
// blocks of bins (every fold's error computed from per-fold Gram matrices, one pass over the
// data); then an output nonlinearity rate = f(a*drive + b), with f softplus or exp fitted by
// maximum likelihood (both are concave problems, solved by Newton's method) and the better
// one kept; and a nonparametric one (mean count in 20 quantile bins of the drive), reported
// for comparison.
//
// GLM ([FitGLM]): rate = exp(bias + stimulus filter + spike-history filter + coupling
// filters), fitted by maximum a posteriori with exact gradient and Hessian (Newton's method
// with a backtracking line search); Gaussian priors: L2 on every weight but the bias, and an
// optional smoothing penalty on the stimulus filter's second differences. History and
// coupling filters are K lags long, spanned by raised-cosine bumps on a log time axis
// (Pillow et al. 2008). Each GLM is also fitted without history and coupling, and both are
// scored, so the value of spike history is measured, not assumed.
//
// Full-field stimuli (H = W = 1) get an unconstrained temporal filter of N lags. Spatial
// stimuli (e.g. 50x50) get a space-time separable filter of rank r (default 1) over a square
// region of interest around the STA's peak: started from the leading singular vectors of
// the STA and refined by alternating ridge fits of the temporal and spatial factors. The
// GLM keeps the spatial factors of that fit and fits the temporal ones by likelihood.
//
// # Conventions and units
//
// Bin t's prediction uses frames t-N+1..t (lag 0 is the current frame) and spikes up to
// t-1. Filters here are lag-major with lag 0 first: Filter[k*H*W + y*W + x]. Counts are
// spikes per bin; model rates in spikes per second are the per-bin rates times the frame
// rate. Stimulus values are contrast. Scores ([Score]) are Poisson log-likelihood in bits
// per spike over a homogeneous Poisson model with the scored stretch's own mean rate, and
// Pearson r of the predicted rate with the binned counts. The last TestFraction of the bins
// is held out; training never sees it.
//
// # Goroutines
//
// FitLN and FitGLM may be called from any goroutine; each fits cells on Options.Workers
// goroutines of its own (all stopped when it returns), honours ctx between Newton steps and
// cells, and calls Options.Progress (serialised) after each cell.
package fit
