// Package calibtest holds calib's test stand-ins: VirtualClock, a calib.Clock that tests
// advance by hand to run hours of rig time in seconds, and Script, a calib.Link that replays
// exact bytes, short reads and failures. Only tests import it; the simulated photodiode device
// that the simulated rig links is calib/simdevice.
//
// Units as in calib: host times are int64 nanoseconds of the injected clock.
package calibtest
