package acquisition

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"google.golang.org/protobuf/proto"

	"retinad/proto/contract"
	pb "retinad/proto/retinadpb"
)

// Controller is what the control service asks the daemon to do. The daemon implements it. Each
// method is called from the service's delivery goroutine of its endpoint, so methods of
// different endpoints may run at the same time: the daemon synchronises. A returned error is sent
// to the requester as a micro error reply; wrap it in a *ControlError to choose its code.
type Controller interface {
	Status(ctx context.Context) (*pb.Status, error)
	StartSession(ctx context.Context, r *pb.StartSessionRequest) (*pb.StartSessionReply, error)
	StopSession(ctx context.Context, r *pb.StopSessionRequest) (*pb.StopSessionReply, error)
	LoadModel(ctx context.Context, r *pb.LoadModelRequest) (*pb.LoadModelReply, error)
	UnloadModel(ctx context.Context, r *pb.UnloadModelRequest) (*pb.UnloadModelReply, error)
	ChooseStimulus(ctx context.Context, r *pb.ChooseStimulusRequest) (*pb.ChooseStimulusReply, error)
	MarkEvent(ctx context.Context, r *pb.MarkEventRequest) (*pb.MarkEventReply, error)
}

// ControlError is a Controller error with a code for the error reply ("400" for a bad request,
// "404" for an unknown model or session, "409" for a conflict such as a session already
// running). Other errors are sent with code "500".
type ControlError struct {
	Code string
	Err  error
}

func (e *ControlError) Error() string { return e.Err.Error() }
func (e *ControlError) Unwrap() error { return e.Err }

// The control endpoints; each is reachable at <subjects.Control>.<name>, e.g.
// retinad.rig1.control.status.
const (
	EndpointStatus   = "status"
	EndpointStart    = "start"
	EndpointStop     = "stop"
	EndpointLoad     = "load"
	EndpointUnload   = "unload"
	EndpointStimulus = "stimulus"
	EndpointMark     = "mark"
)

// ControlOptions set up the control service.
type ControlOptions struct {
	Version string // semantic version for micro (default 0.0.0)
	Log     *slog.Logger
	// Who may call which endpoint is NATS's business, not the service's: the server's
	// permissions (acquisition.Permissions) let only the operator role publish on the control
	// subjects, before any request reaches the daemon. (A shared token in a header, the
	// service's former check, travelled to anyone allowed to listen and was never configured.)
}

// Control is the running control service.
type Control struct {
	svc      micro.Service
	rejected atomic.Uint64
}

// Rejected counts malformed requests and messages that are not requests.
func (c *Control) Rejected() uint64 { return c.rejected.Load() }

// Stop removes the service from NATS.
func (c *Control) Stop() error { return c.svc.Stop() }

// Serve adds the NATS micro service "retinad" (`nats micro ls`) on conn, with one endpoint per
// Controller method under subj.Control. Requests and replies are the Request/Reply messages of
// proto/retinad.proto. ctx is passed to the Controller's methods.
func Serve(ctx context.Context, conn *nats.Conn, subj contract.Subjects, ctl Controller, o ControlOptions) (*Control, error) {
	if o.Version == "" {
		o.Version = "0.0.0"
	}
	log := o.Log
	if log == nil {
		log = discard
	}
	svc, err := micro.AddService(conn, micro.Config{
		Name:        ServiceName,
		Version:     o.Version,
		Description: "retinad control for rig " + subj.Rig,
		Metadata:    map[string]string{"rig": subj.Rig},
	})
	if err != nil {
		return nil, fmt.Errorf("acquisition: control service: %w", err)
	}
	c := &Control{svc: svc}
	g := svc.AddGroup(subj.Control, micro.WithGroupQueueGroup("retinad-"+subj.Rig))
	add := func(name string, h micro.HandlerFunc) {
		if err == nil {
			err = g.AddEndpoint(name, h, micro.WithEndpointMetadata(map[string]string{"rig": subj.Rig}))
		}
	}
	add(EndpointStatus, c.handle(ctx, log, &pb.StatusRequest{}, func(ctx context.Context, _ proto.Message) (proto.Message, error) {
		s, err := ctl.Status(ctx)
		return &pb.StatusReply{Status: s}, err
	}))
	add(EndpointStart, handler(c, ctx, log, ctl.StartSession))
	add(EndpointStop, handler(c, ctx, log, ctl.StopSession))
	add(EndpointLoad, handler(c, ctx, log, ctl.LoadModel))
	add(EndpointUnload, handler(c, ctx, log, ctl.UnloadModel))
	add(EndpointStimulus, handler(c, ctx, log, ctl.ChooseStimulus))
	add(EndpointMark, handler(c, ctx, log, ctl.MarkEvent))
	if err != nil {
		_ = svc.Stop()
		return nil, fmt.Errorf("acquisition: control endpoint: %w", err)
	}
	// Return once the server has the endpoints' subscriptions, so that a client that asks as
	// soon as Serve returns (or the daemon says it is up) is answered, not told "no responders".
	if err := conn.Flush(); err != nil {
		_ = svc.Stop()
		return nil, fmt.Errorf("acquisition: control service: %w", err)
	}
	return c, nil
}

// handler adapts a typed Controller method to an endpoint.
func handler[Req proto.Message, Rep proto.Message](c *Control, ctx context.Context, log *slog.Logger, f func(context.Context, Req) (Rep, error)) micro.HandlerFunc {
	var zero Req
	return c.handle(ctx, log, zero, func(ctx context.Context, r proto.Message) (proto.Message, error) {
		return f(ctx, r.(Req))
	})
}

func (c *Control) handle(ctx context.Context, log *slog.Logger, proto0 proto.Message, f func(context.Context, proto.Message) (proto.Message, error)) micro.HandlerFunc {
	typ := proto0.ProtoReflect().Type()
	return func(r micro.Request) {
		if !isRequest(r.Reply()) {
			// Not a client's request: a JetStream push consumer (which any reader of the
			// recording may create) delivering recorded messages here, or a bare publish.
			// Neither is answered; both are counted.
			if n := c.rejected.Add(1); n&(n-1) == 0 { // throttled: a consumer may deliver thousands
				log.Warn("acquisition: control: refused a message that is not a request", "subject", r.Subject(), "reply", r.Reply(), "rejected", n)
			}
			return
		}
		req := typ.New().Interface()
		if err := unmarshal.Unmarshal(r.Data(), req); err != nil {
			c.rejected.Add(1)
			_ = r.Error("400", fmt.Sprintf("acquisition: %s: malformed %s: %v", r.Subject(), typ.Descriptor().Name(), err), nil)
			return
		}
		rep, err := c.call(withRequester(ctx, r), f, req)
		if err != nil {
			code := "500"
			var ce *ControlError
			if errors.As(err, &ce) && ce.Code != "" {
				code = ce.Code
			}
			_ = r.Error(code, err.Error(), nil)
			return
		}
		data, err := proto.Marshal(rep)
		if err != nil {
			_ = r.Error("500", "acquisition: marshal reply: "+err.Error(), nil)
			return
		}
		if err := r.Respond(data); err != nil {
			log.Warn("acquisition: control reply", "subject", r.Subject(), "err", err)
		}
	}
}

// isRequest reports whether reply is a client's reply inbox: not empty, and not the ack
// subject of a JetStream delivery ($JS.ACK.<stream>....).
func isRequest(reply string) bool {
	return reply != "" && !strings.HasPrefix(reply, "$JS.")
}

// call runs f, turning a panic in the daemon's handler into an error reply.
func (c *Control) call(ctx context.Context, f func(context.Context, proto.Message) (proto.Message, error), req proto.Message) (rep proto.Message, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("acquisition: control handler panicked: %v", p)
		}
	}()
	rep, err = f(ctx, req)
	if err == nil && (rep == nil || !rep.ProtoReflect().IsValid()) {
		err = errors.New("acquisition: control handler returned no reply")
	}
	return rep, err
}

// Call sends one control request to the service at subj and decodes its reply into rep. It is
// the client side, for tools and tests; an error reply comes back as a *ControlError.
func Call(ctx context.Context, conn *nats.Conn, subj contract.Subjects, endpoint string, req, rep proto.Message) error {
	data, err := proto.Marshal(req)
	if err != nil {
		return fmt.Errorf("acquisition: control %s: %w", endpoint, err)
	}
	msg := nats.NewMsg(subj.Control + "." + endpoint)
	msg.Data = data
	if conn.Opts.Name != "" {
		msg.Header.Set(ClientHeader, conn.Opts.Name)
	}
	res, err := conn.RequestMsgWithContext(ctx, msg)
	if err != nil {
		return fmt.Errorf("acquisition: control %s: %w", msg.Subject, err)
	}
	if code := res.Header.Get(micro.ErrorCodeHeader); code != "" {
		return &ControlError{Code: code, Err: fmt.Errorf("acquisition: control %s: %s", msg.Subject, res.Header.Get(micro.ErrorHeader))}
	}
	if err := proto.Unmarshal(res.Data, rep); err != nil {
		return fmt.Errorf("acquisition: control %s: malformed reply: %w", msg.Subject, err)
	}
	return nil
}
