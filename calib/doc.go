// Package calib owns the photodiode link: the serial port behind a small Link interface, the
// device protocol session (package wire does the bytes), device-to-host clock sync, frame-onset
// matching with dropped- and doubled-frame detection, and the latency calibration file.
// It draws nothing.
//
// Units: host times are monotonic int64 nanoseconds from the injected Clock (SystemClock reads
// CLOCK_MONOTONIC); device times are the device's microseconds; durations are time.Duration.
//
// Goroutines: a Photodiode's Run owns the link, the clock sync and the matcher and calls
// OnOnset on its own goroutine. Flip is the only method for the frame loop: it never blocks
// and never allocates. Stats may be called from any goroutine.
package calib
