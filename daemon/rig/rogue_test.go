package rig_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"google.golang.org/protobuf/proto"

	"retinad/configs"
	"retinad/daemon"
	"retinad/daemon/rig"
	"retinad/daemon/scoring"
	pb "retinad/proto/retinadpb"
)

// TestSimulatedRigExcludesRogueWorker runs the whole simulated rig with adaptive.strategy
// discriminate next to a rogue scoring worker that holds the rig's model files but answers
// every rate x3 + 50 spikes/s: the rig excludes it, publishes a worker-excluded Event naming
// it on retinad.sim.event, lists it in Status.workers_excluded, and sends it nothing more.
func TestSimulatedRigExcludesRogueWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	cfg := configs.Default()
	cfg.NATS.Listen = "127.0.0.1:0"
	cfg.Recording.Enabled = false
	cfg.Photodiode.Calibration = ""
	cfg.Models, _ = modelFiles(t)
	cfg.Stimulus.Kind = "whitenoise"
	cfg.Adaptive.Strategy = "discriminate"
	cfg.Adaptive.Clip = configs.Duration(500 * time.Millisecond)
	cfg.Adaptive.Candidates = 4
	cfg.Adaptive.Budget = configs.Duration(400 * time.Millisecond)
	// The rogue has a worker's login: roles bound it to its own subject, not to honesty.
	cfg.NATS.Users = append(cfg.NATS.Users, configs.NATSUser{Name: "rogue", Role: "worker", Password: "rogue-secret"})
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var r *rig.Rig
	var err error
	onMain(func() { r, err = rig.Open(&cfg, rig.Options{Session: "rogue"}) })
	if err != nil {
		t.Fatal(err)
	}
	defer onMain(func() { r.Close() })

	// The rogue: the rig's own model files (so discovery offers it clips), forged rates.
	models, err := scoring.LoadConfigModels(cfg.Models)
	if err != nil {
		t.Fatal(err)
	}
	local, err := scoring.NewLocal(models, 1)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := nats.Connect(r.NATSURL(), nats.UserInfo("rogue", "rogue-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	svc, err := micro.AddService(rc, micro.Config{Name: scoring.ServiceName, Version: "0.0.0",
		Metadata: map[string]string{"models": scoring.ModelsMeta(models), "cores": "1", "worker": "rogue"}})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	var asked atomic.Int32
	subject := scoring.DefaultPrefix + ".rogue.score" // its identity: the user name
	if err := svc.AddEndpoint("direct", micro.HandlerFunc(func(req micro.Request) {
		asked.Add(1)
		sr, err := scoring.DecodeRequest(req.Data())
		if err != nil {
			_ = req.Error(scoring.CodeBadRequest, err.Error(), nil)
			return
		}
		preds, err := local.Predict(context.Background(), sr.Clips)
		if err != nil {
			_ = req.Error(scoring.CodeBadRequest, err.Error(), nil)
			return
		}
		for _, c := range preds {
			for _, m := range c {
				for j := range m.Rates {
					m.Rates[j] = m.Rates[j]*3 + 50
				}
			}
		}
		data, _ := scoring.EncodeReply(preds, "rogue", 1)
		_ = req.Respond(data)
	}), micro.WithEndpointSubject(subject)); err != nil {
		t.Fatal(err)
	}

	sub, err := nats.Connect(r.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var mu sync.Mutex
	var events []*pb.Event
	var shown []string // Status.workers_excluded, once it is not empty
	askedAtExclusion := int32(-1)
	after := 0 // choices published once the exclusion was shown
	// The run ends three choices after the exclusion was published and shown: the batches of
	// those choices must not reach the rogue.
	done := func() {
		if len(events) > 0 && len(shown) > 0 && after >= 3 {
			cancel()
		}
	}
	if _, err := sub.Subscribe("retinad.sim.adaptive", func(*nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		if len(events) > 0 && len(shown) > 0 {
			after++
		}
		done()
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Subscribe("retinad.sim.event", func(m *nats.Msg) {
		var ev pb.Event
		if err := proto.Unmarshal(m.Data, &ev); err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		events = append(events, &ev)
		askedAtExclusion = asked.Load()
		done()
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Subscribe("retinad.sim.status", func(m *nats.Msg) {
		var st pb.Status
		if err := proto.Unmarshal(m.Data, &st); err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if len(st.WorkersExcluded) > 0 && shown == nil {
			shown = st.WorkersExcluded
			done()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	var runErr error
	onMain(func() { runErr = r.Run(ctx) })
	if runErr != nil {
		t.Fatal(runErr)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 1 || events[0].Label != daemon.EventWorkerExcluded || events[0].Session != "rogue" ||
		!strings.Contains(events[0].Note, subject) || !strings.Contains(events[0].Note, "disagree with this machine's") {
		t.Fatalf("events %v: want one %q naming %s and the disagreement", events, daemon.EventWorkerExcluded, subject)
	}
	if len(shown) != 1 || shown[0] != "rogue" {
		t.Fatalf("Status.workers_excluded %v, want [%s]", shown, "rogue")
	}
	if after < 3 {
		t.Fatalf("%d choices after the exclusion in 20 s, want 3", after)
	}
	if n := asked.Load(); askedAtExclusion < 1 || n != askedAtExclusion {
		t.Fatalf("the rogue was asked %d times by its exclusion and %d in all (%d choices later): want at least once, then never", askedAtExclusion, n, after)
	}
	t.Logf("excluded after %d request(s): %s", askedAtExclusion, events[0].Note)
}
