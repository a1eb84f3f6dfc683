// Package rig builds a daemon.Daemon from a configs.Config: the NATS bus (embedded or
// external) with the session recording (JetStream) and the control service, the stimulus
// source, the OpenGL presenter, the photodiode link (a serial port, the fake device over a
// pseudo-terminal, or none), the models (streaming engines), and the virtual retina as the
// acquisition system when the config asks for it. It is the only place that knows the concrete
// parts; package daemon sees them through its own interfaces.
//
// It also hands the daemon a Loader (ControlLoader), so that the control service can load a model
// file while the rig runs (the same checks as a configured model: grid, cell ids, observed only
// for a GLM), but only a regular file of bounded size inside the configured model folders: any
// client on the bus can ask. Check dry-runs the parts a config names for `retinad check-config`.
// The photodiode is opened through calib/photodiode.Open with the calibration file's latency
// prior.
//
// In simulation the virtual retina sees each frame when the fake photodiode device says it
// really lit the screen (its ground truth), not when the daemon believes it did.
//
// Open, Run and Close must all be called from the OS thread that owns the display (cmd/retinad's
// main thread, locked in init). Times are host monotonic nanoseconds (CLOCK_MONOTONIC).
package rig
