package acquisition

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"retinad/proto/contract"
	pb "retinad/proto/retinadpb"
)

// whoDaemon is a fakeDaemon that remembers who asked for each load.
type whoDaemon struct {
	fakeDaemon
	mu  sync.Mutex
	who []string
}

func (d *whoDaemon) LoadModel(ctx context.Context, r *pb.LoadModelRequest) (*pb.LoadModelReply, error) {
	d.mu.Lock()
	d.who = append(d.who, Requester(ctx))
	d.mu.Unlock()
	return d.fakeDaemon.LoadModel(ctx, r)
}

// TestRequesterAcrossAccounts runs the control service in the daemon's account of a real NATS
// server and calls it from an operator's account through a service import, the set-up that
// makes the server write Nats-Request-Info (with `share`, the user and connection name too): the
// handler's Requester names the operator's user and account, and the client's declared name. A
// client of the daemon's own account that declares nothing is "unknown".
func TestRequesterAcrossAccounts(t *testing.T) {
	rig, lab := server.NewAccount("RIG"), server.NewAccount("LAB")
	s, err := server.NewServer(&server.Options{
		DontListen: true, NoLog: true, NoSigs: true,
		Accounts: []*server.Account{rig, lab},
		Users: []*server.User{
			{Username: "daemon", Password: "d", Account: rig},
			{Username: "alice", Password: "a", Account: lab},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	defer s.Shutdown()
	if !s.ReadyForConnections(5 * time.Second) {
		t.Fatal("server not ready")
	}
	rigAcc, _ := s.LookupAccount("RIG")
	labAcc, _ := s.LookupAccount("LAB")
	if err := rigAcc.AddServiceExport("retinad.sim.control.>", nil); err != nil {
		t.Fatal(err)
	}
	if err := labAcc.AddServiceImport(rigAcc, "retinad.sim.control.>", "retinad.sim.control.>"); err != nil {
		t.Fatal(err)
	}
	// share: the server then includes the user and connection name, not only the account.
	if err := labAcc.SetServiceImportSharing(rigAcc, "retinad.sim.control.>", true); err != nil {
		t.Fatal(err)
	}
	dnc, err := nats.Connect("", nats.InProcessServer(s), nats.UserInfo("daemon", "d"))
	if err != nil {
		t.Fatal(err)
	}
	defer dnc.Close()
	subj, _ := contract.SubjectsFor("sim")
	d := &whoDaemon{fakeDaemon: fakeDaemon{models: map[string]bool{}}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := Serve(ctx, dnc, subj, d, ControlOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()

	alice, err := nats.Connect("", nats.InProcessServer(s), nats.UserInfo("alice", "a"), nats.Name("alice-laptop"))
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	anon, err := nats.Connect("", nats.InProcessServer(s), nats.UserInfo("daemon", "d"))
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	for _, nc := range []*nats.Conn{alice, anon} {
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		if err := Call(cctx, nc, subj, EndpointLoad, &pb.LoadModelRequest{Name: "m", File: "f"}, &pb.LoadModelReply{}); err != nil {
			t.Fatal(err)
		}
		ccancel()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	want := []string{"user=alice account=LAB name=alice-laptop client=alice-laptop (declared)", "unknown"}
	if len(d.who) != 2 || d.who[0] != want[0] || d.who[1] != want[1] {
		t.Errorf("requesters %q, want %q", d.who, want)
	}
}
