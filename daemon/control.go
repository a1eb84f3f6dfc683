package daemon

import (
	"context"
	"errors"
	"fmt"

	"retinad/acquisition"
	pb "retinad/proto/retinadpb"
)

// controller answers the control service (acquisition.Serve) for a running daemon. Its methods
// run on the service's goroutines.
type controller struct{ d *Daemon }

var _ acquisition.Controller = controller{}

// Controller returns the daemon's answers to the control service's requests. Status and
// MarkEvent work; starting and stopping sessions, loading models and choosing the stimulus
// while running are not implemented yet and reply with code 501 saying so.
func (d *Daemon) Controller() acquisition.Controller { return controller{d} }

func notYet(what string) error {
	return &acquisition.ControlError{Code: "501", Err: fmt.Errorf("daemon: %s while running is not implemented yet; restart retinad run with the new config", what)}
}

func (c controller) Status(context.Context) (*pb.Status, error) {
	return c.d.statusMsg(c.d.Figures(), pb.Status_RECORDING), nil
}

func (c controller) StartSession(context.Context, *pb.StartSessionRequest) (*pb.StartSessionReply, error) {
	return nil, notYet("starting a session")
}

func (c controller) StopSession(context.Context, *pb.StopSessionRequest) (*pb.StopSessionReply, error) {
	return nil, notYet("stopping a session (end the process instead)")
}

func (c controller) LoadModel(context.Context, *pb.LoadModelRequest) (*pb.LoadModelReply, error) {
	return nil, notYet("loading a model")
}

func (c controller) UnloadModel(context.Context, *pb.UnloadModelRequest) (*pb.UnloadModelReply, error) {
	return nil, notYet("unloading a model")
}

func (c controller) ChooseStimulus(context.Context, *pb.ChooseStimulusRequest) (*pb.ChooseStimulusReply, error) {
	return nil, notYet("choosing the stimulus")
}

// MarkEvent publishes an Event on the rig's event subject (recorded with the session).
func (c controller) MarkEvent(_ context.Context, r *pb.MarkEventRequest) (*pb.MarkEventReply, error) {
	if r.GetLabel() == "" {
		return nil, &acquisition.ControlError{Code: "400", Err: errors.New("daemon: mark: label is empty")}
	}
	d := c.d
	now := d.now()
	ev := &pb.Event{Session: d.p.Session, Label: r.Label, Note: r.Note, HostNs: now, UnixNs: d.unix(now)}
	d.publishOnce(d.subj.Event, ev)
	return &pb.MarkEventReply{Event: ev}, nil
}
