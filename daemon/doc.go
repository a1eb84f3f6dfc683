// Package daemon is the composition root: it wires a configs.Config to the components (display,
// photodiode link, model engines, NATS, recording, virtual retina), runs the frame loop, online
// validation and the control service, and owns their lifecycle and shutdown. It holds no GL,
// serial or model math itself. Times are host monotonic nanoseconds (int64).
package daemon
