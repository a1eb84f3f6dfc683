// Package calibtest holds calib's stand-ins: Device, a faithful fake photodiode device that
// speaks the wire protocol over a real pseudo-terminal with its own drifting clock, display
// latency and jitter, dropped and late frames and line noise on demand, on the real clock or
// on clocktest.VirtualClock (which runs hours of rig time in seconds); and Script, a
// calib.Link that replays exact bytes, short reads and failures.
//
// Units as in calib: host times are int64 nanoseconds of the injected clock, device times the
// device's microseconds. Device methods are safe from any goroutine; Device.Light is the hook
// the frame loop calls (through calib.Options.Light) and does not allocate.
package calibtest
