// Package calibtest holds calib's test stand-in Script, a calib.Link that replays exact bytes,
// short reads and failures. Only tests import it; the virtual clock that runs hours of rig time
// in seconds is clock/clocktest.VirtualClock, and the simulated photodiode device that the
// simulated rig links is calib/simdevice.
//
// Units as in calib: host times are int64 nanoseconds of the injected clock.
package calibtest
