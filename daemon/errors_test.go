package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"retinad/acquisition"
	"retinad/daemon"
	"retinad/daemon/daemontest"
	"retinad/proto/contract"
	pb "retinad/proto/retinadpb"
)

// TestControlErrorCodes: every kind of error the daemon returns reaches a requester of the real
// control service (NATS micro over an embedded server) with its code, and the daemon's own method
// returns the same error as that kind (errors.Is), its message unchanged by the mapping.
func TestControlErrorCodes(t *testing.T) {
	nc, stop, err := daemontest.NATS()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	started := make(chan struct{})
	load := func(ctx context.Context, req daemon.LoadRequest) (daemon.Model, error) {
		switch req.File {
		case "outside.model": // as the rig's loader refuses a file outside the model folders
			return daemon.Model{}, fmt.Errorf("testloader: %s: %w: not inside the model folders", req.File, fs.ErrPermission)
		case "missing.model":
			return daemon.Model{}, fmt.Errorf("testloader: %w", &fs.PathError{Op: "open", Path: req.File, Err: fs.ErrNotExist})
		case "hangs.model": // a load on a stalled disk, until the daemon stops
			close(started)
			<-ctx.Done()
			return daemon.Model{}, fmt.Errorf("testloader: %s: %w", req.File, ctx.Err())
		}
		return daemon.Model{}, fmt.Errorf("testloader: %s: not a model", req.File)
	}
	d, err := daemon.New(daemon.Parts{
		Rig: "codes", Session: "s1", Source: &daemontest.Source{}, Presenter: &daemontest.Presenter{},
		Bus: daemon.NATSBus(nc, 64, nil), FrameRate: 100, Height: 4, Width: 4, Load: load,
		Models: []daemon.Model{{Name: "first", Engine: &daemontest.Engine{Cells: 2}, CellIDs: []int32{1, 2}, BinRate: 100}},
	})
	if err != nil {
		t.Fatal(err)
	}
	subj, _ := contract.SubjectsFor("codes")
	sctx, scancel := context.WithCancel(context.Background())
	defer scancel()
	svc, err := acquisition.Serve(sctx, nc, subj, d.Controller(), acquisition.ControlOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	ctx := context.Background()
	call := func(endpoint string, req proto.Message, rep proto.Message) error {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return acquisition.Call(cctx, nc, subj, endpoint, req, rep)
	}
	loadReq := func(name, file string) (*pb.LoadModelRequest, func() error) {
		return &pb.LoadModelRequest{Name: name, File: file}, func() error {
			_, err := d.LoadModel(ctx, daemon.LoadRequest{Name: name, File: file})
			return err
		}
	}

	type tcase struct {
		what     string
		endpoint string
		req      proto.Message
		rep      proto.Message
		direct   func() error // the same request to the daemon's method
		kind     error
		code     string
		says     string
	}
	cases := []tcase{
		{what: "a mark without a label", endpoint: acquisition.EndpointMark, req: &pb.MarkEventRequest{}, rep: &pb.MarkEventReply{},
			direct: func() error { _, err := d.MarkEvent(ctx, "", ""); return err }, kind: daemon.ErrBadRequest, code: "400", says: "label is empty"},
		{what: "a session name that is no subject token", endpoint: acquisition.EndpointStart, req: &pb.StartSessionRequest{Session: "a b"}, rep: &pb.StartSessionReply{},
			direct: func() error { _, err := d.StartSession(ctx, "a b"); return err }, kind: daemon.ErrBadRequest, code: "400", says: "session"},
		{what: "a second session", endpoint: acquisition.EndpointStart, req: &pb.StartSessionRequest{Session: "s2"}, rep: &pb.StartSessionReply{},
			direct: func() error { _, err := d.StartSession(ctx, "s2"); return err }, kind: daemon.ErrConflict, code: "409", says: "session s1 is running"},
		{what: "stopping another session", endpoint: acquisition.EndpointStop, req: &pb.StopSessionRequest{Session: "other"}, rep: &pb.StopSessionReply{},
			direct: func() error { _, err := d.StopSession(ctx, "other"); return err }, kind: daemon.ErrNotFound, code: "404", says: "the running session is s1"},
		{what: "unloading no model", endpoint: acquisition.EndpointUnload, req: &pb.UnloadModelRequest{Name: "nope"}, rep: &pb.UnloadModelReply{},
			direct: func() error { _, err := d.UnloadModel(ctx, "nope"); return err }, kind: daemon.ErrNotFound, code: "404", says: "no model of that name"},
		{what: "a strategy for a stimulus that is not adaptive", endpoint: acquisition.EndpointStimulus, req: &pb.ChooseStimulusRequest{Strategy: "random"}, rep: &pb.ChooseStimulusReply{},
			direct: func() error {
				_, err := d.Controller().ChooseStimulus(ctx, &pb.ChooseStimulusRequest{Strategy: "random"})
				return err
			}, kind: daemon.ErrConflict, code: "409", says: "not adaptive"},
		{what: "another stimulus source", endpoint: acquisition.EndpointStimulus, req: &pb.ChooseStimulusRequest{}, rep: &pb.ChooseStimulusReply{},
			direct: func() error { _, err := d.Controller().ChooseStimulus(ctx, &pb.ChooseStimulusRequest{}); return err },
			kind:   daemon.ErrNotImplemented, code: "501", says: "not implemented yet"},
	}
	for _, l := range []struct {
		name, file string
		kind       error
		code, says string
	}{
		{"x.y", "m.model", daemon.ErrBadRequest, "400", "model name"},
		{"bad", "bad.model", daemon.ErrBadRequest, "400", "not a model"},
		{"first", "m.model", daemon.ErrConflict, "409", "running or loading"},
		{"out", "outside.model", daemon.ErrForbidden, "403", "not inside the model folders"},
		{"gone", "missing.model", daemon.ErrNotFound, "404", "file does not exist"},
	} {
		req, direct := loadReq(l.name, l.file)
		cases = append(cases, tcase{what: "load " + l.name + " from " + l.file, endpoint: acquisition.EndpointLoad, req: req, rep: &pb.LoadModelReply{},
			direct: direct, kind: l.kind, code: l.code, says: l.says})
	}
	for _, c := range cases {
		derr := c.direct()
		if !errors.Is(derr, c.kind) || !strings.HasPrefix(fmt.Sprint(derr), "daemon: ") || !strings.Contains(fmt.Sprint(derr), c.says) {
			t.Errorf("%s, asked of the daemon: %v; want %v saying %q", c.what, derr, c.kind, c.says)
		}
		err := call(c.endpoint, c.req, c.rep)
		var ce *acquisition.ControlError
		if !errors.As(err, &ce) || ce.Code != c.code || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s, over control: %v; want code %s saying %q", c.what, err, c.code, c.says)
			continue
		}
		if derr != nil && !strings.HasSuffix(err.Error(), derr.Error()) {
			t.Errorf("%s: the reply %q does not carry the daemon's message %q", c.what, err, derr)
		}
	}

	// 503: a load that cannot finish because the daemon stops meanwhile (the service's context,
	// the daemon's, ends while the loader waits on a stalled file).
	errc := make(chan error, 1)
	go func() {
		errc <- call(acquisition.EndpointLoad, &pb.LoadModelRequest{Name: "late", File: "hangs.model"}, &pb.LoadModelReply{})
	}()
	select {
	case <-started:
	case err := <-errc:
		t.Fatalf("the hanging load returned before it started: %v", err)
	}
	scancel()
	err = <-errc
	var ce *acquisition.ControlError
	if !errors.As(err, &ce) || ce.Code != "503" || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("a load cut short by the daemon stopping: %v; want code 503", err)
	}
}
