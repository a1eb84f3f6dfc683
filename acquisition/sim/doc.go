// Package sim is the virtual retina: a population of model retinal ganglion cells that turns
// stimulus frames into firing rates and spikes, built the way the retina's circuit is built, so
// that retinad can be run, tested and rehearsed end to end without tissue, and so that fitted
// and trained models can be judged against a known ground truth.
//
// The circuit, per stimulus frame (one bin of Params.FrameRate):
//
//	frame (contrast) -> bipolar subunits: center-surround spatial filter (separable Gaussians)
//	                    and biphasic temporal filter (recursive: two gamma cascades)
//	                 -> divisive contrast gain control per subunit (slow running contrast)
//	                 -> rectification of each subunit (ON: [x-θ]+, OFF: [-x-θ]+)
//	                 -> pooled by each ganglion cell (Gaussian weights around its centre)
//	                 -  delayed feedforward amacrine inhibition (opposite-polarity subunits,
//	                    wider pool, two-stage low-pass delay)
//	                 -> the ganglion cell's own slow adaptation (running mean and s.d. of the drive)
//	                 -> softplus: the noise-free firing rate (spikes/s), the ground truth
//	                 -> spike generator with an absolute refractory period (sub-Poisson counts)
//
// Retina (Step: frame in, rates out) and Spiker (Spike: rates in, counts out) are separate, so
// that repeated trials share one noise-free rate and differ only in spike noise. Simulate and
// WriteDataset run both over a stimulus and record a dataset with its ground truth.
//
// Units: frames are contrast (0 = the mean luminance, ±1 = black/white), row-major on an H×W
// grid, row 0 at the top; rates are spikes per second; counts are spikes per bin; times are
// seconds unless a name says otherwise.
//
// As the rig's acquisition system, Acquisition wraps a Retina: the frame loop (or the photodiode's
// onset callback) hands it each shown frame with its confirmed onset (Show), and its Run
// publishes, every batch interval, a Sync per frame edge and a Spikes batch on the acquisition
// clock (offset and drift from configs.Acquisition), through an acquisition.Publisher.
//
// Concurrency: a Retina and a Spiker are single-goroutine objects; Step and Spike allocate
// nothing. Acquisition.Show may be called from one goroutine while Run runs on another; both
// allocate nothing in steady state. Separate Retinas may run on separate goroutines.
package sim
