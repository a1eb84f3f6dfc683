package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"retinad/clock"
	"retinad/infer"
	"time"

	"retinad/proto/contract"
	pb "retinad/proto/retinadpb"
)

// The control service's work on a running daemon: sessions and models. Each runs on a control
// goroutine, serialised by Daemon.ctl; none makes the frame loop wait. An error for a fault of
// the request wraps its kind (ErrBadRequest, ErrConflict, ...: errors.go); the control service
// turns kinds into reply codes (controlCode).

// StartSession begins session id ("" names it from the UTC time): validation statistics start
// afresh, the START event is published, and frames and predictions from the next one the
// stamper handles carry the new name. A session already running is a conflict (409).
func (d *Daemon) StartSession(ctx context.Context, id string) (*pb.StartSessionReply, error) {
	if id == "" {
		id = newSessionID()
	}
	if err := contract.CheckToken("session", id); err != nil {
		return nil, classify(ErrBadRequest, fmt.Errorf("daemon: start session: %w", err))
	}
	d.ctl.Lock()
	defer d.ctl.Unlock()
	if cur := d.sess.Load(); cur != nil {
		return nil, classify(ErrConflict, fmt.Errorf("daemon: start session %s: session %s is running; stop it first", id, cur.id))
	}
	d.val.reset()
	d.resetRecording()
	d.sessionEvent(ctx, pb.SessionEvent_START, id) // checks the store and its free space
	// The session begins with the next frame the frame loop generates once its START is out,
	// where every model's engine starts afresh (generate): frames shown while the store
	// acknowledged START, and the Lookahead+1 frames generated before it was out (already
	// stepped with the state before the session), go by with no session to publish them in.
	d.base.Store(d.counters())
	d.flipSpan.reset()
	s := &session{id: id}
	s.startFrames.Store(notBegun)
	now := d.now()
	d.sess.Store(s)
	d.stamp.wake.Ring()
	d.p.Log.Info("daemon: session started", "session", id)
	rep := &pb.StartSessionReply{Session: id, HostNs: now, UnixNs: d.unix(now)}
	rep.RecordState, rep.RecordingError = d.recordReply()
	return rep, nil
}

// recordReply is the recording's health for a control reply.
func (d *Daemon) recordReply() (pb.Status_RecordState, string) {
	if d.p.Recorder == nil {
		return pb.Status_RECORD_OFF, ""
	}
	state, why, _ := d.rec.get()
	return state, why
}

// StopSession ends the running session (id "" or its name): the stamper stops publishing
// frames and predictions, every model's final validation report and the STOP event are
// published, and the bus is flushed so that the recording holds the whole session. The display
// and the models keep running (idle) until the next StartSession.
func (d *Daemon) StopSession(ctx context.Context, id string) (*pb.StopSessionReply, error) {
	d.ctl.Lock()
	defer d.ctl.Unlock()
	cur := d.sess.Load()
	switch {
	case cur == nil:
		return nil, classify(ErrConflict, errors.New("daemon: stop session: no session is running"))
	case id != "" && id != cur.id:
		return nil, classify(ErrNotFound, fmt.Errorf("daemon: stop session %s: the running session is %s", id, cur.id))
	}
	d.sess.Store(nil)
	if err := d.waitStamper(ctx, nil); err != nil {
		d.sess.Store(cur)
		return nil, fmt.Errorf("daemon: stop session %s: %w", cur.id, err)
	}
	d.val.report()
	now := d.now()
	// The session's queued messages reach the server before its STOP, which may go straight
	// to the store (the Recorder) and must not overtake them: export cuts a session at STOP.
	if err := d.flush(ctx); err != nil {
		return nil, fmt.Errorf("daemon: stop session %s: flushing the recording: %w", cur.id, err)
	}
	d.sessionEvent(ctx, pb.SessionEvent_STOP, cur.id)
	if err := d.flush(ctx); err != nil {
		return nil, fmt.Errorf("daemon: stop session %s: flushing the recording: %w", cur.id, err)
	}
	frames := uint64(0)
	if f, begun := cur.first(); begun && d.frames.Load() > f {
		frames = d.frames.Load() - f
	}
	rep := &pb.StopSessionReply{Session: cur.id, HostNs: now, UnixNs: d.unix(now), Frames: frames}
	rep.RecordState, rep.RecordingError = d.recordReply()
	if rep.RecordState == pb.Status_RECORD_FAILED {
		d.p.Log.Error("daemon: session stopped; its RECORDING FAILED and is incomplete", "session", cur.id, "frames", frames, "err", rep.RecordingError)
	} else {
		d.p.Log.Info("daemon: session stopped", "session", cur.id, "frames", frames)
	}
	return rep, nil
}

// waitStamper waits until the stamper has run under session s (it publishes nothing of the
// old session after). It returns at once when the stamper is not running.
func (d *Daemon) waitStamper(ctx context.Context, s *session) error {
	d.stamp.seen.Store(&session{}) // a value the stamper never sets: wait for a fresh pass
	d.stamp.wake.Ring()
	return d.waitFor(ctx, func() bool { return !d.stamp.running.Load() || d.stamp.seen.Load() == s })
}

// waitFor polls cond every millisecond of the daemon's clock, for up to 2 s of it or until ctx
// ends. On a virtual clock each poll is a tick the test's clock waits for (clock.Ack), so the
// bound is the daemon's time, not the machine's.
func (d *Daemon) waitFor(ctx context.Context, cond func() bool) error {
	clk := d.p.Clock
	deadline := clk.Now() + int64(2*time.Second)
	t := clk.NewTimer(time.Millisecond)
	defer t.Stop()
	for !cond() {
		if clk.Now() > deadline {
			return errors.New("timed out after 2s")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C():
		}
		t.Reset(time.Millisecond)
		clock.Ack(t)
	}
	return nil
}

func (d *Daemon) flush(ctx context.Context) error {
	f, ok := d.p.Bus.(Flusher)
	if !ok {
		return nil
	}
	if d.busDown() { // no server to confirm anything: fail now rather than after the timeout
		return errors.New("daemon: NATS is disconnected: what is queued waits in the reconnect buffer")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return f.Flush(ctx)
}

// loadTimeout bounds one control load: the service takes load requests one at a time, so a
// load that hangs (a stalled network disk) must not keep every later one waiting. A model file
// at the size limit (256 MiB) reads from a local disk in well under a second.
const loadTimeout = 30 * time.Second

// LoadModel loads a model and lets it join: its goroutine starts, and the frame loop feeds it
// from the next frame it generates (a frame boundary; the loop only loads a pointer). Its first
// History-1 predictions are NaN. The Loader reads and checks the file and makes the engine
// (every buffer is allocated before the model is shared) without the control lock, so that a
// slow or hostile load delays no stop, status or other request; the name is reserved meanwhile.
// Every load is logged with who asked, refused or not.
func (d *Daemon) LoadModel(ctx context.Context, req LoadRequest) (*pb.LoadModelReply, error) {
	switch {
	case contract.CheckToken("model name", req.Name) != nil:
		return nil, classify(ErrBadRequest, fmt.Errorf("daemon: load model: %w", contract.CheckToken("model name", req.Name)))
	case req.File == "":
		return nil, classify(ErrBadRequest, fmt.Errorf("daemon: load model %s: file is empty; want the path of a model file on the daemon's machine", req.Name))
	case req.Deadline < 0:
		return nil, classify(ErrBadRequest, fmt.Errorf("daemon: load model %s: deadline_ns %d is negative", req.Name, req.Deadline))
	case req.Threads < 0 || req.Threads > infer.MaxThreads:
		return nil, classify(ErrBadRequest, fmt.Errorf("daemon: load model %s: threads %d: want 0 to %d cores for one step", req.Name, req.Threads, infer.MaxThreads))
	case d.p.Load == nil:
		return nil, classify(ErrNotImplemented, fmt.Errorf("daemon: load model %s: this daemon was wired without a model loader", req.Name))
	}
	log := d.p.Log.With("name", req.Name, "file", req.File, "requester", req.Requester)
	if err := d.reserve(req.Name); err != nil {
		log.Warn("daemon: model load refused", "err", err)
		return nil, err
	}
	defer d.release(req.Name)
	log.Info("daemon: loading model")
	lctx, cancel := context.WithTimeout(ctx, loadTimeout)
	defer cancel()
	// The load runs below the frame loop's priority so that it cannot starve the display.
	var m Model
	var err error
	if perr := atBackgroundPriority(func() { m, err = d.p.Load(lctx, req) }); perr != nil {
		log.Warn("daemon: model load ran at the normal priority", "err", perr)
	}
	if err != nil {
		log.Warn("daemon: model load refused", "err", err)
		return nil, classify(loadFault(lctx, err), fmt.Errorf("daemon: load model %s: %w", req.Name, err))
	}
	m.Name, m.File = req.Name, req.File
	rep, err := d.join(m)
	if err != nil {
		log.Warn("daemon: model load refused", "err", err)
		return nil, err
	}
	log.Info("daemon: model loaded", "cells", len(m.CellIDs))
	return rep, nil
}

// loadFault is the kind of a Loader's error: a file that is not there or may not be read, a
// load that ran out of time (or the daemon stopping meanwhile), else a bad file.
func loadFault(lctx context.Context, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ErrNotFound
	case errors.Is(err, fs.ErrPermission):
		return ErrForbidden
	case lctx.Err() != nil:
		return ErrUnavailable
	}
	return ErrBadRequest
}

// reserve claims name for a load in progress: no model of that name may run or be loading,
// and the daemon must not be ending.
func (d *Daemon) reserve(name string) error {
	d.ctl.Lock()
	defer d.ctl.Unlock()
	switch {
	case d.models.Load().find(name) != nil || d.loading[name]:
		return classify(ErrConflict, fmt.Errorf("daemon: load model %s: a model of that name is running or loading; unload it first", name))
	case d.ending:
		return classify(ErrUnavailable, fmt.Errorf("daemon: load model %s: the daemon is shutting down", name))
	}
	if d.loading == nil {
		d.loading = map[string]bool{}
	}
	d.loading[name] = true
	return nil
}

func (d *Daemon) release(name string) {
	d.ctl.Lock()
	delete(d.loading, name)
	d.ctl.Unlock()
}

// join makes a loaded model's runner and starts it, under the control lock.
func (d *Daemon) join(m Model) (*pb.LoadModelReply, error) {
	d.ctl.Lock()
	defer d.ctl.Unlock()
	if d.ending {
		return nil, classify(ErrUnavailable, fmt.Errorf("daemon: load model %s: the daemon is shutting down", m.Name))
	}
	set := d.models.Load()
	r, err := d.newRunner(set, m)
	if err != nil {
		return nil, err // a *ModelError, of its kind
	}
	if err := d.val.add(r); err != nil {
		return nil, err
	}
	if d.g != nil {
		d.startRunner(r)
	}
	d.models.Store(set.with(r))
	return &pb.LoadModelReply{Model: r.figures(math.NaN()).status(), CellIds: r.CellIDs}, nil
}

// UnloadModel removes a model: the frame loop stops feeding it at its next frame, its
// goroutine is stopped and waited for, and its final validation report is published.
func (d *Daemon) UnloadModel(ctx context.Context, name string) (*pb.UnloadModelReply, error) {
	d.ctl.Lock()
	defer d.ctl.Unlock()
	set := d.models.Load()
	r := set.find(name)
	if r == nil {
		return nil, classify(ErrNotFound, fmt.Errorf("daemon: unload model %q: no model of that name is running", name))
	}
	ns := set.without(r)
	d.models.Store(ns)
	// The frame loop feeds r no more once it has switched to the new set.
	if err := d.waitFor(ctx, func() bool { return !d.looping.Load() || d.fedSet.Load() == ns }); err != nil {
		return nil, fmt.Errorf("daemon: unload model %s: the frame loop did not move on: %w", name, err)
	}
	if r.cancel != nil {
		r.cancel()
		select {
		case <-r.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("daemon: unload model %s: its goroutine did not stop: %w", name, ctx.Err())
		}
	}
	// An engine with helper goroutines (infer.Stream with Threads > 1) ends them now, not when
	// the collector gets to it.
	if c, ok := r.Engine.(interface{ Close() }); ok {
		c.Close()
	}
	d.val.remove(r)
	d.p.Log.Info("daemon: model unloaded", "name", name, "steps", r.steps.Load(), "published", r.published.Load())
	return &pb.UnloadModelReply{Name: name}, nil
}
