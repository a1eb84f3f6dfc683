package acquisition

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"google.golang.org/protobuf/proto"

	"retinad/internal/testwait"
	pb "retinad/proto/retinadpb"
)

// fakeDaemon implements Controller with a little state, enough to check each endpoint.
type fakeDaemon struct {
	session string
	models  map[string]bool
}

func (d *fakeDaemon) Status(context.Context) (*pb.Status, error) {
	return &pb.Status{Rig: "r", Session: d.session}, nil
}
func (d *fakeDaemon) StartSession(_ context.Context, r *pb.StartSessionRequest) (*pb.StartSessionReply, error) {
	if d.session != "" {
		return nil, &ControlError{Code: "409", Err: errors.New("daemon: session " + d.session + " already running")}
	}
	d.session = r.Session
	return &pb.StartSessionReply{Session: r.Session, HostNs: 1}, nil
}
func (d *fakeDaemon) StopSession(_ context.Context, r *pb.StopSessionRequest) (*pb.StopSessionReply, error) {
	s := d.session
	d.session = ""
	return &pb.StopSessionReply{Session: s}, nil
}
func (d *fakeDaemon) LoadModel(_ context.Context, r *pb.LoadModelRequest) (*pb.LoadModelReply, error) {
	d.models[r.Name] = true
	return &pb.LoadModelReply{Model: &pb.ModelStatus{Name: r.Name, File: r.File}}, nil
}
func (d *fakeDaemon) UnloadModel(_ context.Context, r *pb.UnloadModelRequest) (*pb.UnloadModelReply, error) {
	if !d.models[r.Name] {
		return nil, &ControlError{Code: "404", Err: errors.New("daemon: no model " + r.Name)}
	}
	delete(d.models, r.Name)
	return &pb.UnloadModelReply{Name: r.Name}, nil
}
func (d *fakeDaemon) ChooseStimulus(_ context.Context, r *pb.ChooseStimulusRequest) (*pb.ChooseStimulusReply, error) {
	if r.Source == nil {
		panic("nil source") // a daemon bug: the service must survive it
	}
	return &pb.ChooseStimulusReply{Source: r.Source, FromFrame: 10}, nil
}
func (d *fakeDaemon) MarkEvent(_ context.Context, r *pb.MarkEventRequest) (*pb.MarkEventReply, error) {
	return &pb.MarkEventReply{Event: &pb.Event{Session: d.session, Label: r.Label}}, nil
}

func TestControl(t *testing.T) {
	b := startBus(t, false, false)
	subj := mustSubjects(t, "r")
	d := &fakeDaemon{models: map[string]bool{}}
	ctx := context.Background()
	c, err := Serve(ctx, b.Conn(), subj, d, ControlOptions{Version: "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	nc := b.Conn()
	call := func(ep string, req, rep proto.Message) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return Call(ctx, nc, subj, ep, req, rep)
	}
	var start pb.StartSessionReply
	if err := call(EndpointStart, &pb.StartSessionRequest{Session: "s1"}, &start); err != nil || start.Session != "s1" {
		t.Fatalf("start: %v %v", &start, err)
	}
	var ce *ControlError
	if err := call(EndpointStart, &pb.StartSessionRequest{Session: "s2"}, &start); !errors.As(err, &ce) || ce.Code != "409" || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second start: %v, want a 409 error reply", err)
	}
	var st pb.StatusReply
	if err := call(EndpointStatus, &pb.StatusRequest{}, &st); err != nil || st.Status.Session != "s1" {
		t.Fatalf("status: %v %v", &st, err)
	}
	var load pb.LoadModelReply
	if err := call(EndpointLoad, &pb.LoadModelRequest{Name: "cnn", File: "m"}, &load); err != nil || load.Model.Name != "cnn" {
		t.Fatalf("load: %v %v", &load, err)
	}
	var unload pb.UnloadModelReply
	if err := call(EndpointUnload, &pb.UnloadModelRequest{Name: "cnn"}, &unload); err != nil || unload.Name != "cnn" {
		t.Fatalf("unload: %v %v", &unload, err)
	}
	if err := call(EndpointUnload, &pb.UnloadModelRequest{Name: "cnn"}, &unload); !errors.As(err, &ce) || ce.Code != "404" {
		t.Fatalf("second unload: %v, want 404", err)
	}
	var stim pb.ChooseStimulusReply
	if err := call(EndpointStimulus, &pb.ChooseStimulusRequest{Source: &pb.StimulusSource{Kind: "flicker"}}, &stim); err != nil || stim.Source.Kind != "flicker" {
		t.Fatalf("stimulus: %v %v", &stim, err)
	}
	if err := call(EndpointStimulus, &pb.ChooseStimulusRequest{}, &stim); !errors.As(err, &ce) || ce.Code != "500" || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("stimulus with a panicking handler: %v, want a 500 error reply", err)
	}
	var mark pb.MarkEventReply
	if err := call(EndpointMark, &pb.MarkEventRequest{Label: "drug"}, &mark); err != nil || mark.Event.Label != "drug" || mark.Event.Session != "s1" {
		t.Fatalf("mark: %v %v", &mark, err)
	}
	var stop pb.StopSessionReply
	if err := call(EndpointStop, &pb.StopSessionRequest{}, &stop); err != nil || stop.Session != "s1" {
		t.Fatalf("stop: %v %v", &stop, err)
	}

	// A message that is not a request (no reply inbox) is refused unanswered and counted
	// (JetStream deliveries, the other kind, are in security_test.go: a client cannot forge
	// their $JS.ACK reply); malformed requests get error replies and are counted.
	forged, _ := proto.Marshal(&pb.StopSessionRequest{Session: "s1"})
	if err := nc.Publish(subj.Control+"."+EndpointStop, forged); err != nil {
		t.Fatal(err)
	}
	testwait.Must(t, 10*time.Second, "a refused non-request", func() bool { return c.Rejected() == 1 })
	for _, ep := range []string{EndpointStatus, EndpointStart, EndpointStop, EndpointLoad, EndpointUnload, EndpointStimulus, EndpointMark} {
		for name, data := range malformed {
			if ep == EndpointStatus && name == "invalid utf-8" {
				continue // StatusRequest has no field 1: an unknown field, legitimately ignored
			}
			msg := nats.NewMsg(subj.Control + "." + ep)
			msg.Data = data
			res, err := nc.RequestMsg(msg, 5*time.Second)
			if err != nil {
				t.Fatalf("%s %s: %v", ep, name, err)
			}
			if code := res.Header.Get(micro.ErrorCodeHeader); code != "400" {
				t.Errorf("%s with %s: code %q, want 400", ep, name, code)
			}
		}
	}
	if got, want := c.Rejected(), uint64(1+7*len(malformed)-1); got != want {
		t.Errorf("rejected %d, want %d", got, want)
	}
	// Still serving.
	if err := call(EndpointStatus, &pb.StatusRequest{}, &st); err != nil {
		t.Fatal(err)
	}
	// Discoverable like `nats micro ls`: the service answers $SRV.PING.retinad.
	res, err := nc.Request("$SRV.PING."+ServiceName, nil, 5*time.Second)
	if err != nil || !strings.Contains(string(res.Data), `"name":"retinad"`) {
		t.Fatalf("$SRV.PING: %s %v", res.Data, err)
	}
}
