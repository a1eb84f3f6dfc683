// Package calib owns the photodiode link: the serial port behind a small Link interface, the
// device protocol session (package wire does the bytes), device-to-host clock sync, frame-onset
// matching with dropped- and doubled-frame detection, level streaming (StreamLevels,
// Options.OnLevels) and the gamma fit it feeds (GammaMeter, FitGamma). It draws nothing.
//
// Units: host times are monotonic int64 nanoseconds from the injected Clock (clock.System reads
// CLOCK_MONOTONIC); device times are the device's microseconds; durations are time.Duration.
//
// Lost messages: the device numbers its messages (seq, mod 256); a gap is device messages
// the host never got (another reader on the port, a full buffer, noise). They are counted
// (Stats.Lost), and the waiting frames whose edges they may have held are resolved Untimed
// with Onset.LinkLost (Stats.LinkLost), never Dropped: the link's losses are not the
// monitor's.
//
// Goroutines: a Photodiode's Run owns the link, the clock sync and the matcher and calls
// OnOnset and OnLevels on its own goroutine. Flip is the only method for the frame loop: it
// never blocks and never allocates. Stats, StreamLevels and Busy may be called from any
// goroutine.
//
// Simulation: Run acknowledges every tick of its timers once it has acted on it (Acker), and
// Busy says whether it has work in hand, so that a test on clocktest.VirtualClock moves time
// only when the pipeline is drained and runs an hour of rig time deterministically.
package calib
