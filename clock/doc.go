// Package clock is retinad's one clock: the host's monotonic clock in int64 nanoseconds
// (CLOCK_MONOTONIC, read in one place, System.Now) and the timers, tickers and AfterFuncs
// that wait on it. Every package that stamps or waits takes a Clock, so that tests can swap in
// clocktest.VirtualClock and run an hour of rig time in seconds, deterministically. The shape
// follows tailscale's tstime.Clock, with times as host nanoseconds because every message
// carries them so (see docs/design.md, "Time").
//
// Lockstep: a virtual clock moves only when its test advances it, and it waits between two
// steps until the simulation has handled every tick it fired. A receiver says it has handled a
// tick by calling Ack(timer) once it has acted on it (written what the tick asked for,
// re-armed its timers); on the system clock Ack does nothing, so production code calls it
// unconditionally.
//
// Goroutines: a Clock and its timers are safe for use from any goroutine. System.Now does not
// allocate (the frame path stamps every flip with it); making a timer does.
package clock
