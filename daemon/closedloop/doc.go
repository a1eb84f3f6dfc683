// Package closedloop is the daemon's side of the adaptive stimulus (package stimulus/adaptive):
// Adaptive is a frame source that plays the clips its scheduler chooses back to back, publishes
// every choice on retinad.<rig>.adaptive, and hands the recorded spikes of each clip shown back
// to the strategy. It is a daemon.ClosedLoop, the only way the daemon core calls it.
//
// It neither subscribes to spikes nor fits the acquisition clock: the daemon's validation bins
// the recorded spikes (daemon/validate, behind the strict inbound decoder, on the one
// acquisition-to-host clock fit) and tells it of every bin as it closes (Observe), so a clip's
// counts are the counts the models are scored against.
//
// Goroutines: Next and Description run on the frame loop (and allocate nothing within a clip);
// Run runs the scheduler; Observe comes from a bus goroutine of the daemon; Switch from the
// control service's. Counts are spikes per bin (one bin per stimulus frame); times are host
// monotonic ns.
package closedloop
