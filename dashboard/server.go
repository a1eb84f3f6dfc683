package dashboard

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server is the daemon's HTTP listener: the page at /, its event stream at /events, its
// controls at /control/{endpoint}, and /metrics for Prometheus.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	live *Live
}

// Options are the parts a Server serves; a nil part is not served.
type Options struct {
	Metrics *Metrics
	Live    *Live
	Control *Control
	Log     *slog.Logger // nil: discard
}

//go:embed assets
var assets embed.FS

// Listen binds addr (host:port; port 0 picks a free one) and serves o on it once Run is
// called. Binding here, not in Run, lets the caller print the real address at start.
func Listen(addr string, o Options) (*Server, error) {
	mux := http.NewServeMux()
	if o.Metrics != nil {
		reg := prometheus.NewRegistry()
		if err := reg.Register(o.Metrics); err != nil {
			return nil, fmt.Errorf("dashboard: register metrics: %w", err)
		}
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{o.Log}}))
	}
	if o.Live != nil {
		page, err := fs.Sub(assets, "assets")
		if err != nil {
			panic("dashboard: embedded assets: " + err.Error())
		}
		mux.Handle("GET /", http.FileServerFS(page))
		mux.Handle("GET /events", o.Live)
	}
	if o.Control != nil {
		mux.Handle("POST /control/{endpoint}", o.Control)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dashboard: dashboard.listen %s: %w (set dashboard.listen to a free address, or \"\" for no dashboard)", addr, err)
	}
	return &Server{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, live: o.Live}, nil
}

// Addr is the address the server listens on (the real port when the config asked for 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Run serves until ctx ends, then closes the listener and waits a second for requests in
// flight; it returns nil on cancellation.
func (s *Server) Run(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- s.srv.Serve(s.ln) }()
	lctx, lcancel := context.WithCancel(ctx)
	liveDone := make(chan struct{})
	go func() {
		defer close(liveDone)
		if s.live != nil {
			s.live.Run(lctx)
		}
	}()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
	}
	lcancel()
	<-liveDone // the event streams have ended: Shutdown need not wait for them
	if err != nil {
		return fmt.Errorf("dashboard: serve %s: %w", s.Addr(), err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		s.srv.Close()
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("dashboard: serve %s: %w", s.Addr(), err)
	}
	return nil
}

// Close releases the listener of a server that never ran.
func (s *Server) Close() error { return s.ln.Close() }

// slogPrinter adapts a slog.Logger to promhttp's error log.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) {
	if p.log != nil {
		p.log.Warn("dashboard: metrics", "err", fmt.Sprint(v...))
	}
}
