// Package rig builds a daemon.Daemon from a configs.Config: the NATS bus (embedded or
// external), the stimulus source, the OpenGL presenter, the photodiode link (a serial port, the
// fake device over a pseudo-terminal, or none), the models, and the simulated acquisition when
// the config asks for it. It is the only place that knows the concrete parts; package daemon
// sees them through its own interfaces.
//
// Open, Run and Close must all be called from the OS thread that owns the display (cmd/retinad's
// main thread, locked in init). Times are host monotonic nanoseconds (CLOCK_MONOTONIC).
package rig
