// Package simdevice is the simulated photodiode device behind `photodiode.device: sim`: a
// faithful fake that speaks the wire protocol over a real pseudo-terminal with its own drifting
// clock, display latency and jitter, dropped and late frames and line noise on demand. The
// simulated rig (configs/sim.yaml) links it; so do calib's tests, which run it on a virtual
// clock (clocktest.VirtualClock) to play hours of rig time in seconds. It is a simulation, not a
// test helper: the command line reaches it only when the config asks for the simulated device.
//
// Units as in calib: host times are int64 nanoseconds of the injected clock, device times the
// device's microseconds. Device methods are safe from any goroutine; Device.Light is the hook
// the frame loop calls (through calib.Options.Light) and does not allocate.
package simdevice
