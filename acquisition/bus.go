package acquisition

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"retinad/configs"
	"retinad/proto/contract"
)

// drainTimeout bounds Stop's drain: subscriptions that do not finish their pending messages
// by then are closed.
const drainTimeout = 5 * time.Second

// Bus is the daemon's connection to NATS: to the embedded server it started, or to an external
// server. Start it once; Stop it once the components using its connection have returned.
type Bus struct {
	conn *nats.Conn
	srv  *server.Server // nil when external
	lock *storeLock     // the recording folder's lock, nil without one
	dir  string         // the recording folder (absolute), "" without one
	log  *slog.Logger

	refused atomic.Uint64 // see Refused

	stopOnce sync.Once
	stopErr  error
}

// BusOptions are the parts of starting a bus that are not in configs.NATS.
type BusOptions struct {
	Name string // client connection name, shown by the server's monitoring
	// Rig is the rig id, whose subjects the embedded server's permissions are written for
	// (acquisition.Permissions). Needed when cfg turns authorization on. When set, the
	// daemon's replies come to DaemonInbox(Rig), on an external server too.
	Rig string
	// StoreDir enables JetStream on the embedded server, stored there (configs.Recording.Dir).
	// "" runs the embedded server without JetStream. Ignored for an external server. The folder
	// is locked (LockFile) for the Bus's life: Start refuses one another process holds, with a
	// *StoreLockedError.
	StoreDir string
	// SyncInterval is how often the embedded JetStream store is fsynced (default 1s): a host
	// crash loses at most this much of the recording. A killed process (kill -9) loses only
	// what had not reached the store yet, since every write is in the OS page cache at once.
	SyncInterval time.Duration
	// ReconnectBuf bounds what an external connection buffers while reconnecting (default 8 MiB).
	ReconnectBuf int
	Log          *slog.Logger // nil: discard
}

// Start starts the embedded server and connects to it in-process (cfg.Embedded), or connects
// to the external server(s) at cfg.URL with cfg's credentials and TLS. The embedded server
// listens on cfg.Listen for outside tools when it is set, and only on a loopback address unless
// cfg.AllowRemote. An external connection retries its first connect and reconnects forever,
// buffering what is published meanwhile.
func Start(cfg configs.NATS, o BusOptions) (*Bus, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Name == "" {
		o.Name = "retinad"
	}
	if o.ReconnectBuf == 0 {
		o.ReconnectBuf = 8 << 20
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = time.Second
	}
	b := &Bus{log: log}
	if !cfg.Embedded {
		nc, err := connectExternal(cfg, o)
		if err != nil {
			return nil, err
		}
		b.conn = nc
		return b, nil
	}
	opts, err := serverOptions(cfg, o)
	if err != nil {
		return nil, err
	}
	if opts.StoreDir != "" {
		// Own the folder before anything (JetStream) reads or writes it.
		if b.lock, err = lockStore(opts.StoreDir); err != nil {
			return nil, err
		}
		b.dir = opts.StoreDir
	}
	if err := b.start(cfg, o, opts); err != nil {
		if b.lock != nil {
			b.lock.unlock()
		}
		return nil, err
	}
	if cfg.Listen != "" {
		log.Info("embedded NATS server", "listen", b.srv.ClientURL(), "jetstream", o.StoreDir != "")
	}
	return b, nil
}

// start checks the listen port is free, sets up the users and permissions, starts the embedded
// server and connects to it as the daemon.
func (b *Bus) start(cfg configs.NATS, o BusOptions, opts *server.Options) error {
	if !opts.DontListen {
		if err := checkPortFree(cfg.Listen, opts.Host, opts.Port); err != nil {
			return err
		}
	}
	self := []nats.Option{nats.Name(o.Name), nats.MaxReconnects(-1), nats.DrainTimeout(drainTimeout), nats.ErrorHandler(b.asyncError)}
	if o.Rig != "" {
		self = append(self, nats.CustomInboxPrefix(DaemonInbox(o.Rig)))
	}
	if authenticates(cfg) {
		kp, err := serverAuth(opts, cfg, o.Rig)
		if err != nil {
			return err
		}
		pub, _ := kp.PublicKey() // serverAuth has read it once already
		self = append(self, nats.Nkey(pub, kp.Sign))
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("acquisition: embedded NATS server: %w", err)
	}
	srv.SetLoggerV2(slogAdapter{b.log.With("component", "nats-server"), &b.refused}, false, false, false)
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fmt.Errorf("acquisition: embedded NATS server not ready after 10s (listen %q)", cfg.Listen)
	}
	nc, err := nats.Connect("", append(self, nats.InProcessServer(srv))...)
	if err != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fmt.Errorf("acquisition: in-process connection to the embedded NATS server: %w", err)
	}
	b.srv, b.conn = srv, nc
	return nil
}

// checkPortFree refuses a busy nats.listen at once, before the server would retry it for 10 s.
// (Another process may still take the port between this check and the server's bind; the
// server then fails as before.)
func checkPortFree(listen, host string, port int) error {
	if port == server.RANDOM_PORT {
		return nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("acquisition: nats.listen %s is busy: another retinad or NATS server probably holds it; stop it, or set nats.listen to a free address (e.g. 127.0.0.1:%d, or port 0 for any free port): %w",
			listen, port+1, err)
	}
	return ln.Close()
}

func serverOptions(cfg configs.NATS, o BusOptions) (*server.Options, error) {
	opts := &server.Options{
		ServerName: "retinad",
		NoSigs:     true,
		MaxPayload: 8 << 20, // frames of non-reproducible sources carry their pixels
	}
	if o.Rig != "" { // unique on a lab hub, whose servers see every rig's as a leaf node
		opts.ServerName = "retinad-" + o.Rig
	}
	if cfg.Listen == "" {
		opts.DontListen = true
	} else {
		host, port, err := splitListen(cfg.Listen, cfg.AllowRemote)
		if err != nil {
			return nil, err
		}
		opts.Host, opts.Port = host, port
		if cfg.AllowRemote && (len(cfg.Users) == 0 || cfg.ServerTLS.Cert == "") {
			return nil, fmt.Errorf("acquisition: nats.allow_remote: the embedded server would listen on %q with no authentication or in the clear: add nats.users and nats.server_tls (cert, key)", cfg.Listen)
		}
		if err := serverTLS(opts, cfg.ServerTLS); err != nil {
			return nil, err
		}
	}
	if o.StoreDir != "" {
		dir, err := filepath.Abs(o.StoreDir)
		if err != nil {
			return nil, fmt.Errorf("acquisition: recording dir %q: %w", o.StoreDir, err)
		}
		opts.JetStream = true
		opts.StoreDir = dir
		opts.SyncInterval = o.SyncInterval
		// A burst (a reconnect's buffer, a replay) must not overflow the recording's ingest
		// queue, whose default (100,000 messages) drops the excess: hold 1 h at 120 Hz and more.
		opts.StreamMaxBufferedMsgs = 1 << 21
		opts.StreamMaxBufferedSize = 1 << 30
	}
	if err := leafOptions(opts, cfg.Leaf, o.Rig); err != nil {
		return nil, err
	}
	return opts, nil
}

// leafOptions connects the embedded server to the lab hub as a leaf node (l.URL set). Its
// JetStream gets a domain of its own (l.Domain, default the rig id), so that the hub reaches
// this rig's recording at $JS.<domain>.API while the rig's own clients keep using its local
// JetStream: the recording never depends on the hub being reachable. The server retries the
// hub forever on its own.
func leafOptions(opts *server.Options, l configs.Leaf, rig string) error {
	if l.URL == "" {
		return nil
	}
	var urls []*url.URL
	for _, s := range strings.Split(l.URL, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || u.Host == "" {
			return fmt.Errorf("acquisition: nats.leaf.url %q: want nats-leaf://host:port (comma-separated for a hub cluster)", s)
		}
		urls = append(urls, u)
	}
	subj, err := contract.SubjectsFor(rig)
	if err != nil {
		return fmt.Errorf("acquisition: nats.leaf: a rig joins the hub under its id: %w", err)
	}
	remote := &server.RemoteLeafOpts{URLs: urls, Credentials: l.Credentials, DenyImports: leafDenyImports(subj, LeafDomain(l, rig)),
		// The rig's clients do not reach the hub's JetStream (its archive) through the rig.
		DenyExports: []string{"$JS.API.>", "$JS.*.API.>"}}
	opts.LeafNode.Remotes = []*server.RemoteLeafOpts{remote}
	opts.LeafNode.ReconnectInterval = time.Second
	if opts.JetStream {
		opts.JetStreamDomain = LeafDomain(l, rig)
	}
	return nil
}

// leafDenyImports is what the hub may not send into the rig, whatever its own permissions: the
// rig's recorded subjects (only the rig's daemon and acquisition system write its record, so
// another rig or a hub client cannot forge it) and the management of the rig's JetStream (the
// hub reads the recording to source it; deleting, purging or changing it stays the rig's).
// The control service stays reachable: the hub's permissions decide who may use it.
func leafDenyImports(subj contract.Subjects, domain string) []string {
	deny := subj.Recorded()
	api := "$JS." + domain + ".API."
	for _, op := range []string{"STREAM.CREATE.>", "STREAM.UPDATE.>", "STREAM.DELETE.>", "STREAM.PURGE.>",
		"STREAM.MSG.DELETE.>", "STREAM.SNAPSHOT.>", "STREAM.RESTORE.>", "STREAM.PEER.>", "STREAM.LEADER.>",
		"ACCOUNT.PURGE.>", "META.>", "SERVER.>"} {
		deny = append(deny, api+op)
	}
	return deny
}

// LeafDomain is the JetStream domain of a rig's embedded server on the lab hub: l.Domain, or
// the rig id.
func LeafDomain(l configs.Leaf, rig string) string {
	if l.Domain != "" {
		return l.Domain
	}
	return rig
}

// LeafConnected reports whether the embedded server has a live leaf connection to the hub.
func (b *Bus) LeafConnected() bool { return b.srv != nil && b.srv.NumLeafNodes() > 0 }

// splitListen checks nats.listen: host:port, the host a loopback address (or any when
// allowRemote). Port 0 picks a free port.
func splitListen(listen string, allowRemote bool) (string, int, error) {
	host, ps, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, fmt.Errorf("acquisition: nats.listen %q: want host:port, e.g. 127.0.0.1:4222: %w", listen, err)
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("acquisition: nats.listen %q: port %q is not 0..65535", listen, ps)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if !allowRemote && !isLoopback(host) {
		return "", 0, fmt.Errorf("acquisition: nats.listen %q: %q is not a loopback address; set nats.allow_remote to listen on other interfaces", listen, host)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func connectExternal(cfg configs.NATS, o BusOptions) (*nats.Conn, error) {
	if cfg.URL == "" {
		return nil, errors.New("acquisition: nats.url is empty and nats.embedded is false; want the external server's URL, e.g. nats://host:4222")
	}
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectBufSize(o.ReconnectBuf),
		nats.RetryOnFailedConnect(true),
		nats.DrainTimeout(drainTimeout),
	}
	if o.Rig != "" {
		opts = append(opts, nats.CustomInboxPrefix(DaemonInbox(o.Rig)))
	}
	auth, err := AuthFor(cfg).Options()
	if err != nil {
		return nil, err
	}
	opts = append(opts, auth...)
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("acquisition: connect to nats.url %q: %w", cfg.URL, err)
	}
	return nc, nil
}

func (b *Bus) asyncError(_ *nats.Conn, sub *nats.Subscription, err error) {
	if sub != nil {
		b.log.Warn("NATS subscription error", "subject", sub.Subject, "err", err)
		return
	}
	b.log.Warn("NATS error", "err", err)
}

// Conn is the daemon's connection. It is safe for concurrent use.
func (b *Bus) Conn() *nats.Conn { return b.conn }

// Refused counts the publishes, subscriptions and logins of clients that the embedded server
// refused (permissions violations and failed logins), as its log reports them; the first 64 are
// logged one by one, then one in 1024. Always 0 for an external server, which logs its own.
func (b *Bus) Refused() uint64 { return b.refused.Load() }

// ClientURL is the embedded server's listener (nats://127.0.0.1:4222), or "" when it has none
// or the bus is external.
func (b *Bus) ClientURL() string {
	if b.srv == nil || b.srv.Addr() == nil {
		return ""
	}
	return b.srv.ClientURL()
}

// Stop drains the connection (everything published so far reaches the server, subscriptions
// finish their pending messages), then shuts the embedded server down, waits for it and releases
// the recording folder's lock. It may be called more than once and from any goroutine; every
// call returns after the first has finished.
func (b *Bus) Stop() error {
	b.stopOnce.Do(func() {
		var errs []error
		if b.conn != nil && !b.conn.IsClosed() {
			done := make(chan struct{})
			b.conn.SetClosedHandler(func(*nats.Conn) { close(done) })
			if err := b.conn.Drain(); err != nil {
				b.conn.Close()
				if !errors.Is(err, nats.ErrConnectionClosed) {
					errs = append(errs, fmt.Errorf("acquisition: drain: %w", err))
				}
			} else {
				select {
				case <-done:
				case <-time.After(drainTimeout + time.Second):
					b.conn.Close()
					errs = append(errs, fmt.Errorf("acquisition: drain: not done after %v, closed", drainTimeout))
				}
			}
		}
		if b.srv != nil {
			b.srv.Shutdown()
			b.srv.WaitForShutdown()
		}
		if b.lock != nil { // only once the server has let go of the folder
			if err := b.lock.unlock(); err != nil {
				errs = append(errs, err)
			}
		}
		b.stopErr = errors.Join(errs...)
	})
	return b.stopErr
}

// slogAdapter routes the server's log to slog, counting the clients it refused.
type slogAdapter struct {
	l       *slog.Logger
	refused *atomic.Uint64
}

// refusedLogged is how many refusals are logged one by one (with the user and the subject);
// beyond it one in refusedEvery is, with the count, so that a client hammering a forbidden
// subject cannot flood the daemon's log.
const (
	refusedLogged = 64
	refusedEvery  = 1024
)

func (a slogAdapter) Noticef(f string, v ...any) { a.l.Debug(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Warnf(f string, v ...any)   { a.l.Warn(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Fatalf(f string, v ...any)  { a.l.Error(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Errorf(f string, v ...any) {
	msg := fmt.Sprintf(f, v...)
	// "Publish Violation", "Subscription Violation", "Authorization Violation": a client was
	// refused by the permissions (acquisition.Permissions) or at login.
	if strings.Contains(msg, "Violation") {
		if n := a.refused.Add(1); n <= refusedLogged || n%refusedEvery == 0 {
			a.l.Warn("NATS server refused a client: "+msg, "refused", n)
		}
		return
	}
	a.l.Error(msg)
}
func (a slogAdapter) Debugf(f string, v ...any) { a.l.Debug(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Tracef(f string, v ...any) { a.l.Debug(fmt.Sprintf(f, v...)) }
