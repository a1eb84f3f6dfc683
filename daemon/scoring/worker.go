package scoring

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"retinad/stimulus/adaptive"
)

// The service's names on NATS.
const (
	ServiceName   = "retinad-worker"  // `nats micro ls`
	QueueGroup    = "retinad-workers" // of <prefix>.score
	DefaultPrefix = "retinad.workers"
)

// Error codes of a worker's error replies.
const (
	CodeBadRequest  = "400" // undecodable request, or clips the worker cannot make
	CodeMismatch    = "409" // a requested model missing, or its file hash differs
	CodeTooLarge    = "413" // the reply would not fit the server's max payload
	CodeUnavailable = "503" // the worker is stopping
)

// WorkerOptions set up a Worker.
type WorkerOptions struct {
	Prefix string // subjects <Prefix>.score and <Prefix>.<identity>.score; default DefaultPrefix
	// Identity is the token of the direct subject <Prefix>.<Identity>.score, by which a Pool
	// knows (and may exclude) this worker. Default: the connection's NATS user when it has one
	// (on a server that authenticates workers, a permission binds the user to that subject, so
	// the identity cannot be chosen), otherwise the service id (self-declared, new each run).
	Identity string
	Name     string // who answers, in replies and errors; default host/pid
	Version  string // micro's semantic version; default 0.0.0
	// Grace is how long Run lets a request in progress finish once its context ends before
	// cancelling it (the requester then scores those clips itself); default 5 s.
	Grace time.Duration
	Log   *slog.Logger
}

// Worker answers score requests on NATS with a Local predictor.
type Worker struct {
	conn   *nats.Conn
	local  *Local
	o      WorkerOptions
	byName map[string]Model

	mu      sync.Mutex
	subsets map[string]*Local // Locals for the model subsets requested, by their names

	inflight sync.WaitGroup
	stopping atomic.Bool
	work     context.Context
	cancel   context.CancelFunc

	served, refused atomic.Uint64
	received        func() // test hook: a request arrived
}

// NewWorker makes a worker that scores with local's models and goroutines on conn.
func NewWorker(conn *nats.Conn, local *Local, o WorkerOptions) *Worker {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Name == "" {
		host, _ := os.Hostname()
		o.Name = host + "/" + strconv.Itoa(os.Getpid())
	}
	if o.Version == "" {
		o.Version = "0.0.0"
	}
	if o.Grace == 0 {
		o.Grace = 5 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	w := &Worker{conn: conn, local: local, o: o, byName: map[string]Model{}, subsets: map[string]*Local{}}
	for _, m := range local.models {
		w.byName[m.Name] = m
	}
	w.subsets[strings.Join(local.names, "\x00")] = local
	return w
}

// Served and Refused count the requests answered with rates and with an error.
func (w *Worker) Served() uint64  { return w.served.Load() }
func (w *Worker) Refused() uint64 { return w.refused.Load() }

// ModelsMeta is the worker service's "models" metadata: "name=sha256hex,...", sorted. A Pool
// sends clips only to a worker whose list holds each of its own models.
func ModelsMeta(models []Model) string {
	parts := make([]string, len(models))
	for i, m := range models {
		parts[i] = m.Name + "=" + hex.EncodeToString(m.SHA256[:])
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// ConnUser is the NATS user conn authenticates as (user/password given as options or in the
// server URL), or "" when it has none (no auth, a token, or a credentials file).
func ConnUser(conn *nats.Conn) string {
	if conn.Opts.User != "" {
		return conn.Opts.User
	}
	for _, s := range append([]string{conn.ConnectedUrl()}, conn.Servers()...) {
		if u, err := url.Parse(s); err == nil && u.User != nil && u.User.Username() != "" {
			if _, hasPass := u.User.Password(); hasPass {
				return u.User.Username()
			}
		}
	}
	return ""
}

// Run serves until ctx ends, then stops taking requests, lets the one in progress finish (for
// Grace at most) and returns nil. It returns an error when the service cannot be added.
func (w *Worker) Run(ctx context.Context) error {
	w.work, w.cancel = context.WithCancel(context.Background())
	defer w.cancel()
	svc, err := micro.AddService(w.conn, micro.Config{
		Name:        ServiceName,
		Version:     w.o.Version,
		Description: "retinad candidate scoring: " + strings.Join(w.local.names, ", "),
		Metadata: map[string]string{
			"models": ModelsMeta(w.local.models),
			"cores":  strconv.Itoa(w.local.Workers()),
			"worker": w.o.Name,
		},
	})
	if err != nil {
		return fmt.Errorf("scoring: worker service: %w", err)
	}
	id := w.o.Identity
	if id == "" {
		id = ConnUser(w.conn)
	}
	if id == "" {
		id = svc.Info().ID
	}
	if id == "" || strings.ContainsAny(id, ".*> \t") {
		_ = svc.Stop()
		return fmt.Errorf("scoring: worker identity %q: want one subject token (no '.', '*', '>' or spaces)", id)
	}
	direct := w.o.Prefix + "." + id + ".score"
	err = svc.AddEndpoint("score", micro.HandlerFunc(w.handle),
		micro.WithEndpointSubject(w.o.Prefix+".score"), micro.WithEndpointQueueGroup(QueueGroup))
	if err == nil {
		err = svc.AddEndpoint("direct", micro.HandlerFunc(w.handle),
			micro.WithEndpointSubject(direct), micro.WithEndpointQueueGroupDisabled())
	}
	if err != nil {
		_ = svc.Stop()
		return fmt.Errorf("scoring: worker endpoint: %w", err)
	}
	w.o.Log.Info("scoring: worker ready", "subject", w.o.Prefix+".score", "direct", direct, "models", ModelsMeta(w.local.models), "cores", w.local.Workers())
	<-ctx.Done()
	w.stopping.Store(true)
	err = svc.Stop()
	done := make(chan struct{})
	go func() { w.inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(w.o.Grace):
		w.cancel()
		<-done
	}
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return fmt.Errorf("scoring: worker stop: %w", err)
	}
	return nil
}

func (w *Worker) handle(r micro.Request) {
	w.inflight.Add(1)
	defer w.inflight.Done()
	if w.received != nil {
		w.received()
	}
	fail := func(code, msg string) {
		w.refused.Add(1)
		w.o.Log.Warn("scoring: request refused", "subject", r.Subject(), "code", code, "err", msg)
		_ = r.Error(code, msg, nil)
	}
	if w.stopping.Load() {
		fail(CodeUnavailable, "scoring: worker "+w.o.Name+" is stopping")
		return
	}
	req, err := DecodeRequest(r.Data())
	if err != nil {
		fail(CodeBadRequest, fmt.Sprintf("%v (worker %s)", err, w.o.Name))
		return
	}
	local, err := w.subset(req.Models)
	if err != nil {
		fail(CodeMismatch, err.Error())
		return
	}
	size := 64 * len(req.Clips)
	for _, c := range req.Clips {
		for _, m := range local.models {
			size += 16 + len(m.Name) + 4*c.Frames*len(m.Model.Cells)
		}
	}
	if max := w.conn.MaxPayload(); int64(size) > max {
		fail(CodeTooLarge, fmt.Sprintf("scoring: worker %s: the reply to %d clips would be about %d bytes, over the server's max payload of %d: send fewer clips per request", w.o.Name, len(req.Clips), size, max))
		return
	}
	start := time.Now()
	preds, err := local.Predict(w.work, req.Clips)
	if err != nil {
		code := CodeBadRequest
		if w.work.Err() != nil {
			code = CodeUnavailable
		}
		fail(code, fmt.Sprintf("%v (worker %s)", err, w.o.Name))
		return
	}
	data, err := EncodeReply(preds, w.o.Name, time.Since(start).Nanoseconds())
	if err != nil {
		fail(CodeBadRequest, fmt.Sprintf("scoring: worker %s: encode reply: %v", w.o.Name, err))
		return
	}
	w.served.Add(1)
	if err := r.Respond(data); err != nil {
		w.o.Log.Warn("scoring: reply", "subject", r.Subject(), "err", err)
	}
}

// subset returns the Local for the requested models, in their order, after checking that the
// worker holds each with the same file hash.
func (w *Worker) subset(ids []ModelID) (*Local, error) {
	names := make([]string, len(ids))
	models := make([]Model, len(ids))
	for i, id := range ids {
		m, ok := w.byName[id.Name]
		if !ok {
			return nil, fmt.Errorf("scoring: worker %s has no model %q (it holds %s); start it with --model %s=FILE", w.o.Name, id.Name, strings.Join(w.local.names, ", "), id.Name)
		}
		if m.SHA256 != id.SHA256 {
			return nil, fmt.Errorf("scoring: worker %s: model %q is %s with sha256 %s, the requester's has sha256 %s: start the worker with the same file",
				w.o.Name, id.Name, m.File, m.Short(), hex.EncodeToString(id.SHA256[:6]))
		}
		names[i], models[i] = id.Name, m
	}
	key := strings.Join(names, "\x00")
	w.mu.Lock()
	defer w.mu.Unlock()
	if l, ok := w.subsets[key]; ok {
		return l, nil
	}
	if len(w.subsets) >= 16 {
		clear(w.subsets)
	}
	l, err := NewLocal(models, w.local.Workers())
	if err != nil {
		return nil, fmt.Errorf("scoring: worker %s: %w", w.o.Name, err)
	}
	w.subsets[key] = l
	return l, nil
}

// RemoteError is a worker's error reply.
type RemoteError struct {
	Subject string
	Code    string // CodeBadRequest, CodeMismatch, ...
	Message string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("scoring: %s answered %s: %s", e.Subject, e.Code, e.Message)
}

// ErrMismatch matches (errors.Is) a worker's refusal for a model it does not hold with the same
// file.
var ErrMismatch = errors.New("scoring: model mismatch")

func (e *RemoteError) Is(target error) bool { return target == ErrMismatch && e.Code == CodeMismatch }

// Call sends one ScoreRequest to subject and returns the rates, checked against the clips
// and models asked for. A worker's error reply is a *RemoteError; a reply that cannot be
// decoded or does not match the request is an error naming the subject.
func Call(ctx context.Context, conn *nats.Conn, subject string, models []Model, clips []adaptive.Clip) ([][]adaptive.Rates, error) {
	data, err := EncodeRequest(models, clips)
	if err != nil {
		return nil, err
	}
	msg, err := conn.RequestWithContext(ctx, subject, data)
	if err != nil {
		return nil, fmt.Errorf("scoring: request %s: %w", subject, err)
	}
	if code := msg.Header.Get(micro.ErrorCodeHeader); code != "" {
		return nil, &RemoteError{Subject: subject, Code: code, Message: msg.Header.Get(micro.ErrorHeader)}
	}
	preds, _, err := DecodeReply(msg.Data, models, clips)
	if err != nil {
		return nil, fmt.Errorf("scoring: reply on %s: %w", subject, err)
	}
	return preds, nil
}
