package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"retinad/acquisition"
	pb "retinad/proto/retinadpb"
)

// controller answers the control service (acquisition.Serve) for a running daemon. Its methods
// run on the service's goroutines. Each passes the daemon's answer through answer, which gives an
// error its reply code: the one place the daemon's kinds of error become codes.
type controller struct{ d *Daemon }

var _ acquisition.Controller = controller{}

// Controller returns the daemon's answers to the control service's requests: status, sessions
// (start, stop), models (load, unload) and events work while the daemon runs; choosing the
// stimulus switches an adaptive stimulus's strategy, and replies with code 501 for any other
// choice until that is implemented.
func (d *Daemon) Controller() acquisition.Controller { return controller{d} }

func notYet(what string) error {
	return classify(ErrNotImplemented, fmt.Errorf("daemon: %s while running is not implemented yet; restart retinad run with the new config", what))
}

func (c controller) Status(context.Context) (*pb.Status, error) {
	return c.d.statusMsg(c.d.Figures()), nil
}

func (c controller) StartSession(ctx context.Context, r *pb.StartSessionRequest) (*pb.StartSessionReply, error) {
	return answer(c.d.StartSession(ctx, r.GetSession()))
}

func (c controller) StopSession(ctx context.Context, r *pb.StopSessionRequest) (*pb.StopSessionReply, error) {
	return answer(c.d.StopSession(ctx, r.GetSession()))
}

func (c controller) LoadModel(ctx context.Context, r *pb.LoadModelRequest) (*pb.LoadModelReply, error) {
	return answer(c.d.LoadModel(ctx, LoadRequest{Name: r.GetName(), File: r.GetFile(), Stochastic: r.GetStochastic(), Seed: r.GetSeed(), Deadline: time.Duration(r.GetDeadlineNs()), Observed: r.GetObserved(), FrameRate: r.GetFrameRateHz(), Threads: int(r.GetThreads()), Requester: acquisition.Requester(ctx)}))
}

func (c controller) UnloadModel(ctx context.Context, r *pb.UnloadModelRequest) (*pb.UnloadModelReply, error) {
	return answer(c.d.UnloadModel(ctx, r.GetName()))
}

// ChooseStimulus switches the closed-loop (adaptive) source's strategy (daemon/closedloop).
func (c controller) ChooseStimulus(ctx context.Context, r *pb.ChooseStimulusRequest) (*pb.ChooseStimulusReply, error) {
	return answer(c.d.chooseStimulus(ctx, r))
}

// MarkEvent publishes an Event on the rig's event subject (recorded with the session).
func (c controller) MarkEvent(ctx context.Context, r *pb.MarkEventRequest) (*pb.MarkEventReply, error) {
	return answer(c.d.MarkEvent(ctx, r.GetLabel(), r.GetNote()))
}

// MarkEvent publishes an Event labelled label on the rig's event subject (recorded with the
// session). An empty label is a bad request.
func (d *Daemon) MarkEvent(_ context.Context, label, note string) (*pb.MarkEventReply, error) {
	if label == "" {
		return nil, classify(ErrBadRequest, errors.New("daemon: mark: label is empty"))
	}
	now := d.now()
	ev := &pb.Event{Session: d.sessionID(), Label: label, Note: note, HostNs: now, UnixNs: d.unix(now)}
	d.publishOnce(d.subj.Event, ev)
	return &pb.MarkEventReply{Event: ev}, nil
}

// chooseStimulus answers the control service's ChooseStimulus: with a strategy, the closed-loop
// (adaptive) source switches to it from its next choice; anything else is not implemented yet.
func (d *Daemon) chooseStimulus(_ context.Context, r *pb.ChooseStimulusRequest) (*pb.ChooseStimulusReply, error) {
	if r.GetStrategy() == "" {
		return nil, notYet("choosing a stimulus source other than an adaptive strategy")
	}
	if d.loop == nil {
		return nil, classify(ErrConflict, fmt.Errorf("daemon: choose stimulus: strategy %q asked, but the stimulus is not adaptive (set adaptive.strategy in the config)", r.GetStrategy()))
	}
	if err := d.loop.Switch(r.GetStrategy()); err != nil {
		return nil, classify(ErrBadRequest, fmt.Errorf("daemon: choose stimulus: %w", err))
	}
	_, from := d.sessionAt(d.loop.Frames()) // in the session's numbering, as the choices' from_frame
	return &pb.ChooseStimulusReply{Source: r.GetSource(), FromFrame: from, Strategy: r.GetStrategy()}, nil
}

// EventWorkerExcluded labels the Event that says a scoring worker was excluded.
const EventWorkerExcluded = "worker-excluded"

// WorkerExcluded records a scoring worker excluded for wrong answers (scoring.Pool's
// OnExclude): it is logged, published as an Event labelled EventWorkerExcluded on
// retinad.<rig>.event (recorded with the session) whose note names the worker and why, and
// listed in Status.workers_excluded and the status line for the daemon's lifetime. identity is
// the worker's identity (its NATS user under authentication); note says who and why. Safe
// from any goroutine.
func (d *Daemon) WorkerExcluded(identity, note string) {
	d.excludedMu.Lock()
	d.excluded = append(d.excluded, identity)
	d.excludedMu.Unlock()
	d.p.Log.Error("daemon: scoring worker excluded", "identity", identity, "why", note)
	now := d.now()
	d.publishOnce(d.subj.Event, &pb.Event{Session: d.sessionID(), Label: EventWorkerExcluded, Note: note, HostNs: now, UnixNs: d.unix(now)})
}

// workersExcluded returns the identities WorkerExcluded recorded.
func (d *Daemon) workersExcluded() []string {
	d.excludedMu.Lock()
	defer d.excludedMu.Unlock()
	return append([]string(nil), d.excluded...)
}
