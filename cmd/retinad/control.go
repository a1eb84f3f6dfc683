package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"retinad/infer"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"retinad/acquisition"
	"retinad/proto/contract"
	pb "retinad/proto/retinadpb"
)

// controlCommand is `retinad control`, in the command table (main.go).
func controlCommand() command {
	return command{
		name:    "control",
		args:    "[--server URL] [--rig R] [--user U --password P | --nkey SEEDFILE | --creds FILE] [--tls-ca PEM] [--observed] [--deadline D] [--frame-rate HZ] [--threads N] status | start [SESSION] | stop [SESSION] | load NAME FILE | unload NAME | mark LABEL [NOTE]",
		summary: "ask a running daemon over its control service: sessions, models, events (all but status need the operator role); prints the reply as JSON",
		run:     runControl,
	}
}

func runControl(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	server := addNATSFlags(fs, "server", "nats://127.0.0.1:4222", "NATS server URL (the embedded server's default listener)")
	rig := fs.String("rig", "sim", "the rig's name (retinad.<rig>.control)")
	observed := fs.Bool("observed", false, "load: a GLM's spike history follows the recorded spikes")
	deadline := fs.Duration("deadline", 0, "load: skip a bin whose prediction is later than this after the flip (0: one bin)")
	frameRate := fs.Float64("frame-rate", 0, "load: bins per second of an .onnx file that does not say its own")
	threads := fs.Int("threads", 0, "load: cores one step of the model may use (0 or 1: its goroutine alone)")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the reply")
	if err := fs.Parse(args); err != nil {
		return err
	}
	a := fs.Args()
	arg := func(i int) string {
		if i < len(a) {
			return a[i]
		}
		return ""
	}
	var endpoint string
	var req, rep proto.Message
	n := 1 // arguments the verb takes at most
	switch arg(0) {
	case "status":
		endpoint, req, rep, n = acquisition.EndpointStatus, &pb.StatusRequest{}, &pb.StatusReply{}, 0
	case "start":
		endpoint, req, rep = acquisition.EndpointStart, &pb.StartSessionRequest{Session: arg(1)}, &pb.StartSessionReply{}
	case "stop":
		endpoint, req, rep = acquisition.EndpointStop, &pb.StopSessionRequest{Session: arg(1)}, &pb.StopSessionReply{}
	case "load":
		if arg(1) == "" || arg(2) == "" {
			return fmt.Errorf("%w: load wants NAME FILE", errUsage)
		}
		if *threads < 0 || *threads > infer.MaxThreads {
			return fmt.Errorf("%w: load: --threads %d: want 0 to %d", errUsage, *threads, infer.MaxThreads)
		}
		endpoint, n = acquisition.EndpointLoad, 2
		req = &pb.LoadModelRequest{Name: arg(1), File: arg(2), Observed: *observed, DeadlineNs: int64(*deadline), FrameRateHz: *frameRate, Threads: int32(*threads)}
		rep = &pb.LoadModelReply{}
	case "unload":
		endpoint, req, rep = acquisition.EndpointUnload, &pb.UnloadModelRequest{Name: arg(1)}, &pb.UnloadModelReply{}
	case "mark":
		endpoint, req, rep, n = acquisition.EndpointMark, &pb.MarkEventRequest{Label: arg(1), Note: arg(2)}, &pb.MarkEventReply{}, 2
	default:
		fs.Usage()
		return fmt.Errorf("%w: want a verb: status, start, stop, load, unload or mark", errUsage)
	}
	if len(a) > n+1 {
		return fmt.Errorf("%w: %s takes at most %d argument(s), got %q", errUsage, a[0], n, a[1:])
	}
	subj, err := contract.SubjectsFor(*rig)
	if err != nil {
		return err
	}
	// A request the server refuses is never answered: stop waiting at the refusal.
	rctx, refuse := context.WithCancelCause(ctx)
	defer refuse(nil)
	server.refused = refuse
	nc, err := server.connect("retinad control")
	if err != nil {
		return err
	}
	defer nc.Close()
	cctx, cancel := context.WithTimeout(rctx, *timeout)
	defer cancel()
	if err := acquisition.Call(cctx, nc, subj, endpoint, req, rep); err != nil {
		if cause := context.Cause(rctx); errors.Is(cause, nats.ErrPermissionViolation) {
			return fmt.Errorf("control %s: refused by the NATS server (%v): every control request but status needs the operator role; log in as an operator (--user and --password, --nkey or --creds)", arg(0), cause)
		}
		return err
	}
	b, err := protojson.Marshal(rep)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, string(b))
	return nil
}
