// Package daemon is the closed loop: it shows stimulus frames, has every model predict every
// bin, stamps each prediction with its frame's photodiode-confirmed onset, publishes frame
// onsets, predictions, validation reports and status over the bus, and supervises every
// component until the context ends. It holds no GL, serial or model math: those parts come in
// through its own small interfaces (Source, Presenter, FlipSink, Engine, Bus, Component), and
// package daemon/rig wires the real ones from a config.
//
// One frame's path, and who runs it:
//
//	frame loop (the caller of Run: the OS thread that owns GL)
//	    generates frame k+Lookahead, copies it into every model's input ring (never waits:
//	    a full ring counts an overrun), presents frame k, reports its flip to the FlipSink
//	    (the photodiode) and to the stamper's flip ring
//	model goroutines, one per model
//	    step the streaming engine on every frame they are fed, in order, ahead of the
//	    display; results go to the model's output ring with their compute time
//	stamper goroutine
//	    takes each frame's onset (calib.Onset, in frame order, from the photodiode's
//	    goroutine through Daemon.Onset), publishes the FrameOnset, then each model's
//	    prediction for that bin, stamped with the onset; a prediction ready later than its
//	    model's deadline after the flip is counted skipped (with how late) and not published;
//	    it counts each published prediction's latency from its frame's flip and from its onset's
//	    arrival in histograms (acquisition.Histogram: lock-free, allocation-free) for Figures;
//	    as Run ends (the frame loop first, then the other goroutines) Run publishes what the
//	    photodiode resolved as it stopped, so every frame shown has its onset published
//	validation goroutine and bus handlers
//	    spikes and sync events from acquisition pass the strict decoder (acquisition.Inbound:
//	    contract, sequence, and the clock fit's judgement; rejects counted per reason), are
//	    placed on host time and scored against the predictions (package daemon/validate); a
//	    closed-loop source (ClosedLoop, the adaptive stimulus) is told of every bin as it
//	    closes (Observe); a report per model every ReportEvery
//	bus goroutine (NATSBus, run by Run from before the session's START to after its STOP)
//	    sends the one publish queue (acquisition.Publisher, nats.publish_queue messages, the
//	    oldest dropped and counted when full) that every publisher of the daemon copies into;
//	    only session events and a recorded session's Status take the Recorder's acknowledged
//	    path beside it, and a session's queue is flushed before its STOP so none overtakes
//	status goroutine
//	    a status line and a Status message every StatusEvery; in a recorded session the Status
//	    goes through the Recorder and waits for the store's acknowledgement, which is the
//	    recording's health check (recording.go: a refusal is RECORD_FAILED at once)
//	control goroutines (the control service's, through Controller; serialised by a mutex)
//	    start and stop sessions (a session started here begins with the next frame the frame
//	    loop generates, which marks it for every model goroutine to reset its engine, a
//	    Resetter, before stepping it; the stamper publishes only in a session, under its name; a
//	    stop publishes final reports and the STOP event and flushes the bus so the recording
//	    holds the whole session) and load and unload models: a model is read, checked and
//	    sized here (the file read outside the mutex, under a reserved name, so that a slow load
//	    delays no stop or status, and on an OS thread of its own at nice +10, so that on a busy
//	    machine it takes no core from the frame loop: background_linux.go), then joins by an atomic swap of the copy-on-write model set, which the frame
//	    loop loads once per frame (a frame boundary; it never waits); an unload swaps it out,
//	    waits for the loop to move on, stops the model's goroutine and publishes its final
//	    validation report
//
// An observed model (a GLM in validation mode, Model.Observed) gets the recorded counts of
// each bin from validation and observes them before its next step, so it runs behind the
// display by the acquisition's publishing delay; its default deadline is a second.
//
// Cores (Parts.FrameLoopCPU, Model.CPUs; configs cpus.frame_loop, models[].cpus; Linux): none
// is pinned unless configured. When one is, Run moves every other thread of the process off
// the configured cores before it starts anything, pins the frame loop's thread (its caller's)
// to its core, and each pinned model's goroutine pins itself, locked to its OS thread, for its
// life (its engine's helpers were pinned when the engine was made); when Run returns, every
// thread has every core again (cpus.go, internal/cpus). A model loaded over the control
// service is not pinned.
//
// The frame loop, the model goroutines and the stamper allocate nothing in steady state
// (TestSteadyStateAllocatesNothing); the rings between them are single-producer
// single-consumer and lock-free. Nothing on the frame loop waits on the bus, the disk or a
// model.
//
// Bins: the stimulus frame rate is a whole multiple M of each model's bin rate (a monitor
// faster than the stimulus holds each frame for several refreshes, which the presenter does).
// With M = 1 a bin is a frame. With M > 1 bin b is frames bM .. bM+M-1: the model steps once,
// on their mean, its prediction is stamped with frame bM's onset (Bin b, Frame bM, width M
// frames), and validation scores its rate on each of the bin's frames (counts per frame).
//
// Errors: a control method's error for a fault of the request wraps its kind (ErrBadRequest,
// ErrForbidden, ErrNotFound, ErrConflict, ErrNotImplemented, ErrUnavailable; errors.Is), and
// only the controller turns kinds into the control service's codes (errors.go, controlCode).
//
// Units: times are host monotonic nanoseconds (int64) of Parts.Clock (clock.System, the
// machine's CLOCK_MONOTONIC, unless a test injects daemontest.Clock), carried with Unix time in
// messages; rates are spikes/s. Everything the daemon waits for by time (status, validation
// reports, a control request's wait for the frame loop) waits on that clock and acknowledges
// its ticks (clock.Ack), so a test's virtual clock moves in lockstep with it.
package daemon
