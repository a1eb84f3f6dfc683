package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"retinad/acquisition"
	"retinad/proto/contract"
	pb "retinad/proto/retinadpb"
)

// Control relays the page's buttons to the daemon's NATS control service, logged in to the
// rig's NATS server with the credentials the browser sends (HTTP Basic): the NATS server's
// roles decide, exactly as for any NATS client. Without credentials the request is made as an
// anonymous client, which the server's default role decides (observers may not control).
type Control struct {
	natsURL string // the rig's NATS listener; "" refuses every control
	subj    contract.Subjects
	timeout time.Duration
}

// NewControl returns the relay to the control service of subj on the server at natsURL.
func NewControl(natsURL string, subj contract.Subjects) *Control {
	return &Control{natsURL: natsURL, subj: subj, timeout: 5 * time.Second}
}

// request is the control service's request for an endpoint the page offers, from the form.
func request(endpoint string, req *http.Request) (rq, rp proto.Message, ok bool) {
	switch endpoint {
	case acquisition.EndpointMark:
		return &pb.MarkEventRequest{Label: req.FormValue("label"), Note: req.FormValue("note")}, &pb.MarkEventReply{}, true
	case acquisition.EndpointStart:
		return &pb.StartSessionRequest{Note: req.FormValue("note"), Record: req.FormValue("record") == "true"}, &pb.StartSessionReply{}, true
	case acquisition.EndpointStop:
		return &pb.StopSessionRequest{}, &pb.StopSessionReply{}, true
	case acquisition.EndpointLoad:
		return &pb.LoadModelRequest{Name: req.FormValue("name"), File: req.FormValue("file")}, &pb.LoadModelReply{}, true
	case acquisition.EndpointUnload:
		return &pb.UnloadModelRequest{Name: req.FormValue("name")}, &pb.UnloadModelReply{}, true
	case acquisition.EndpointStimulus:
		return &pb.ChooseStimulusRequest{Strategy: req.FormValue("strategy")}, &pb.ChooseStimulusReply{}, true
	}
	return nil, nil, false
}

// ServeHTTP handles POST /control/{endpoint}: 200 with the reply as JSON, 403 when the NATS
// server refused the login or the request (the role may not), 409 and others with the control
// service's own error.
func (c *Control) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	// A page of another site must not drive the rig through a browser on this machine.
	if o := req.Header.Get("Origin"); o != "" && o != "http://"+req.Host {
		http.Error(w, fmt.Sprintf("dashboard: control from origin %s refused (only this page may control)", o), http.StatusForbidden)
		return
	}
	endpoint := req.PathValue("endpoint")
	rq, rp, ok := request(endpoint, req)
	if !ok {
		http.Error(w, fmt.Sprintf("dashboard: no control %q: want mark, start, stop, load, unload or stimulus", endpoint), http.StatusNotFound)
		return
	}
	if c.natsURL == "" {
		http.Error(w, "dashboard: controls need the NATS listener (nats.listen) to log in through", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(req.Context(), c.timeout)
	defer cancel()
	var refused atomic.Value // the server's permission violation, if any
	opts := []nats.Option{nats.Name("retinad dashboard"), nats.NoReconnect(), nats.Timeout(c.timeout),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) {
				refused.Store(err)
				cancel()
			}
		})}
	if user, pass, ok := req.BasicAuth(); ok {
		opts = append(opts, nats.UserInfo(user, pass))
	}
	nc, err := nats.Connect(c.natsURL, opts...)
	if err != nil {
		code := http.StatusBadGateway
		if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) {
			// Not 401: its WWW-Authenticate would make the browser prompt; the page has its own fields.
			code = http.StatusForbidden
		}
		http.Error(w, fmt.Sprintf("dashboard: log in to NATS %s: %v", c.natsURL, err), code)
		return
	}
	defer nc.Close()
	err = acquisition.Call(ctx, nc, c.subj, endpoint, rq, rp)
	if v := refused.Load(); v != nil {
		http.Error(w, fmt.Sprintf("dashboard: control %s refused by the NATS server: %v", endpoint, v), http.StatusForbidden)
		return
	}
	var ce *acquisition.ControlError
	switch {
	case errors.As(err, &ce):
		http.Error(w, err.Error(), httpCode(ce.Code))
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	b, err := protojson.Marshal(rp)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// httpCode is the control service's error code as an HTTP status (they are HTTP-like: 400,
// 404, 409, 500); anything else is a bad gateway.
func httpCode(code string) int {
	var n int
	if _, err := fmt.Sscanf(code, "%d", &n); err != nil || n < 400 || n > 599 {
		return http.StatusBadGateway
	}
	return n
}
