package acquisition

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/proto"

	"retinad/acquisition/acquisitiontest"
	"retinad/configs"
	"retinad/internal/testwait"
	pb "retinad/proto/retinadpb"
)

// The security suite: each attack of issue 16 that goes through NATS, run by the role a
// stranger gets (no credentials: the observer) and by the wrong roles, against the embedded
// server configured from configs.NATS and against Debian's nats-server started with
// configs/nats-lab.conf. Each attack must be refused by the server (a permission violation,
// counted on the attacker's connection and, for the embedded server, in the daemon's log) and
// leave the session record as the daemon wrote it, exportable by an observer. The control
// attacks through real `retinad control` processes are in cmd/retinad/security_test.go.

// secTarget is a server under attack with the daemon (its bus) connected to it.
type secTarget struct {
	url    string
	rig    string
	daemon *Bus
	// login gives the options that log in as role; the observer's are none (a stranger).
	login map[Role][]nats.Option
	// violations counts the permission violations the daemon can see (Bus.Refused), or nil
	// when it cannot (an external server logs them itself).
	violations func() uint64
}

// embeddedTarget starts the embedded server with one user per role: the operator with a bcrypt
// hash, the worker with an nkey, the others with plain passwords.
func embeddedTarget(t *testing.T) *secTarget {
	hash, err := bcrypt.GenerateFromPassword([]byte("op-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	wkp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	wpub, _ := wkp.PublicKey()
	wseed, _ := wkp.Seed()
	seedFile := filepath.Join(t.TempDir(), "worker1.nk")
	if err := os.WriteFile(seedFile, wseed, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := configs.NATS{Embedded: true, Listen: "127.0.0.1:0", DefaultRole: "observer", Users: []configs.NATSUser{
		{Name: "acq", Role: "acquisition", Password: "acq-secret"},
		{Name: "op", Role: "operator", Password: string(hash)},
		{Name: "worker1", Role: "worker", NKey: wpub},
	}}
	b, err := Start(cfg, BusOptions{Rig: "r", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Stop() })
	seed, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	return &secTarget{url: b.ClientURL(), rig: "r", daemon: b, violations: b.Refused, login: map[Role][]nats.Option{
		RoleObserver:    nil,
		RoleAcquisition: {nats.UserInfo("acq", "acq-secret")},
		RoleOperator:    {nats.UserInfo("op", "op-secret")},
		RoleWorker:      {seed},
	}}
}

// externalTarget starts Debian's nats-server with the lab config and connects the daemon's bus
// to it as the lab config's daemon user.
func externalTarget(t *testing.T) *secTarget {
	url := acquisitiontest.StartLabServer(t, "../configs/nats-lab.conf")
	pw := acquisitiontest.LabPasswords
	b, err := Start(configs.NATS{URL: url, User: acquisitiontest.LabUsers["daemon"], Password: pw["RETINAD_DAEMON_PASSWORD"]}, BusOptions{Rig: "rig1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Stop() })
	testwait.Must(t, 10*time.Second, "the daemon connected to nats-server", b.Conn().IsConnected)
	return &secTarget{url: url, rig: "rig1", daemon: b, login: map[Role][]nats.Option{
		RoleObserver:    nil,
		RoleAcquisition: {nats.UserInfo(acquisitiontest.LabUsers["acquisition"], pw["RETINAD_ACQUISITION_PASSWORD"])},
		RoleOperator:    {nats.UserInfo(acquisitiontest.LabUsers["operator"], pw["RETINAD_OPERATOR_PASSWORD"])},
		RoleWorker:      {nats.UserInfo(acquisitiontest.LabUsers["worker"], pw["RETINAD_WORKER1_PASSWORD"])},
	}}
}

// attacker is a client connection of one role that counts the permission violations the
// server reports to it.
type attacker struct {
	role       Role
	nc         *nats.Conn
	violations atomic.Int64
}

func (tg *secTarget) connect(t *testing.T, role Role) *attacker {
	t.Helper()
	a := &attacker{role: role}
	opts := append([]nats.Option{nats.Name("attacker " + string(role)), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			a.violations.Add(1)
		}
	})}, tg.login[role]...)
	nc, err := nats.Connect(tg.url, opts...)
	if err != nil {
		t.Fatalf("connect as %s: %v", role, err)
	}
	t.Cleanup(nc.Close)
	a.nc = nc
	return a
}

// refused runs attack as a and asserts the server refused it: one more permission violation on
// a's connection (and in the daemon's log, when it can see the server's).
func (tg *secTarget) refused(t *testing.T, a *attacker, what string, attack func() error) {
	t.Helper()
	before, logged := a.violations.Load(), uint64(0)
	if tg.violations != nil {
		logged = tg.violations()
	}
	err := attack()
	if ferr := a.nc.Flush(); ferr != nil && err == nil {
		err = ferr
	}
	testwait.Must(t, 10*time.Second, fmt.Sprintf("permission violation for %s as %s", what, a.role), func() bool { return a.violations.Load() > before })
	if tg.violations != nil {
		testwait.Must(t, 10*time.Second, fmt.Sprintf("%s as %s in the daemon's log", what, a.role), func() bool { return tg.violations() > logged })
	}
	t.Logf("%s as %s: refused (%v)", what, a.role, err)
}

// recordedSession is the session the stand-in daemon records: what it published, by subject.
type recordedSession struct {
	subj Subjects
	ctl  *Control
	sent map[string]int
}

// startSession records a session as the daemon does: the stream made by the daemon's
// connection, the control service, a START event, frames and predictions; and the acquisition
// system's spikes (its right, which must keep working).
func (tg *secTarget) startSession(t *testing.T, acq *attacker) *recordedSession {
	subj := mustSubjects(t, tg.rig)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc := tg.daemon.Conn()
	if err := Record(ctx, nc, subj, RecordOptions{}); err != nil {
		t.Fatal(err)
	}
	ctl, err := Serve(context.Background(), nc, subj, &fakeDaemon{session: "s1", models: map[string]bool{}}, ControlOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Stop() })
	s := &recordedSession{subj: subj, ctl: ctl, sent: map[string]int{}}
	pub := func(nc *nats.Conn, subject string, m proto.Message) {
		data, _ := proto.Marshal(m)
		if err := nc.Publish(subject, data); err != nil {
			t.Fatal(err)
		}
		s.sent[subject]++
	}
	pub(nc, subj.Session, &pb.SessionEvent{Session: "s1", Kind: pb.SessionEvent_START})
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	tg.waitRecorded(t, s, 1) // the acquisition system's spikes come after the START
	for i := range 10 {
		pub(nc, subj.Frame, &pb.FrameOnset{Session: "s1", Index: uint64(i)})
		pub(nc, subj.Prediction("cnn"), &pb.Prediction{Session: "s1", Model: "cnn", Bin: uint64(i)})
	}
	for i := range 3 {
		pub(acq.nc, subj.Spikes, &pb.Spikes{Seq: uint64(i + 1)})
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := acq.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	tg.waitRecorded(t, s, 1+10+10+3)
	return s
}

// recorded is the stream's message count, read by the daemon.
func (tg *secTarget) recorded(t *testing.T, subj Subjects) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := streamInfo(ctx, tg.daemon.Conn(), subj)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func (tg *secTarget) waitRecorded(t *testing.T, s *recordedSession, n uint64) {
	t.Helper()
	testwait.Must(t, 10*time.Second, fmt.Sprintf("%d recorded messages", n), func() bool { return tg.recorded(t, s.subj) == n })
}

// controlState asks the service's status as the operator: the fake daemon's session.
func controlSession(t *testing.T, nc *nats.Conn, subj Subjects) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var st pb.StatusReply
	if err := Call(ctx, nc, subj, EndpointStatus, &pb.StatusRequest{}, &st); err != nil {
		t.Fatalf("status: %v", err)
	}
	return st.Status.Session
}

func TestSecurityEmbedded(t *testing.T) { runSecurity(t, embeddedTarget(t)) }
func TestSecurityNATSServer(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	runSecurity(t, externalTarget(t))
}

func runSecurity(t *testing.T, tg *secTarget) {
	stranger := tg.connect(t, RoleObserver)
	acq := tg.connect(t, RoleAcquisition)
	op := tg.connect(t, RoleOperator)
	worker := tg.connect(t, RoleWorker)
	s := tg.startSession(t, acq)
	subj := s.subj
	recorded := tg.recorded(t, subj)
	call := func(a *attacker, endpoint string, req, rep proto.Message) func() error {
		return func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			return Call(ctx, a.nc, subj, endpoint, req, rep)
		}
	}

	t.Run("control", func(t *testing.T) {
		for _, a := range []*attacker{stranger, acq, worker} {
			tg.refused(t, a, "control stop", call(a, EndpointStop, &pb.StopSessionRequest{}, &pb.StopSessionReply{}))
			tg.refused(t, a, "control start", call(a, EndpointStart, &pb.StartSessionRequest{Session: "evil"}, &pb.StartSessionReply{}))
			tg.refused(t, a, "control load", call(a, EndpointLoad, &pb.LoadModelRequest{Name: "pw", File: "/etc/passwd"}, &pb.LoadModelReply{}))
			tg.refused(t, a, "control unload", call(a, EndpointUnload, &pb.UnloadModelRequest{Name: "cnn"}, &pb.UnloadModelReply{}))
		}
		// A stranger may read the status; the operator may control (load and unload a model).
		if got := controlSession(t, stranger.nc, subj); got != "s1" {
			t.Errorf("session after the attacks: %q, want s1 still running", got)
		}
		if err := call(op, EndpointLoad, &pb.LoadModelRequest{Name: "m", File: "f"}, &pb.LoadModelReply{})(); err != nil {
			t.Errorf("operator load: %v", err)
		}
		if err := call(op, EndpointUnload, &pb.UnloadModelRequest{Name: "m"}, &pb.UnloadModelReply{})(); err != nil {
			t.Errorf("operator unload: %v", err)
		}
	})

	t.Run("stream", func(t *testing.T) {
		stream := StreamName(tg.rig)
		for _, a := range []*attacker{stranger, op, acq, worker} {
			for _, api := range []string{"PURGE", "DELETE", "UPDATE"} {
				tg.refused(t, a, "JetStream "+api+" of "+stream, func() error {
					_, err := a.nc.Request("$JS.API.STREAM."+api+"."+stream, []byte(`{}`), 300*time.Millisecond)
					return err
				})
			}
			tg.refused(t, a, "JetStream delete of one message", func() error {
				_, err := a.nc.Request("$JS.API.STREAM.MSG.DELETE."+stream, []byte(`{"seq":1}`), 300*time.Millisecond)
				return err
			})
		}
		if got := tg.recorded(t, subj); got != recorded {
			t.Errorf("recorded %d messages after the attacks, want %d", got, recorded)
		}
	})

	t.Run("forgery", func(t *testing.T) {
		forged := map[string]proto.Message{
			subj.Session:           &pb.SessionEvent{Session: "s1", Kind: pb.SessionEvent_STOP},
			subj.Frame:             &pb.FrameOnset{Session: "s1", Index: 99},
			subj.Prediction("cnn"): &pb.Prediction{Session: "s1", Model: "cnn", Bin: 99},
			subj.Status:            &pb.Status{Rig: tg.rig, Session: "s1"},
			subj.Validation:        &pb.ValidationReport{},
			subj.Event:             &pb.Event{Session: "s1", Label: "forged"},
			subj.Adaptive:          &pb.AdaptiveChoice{},
		}
		for _, a := range []*attacker{stranger, acq, op, worker} {
			for subject, m := range forged {
				data, _ := proto.Marshal(m)
				tg.refused(t, a, "publish on "+subject, func() error { return a.nc.Publish(subject, data) })
			}
		}
		for _, a := range []*attacker{stranger, op, worker} {
			tg.refused(t, a, "publish on "+subj.Spikes, func() error { return a.nc.Publish(subj.Spikes, []byte{}) })
			tg.refused(t, a, "publish on "+subj.Sync, func() error { return a.nc.Publish(subj.Sync, []byte{}) })
		}
		if got := tg.recorded(t, subj); got != recorded {
			t.Errorf("recorded %d messages after the forgeries, want %d", got, recorded)
		}
	})

	t.Run("worker", func(t *testing.T) {
		score := workerPrefix + ".score"
		// A stranger and the acquisition system cannot take scoring requests; a worker
		// cannot take another worker's direct subject.
		for _, a := range []*attacker{stranger, acq} {
			tg.refused(t, a, "subscribe "+score, func() error {
				_, err := a.nc.QueueSubscribe(score, workerQueue, func(*nats.Msg) {})
				return err
			})
		}
		tg.refused(t, stranger, "answer the worker service's discovery", func() error {
			_, err := stranger.nc.Subscribe("$SRV.INFO."+workerService, func(*nats.Msg) {})
			return err
		})
		tg.refused(t, worker, "subscribe another worker's subject", func() error {
			_, err := worker.nc.Subscribe(workerPrefix+".worker2.score", func(*nats.Msg) {})
			return err
		})
		tg.refused(t, stranger, "reply to a daemon's inbox", func() error {
			return stranger.nc.Publish("_INBOX.daemon.1", []byte("forged scores"))
		})
		tg.refused(t, worker, "publish beyond replies", func() error {
			return worker.nc.Publish(subj.Prediction("cnn"), []byte{})
		})
		// The real worker serves the daemon's requests, on the queue subject and its own,
		// and nobody else sees its answers (or learns where they go) on _INBOX.>.
		snoop, err := stranger.nc.SubscribeSync("_INBOX.>")
		if err != nil {
			t.Fatal(err)
		}
		tg.refused(t, stranger, "subscribe the daemon's inbox", func() error {
			_, err := stranger.nc.SubscribeSync(DaemonInbox(tg.rig) + ".>")
			return err
		})
		for _, subject := range []string{score, workerPrefix + ".worker1.score"} {
			sub, err := worker.nc.QueueSubscribe(subject, workerQueue, func(m *nats.Msg) { m.Respond([]byte("ok")) })
			if err != nil {
				t.Fatal(err)
			}
			if err := worker.nc.Flush(); err != nil {
				t.Fatal(err)
			}
			rep, err := tg.daemon.Conn().Request(subject, []byte("clip"), 5*time.Second)
			if err != nil || string(rep.Data) != "ok" {
				t.Errorf("the worker's answer on %s: %v %v", subject, rep, err)
			}
			sub.Unsubscribe()
		}
		if err := stranger.nc.Flush(); err != nil {
			t.Fatal(err)
		}
		if m, err := snoop.NextMsg(100 * time.Millisecond); err == nil {
			t.Errorf("a stranger read a reply to the daemon on %s: %q", m.Subject, m.Data)
		}
	})

	t.Run("replay into control", func(t *testing.T) {
		// A reader of the recording may create consumers; one that delivers the recording
		// to the control service's stop endpoint must not stop the session.
		stream := StreamName(tg.rig)
		req := fmt.Sprintf(`{"stream_name":%q,"config":{"name":"replay","deliver_subject":%q,"deliver_group":%q,"ack_policy":"none","deliver_policy":"all"}}`, stream, subj.Control+"."+EndpointStop, "retinad-"+tg.rig)
		rejected := s.ctl.Rejected()
		if _, err := stranger.nc.Request("$JS.API.CONSUMER.CREATE."+stream+".replay", []byte(req), 5*time.Second); err != nil {
			t.Fatalf("create the replay consumer: %v", err)
		}
		testwait.Must(t, 10*time.Second, "the control service refusing the replayed messages", func() bool { return s.ctl.Rejected() >= rejected+recorded })
		if got := controlSession(t, stranger.nc, subj); got != "s1" {
			t.Errorf("session after the replay: %q, want s1 still running", got)
		}
	})

	t.Run("export", func(t *testing.T) {
		// The record is intact, and a stranger (the observer) can read it for export.
		data, _ := proto.Marshal(&pb.SessionEvent{Session: "s1", Kind: pb.SessionEvent_STOP})
		if err := tg.daemon.Conn().Publish(subj.Session, data); err != nil {
			t.Fatal(err)
		}
		s.sent[subj.Session]++
		tg.waitRecorded(t, s, recorded+1)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r, err := FindSession(ctx, stranger.nc, subj, "s1")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		if err := ReadSession(ctx, stranger.nc, subj, r, func(subject string, _ uint64, _ []byte) error {
			got[subject]++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(s.sent) {
			t.Errorf("session s1 as exported by an observer: %v, want what was sent: %v", got, s.sent)
		}
	})
}
