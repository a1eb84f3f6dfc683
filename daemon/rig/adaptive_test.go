package rig_test

import (
	"context"
	"retinad/daemon/daemontest"
	"retinad/internal/testenv"
	"retinad/stimulus"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"retinad/acquisition"
	"retinad/configs"
	"retinad/daemon/rig"
	"retinad/proto/contract"
	pb "retinad/proto/retinadpb"
)

// TestSimulatedRigAdaptive runs the whole simulated rig (GL presenter, fake photodiode over a
// pty, virtual retina, embedded NATS) with adaptive.strategy discriminate for a few seconds:
// choices are published on retinad.sim.adaptive, scored with the config's models, the
// recorded spikes of the clips come back (the tally grows), and a ChooseStimulus request over
// the control service switches to isoresponse; every choice is in the session's recording.
func TestSimulatedRigAdaptive(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	photos := testenv.Path(t, "the natural-scene photographs (python3-skimage, scripts/setup)", stimulus.DefaultPhotoDir)
	cfg := configs.Default()
	cfg.NATS.Listen = "127.0.0.1:0"
	cfg.NATS.Users = []configs.NATSUser{{Name: "op", Role: "operator", Password: "op-password"}} // control needs the operator role
	cfg.Recording.Enabled = true
	cfg.Recording.Dir = t.TempDir()
	cfg.Photodiode.Calibration = ""
	models, _ := modelFiles(t)
	cfg.Models = models
	cfg.Stimulus.Natural.Dir = photos
	cfg.Adaptive.Strategy = "discriminate"
	cfg.Adaptive.Clip = configs.Duration(500 * time.Millisecond)
	cfg.Adaptive.Candidates = 4
	cfg.Adaptive.Budget = configs.Duration(400 * time.Millisecond)
	cfg.Adaptive.IsoResponse.Rest = configs.Duration(300 * time.Millisecond)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var r *rig.Rig
	var err error
	onMain(func() { r, err = rig.Open(&cfg, rig.Options{Session: "adaptive"}) })
	if err != nil {
		t.Fatal(err)
	}
	defer onMain(func() { r.Close() })
	sub, err := nats.Connect(r.NATSURL(), nats.UserInfo("op", "op-password"))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var mu sync.Mutex
	var choices []*pb.AdaptiveChoice
	sessionStop := make(chan struct{})
	if _, err := sub.Subscribe("retinad.sim.>", func(m *nats.Msg) {
		switch m.Subject {
		case "retinad.sim.session":
			sessionStopped(t, m, sessionStop)
			return
		case "retinad.sim.adaptive":
		default:
			return
		}
		var c pb.AdaptiveChoice
		if err := proto.Unmarshal(m.Data, &c); err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		choices = append(choices, &c)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var chooseErr error
	var reply pb.ChooseStimulusReply
	// counted is how many choices so far satisfy ok.
	counted := func(ok func(c *pb.AdaptiveChoice) bool) (n, all int) {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range choices {
			if ok(c) {
				n++
			}
		}
		return n, len(choices)
	}
	go func() {
		defer cancel()
		if !daemontest.WaitFor(t, time.Minute, "6 choices, one of discriminate reporting a tally over clips whose spikes came back", func() bool {
			n, all := counted(func(c *pb.AdaptiveChoice) bool {
				return c.Strategy == "discriminate" && c.Report != "" && !strings.HasPrefix(c.Report, "0 clips")
			})
			return n > 0 && all >= 6
		}) {
			return
		}
		subj, _ := contract.SubjectsFor("sim")
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		defer ccancel()
		chooseErr = acquisition.Call(cctx, sub, subj, acquisition.EndpointStimulus, &pb.ChooseStimulusRequest{Strategy: "isoresponse"}, &reply)
		daemontest.WaitFor(t, time.Minute, "8 choices, 2 of them isoresponse", func() bool {
			n, all := counted(func(c *pb.AdaptiveChoice) bool { return c.Strategy == "isoresponse" })
			return n >= 2 && all >= 8
		})
	}()
	var runErr error
	onMain(func() { runErr = r.Run(ctx) })
	if runErr != nil {
		t.Fatal(runErr)
	}
	if chooseErr != nil || reply.Strategy != "isoresponse" {
		t.Errorf("ChooseStimulus isoresponse: %v (%v)", &reply, chooseErr)
	}
	waitSessionStop(t, sessionStop)
	// Every choice is recorded with the session.
	subj, _ := contract.SubjectsFor("sim")
	rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer rcancel()
	var recorded int
	sr, err := acquisition.FindSession(rctx, sub, subj, "adaptive")
	if err == nil {
		err = acquisition.ReadSession(rctx, sub, subj, sr, func(subject string, _ uint64, data []byte) error {
			if subject == subj.Adaptive {
				recorded++
			}
			return nil
		})
	}
	if err != nil {
		t.Fatalf("recording: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if recorded != len(choices) {
		t.Errorf("%d choices recorded, %d published", recorded, len(choices))
	}
	var scored, fallbacks, iso int
	tallied := false
	for i, c := range choices {
		if c.Seq != uint64(i) || c.Session != "adaptive" {
			t.Errorf("choice %d: seq %d session %q", i, c.Seq, c.Session)
		}
		switch {
		case c.Strategy == "isoresponse":
			iso++
		case c.Fallback:
			fallbacks++
		default:
			scored++
		}
		if c.Strategy == "discriminate" && c.Report != "" && !strings.HasPrefix(c.Report, "0 clips") {
			tallied = true
		}
		t.Logf("choice %d at frame %d: %s fallback=%v: %s", c.Seq, c.FromFrame, c.Strategy, c.Fallback, c.Why)
	}
	t.Logf("%d choices: %d scored, %d fallbacks, %d isoresponse", len(choices), scored, fallbacks, iso)
	if len(choices) < 8 || iso == 0 {
		t.Errorf("%d choices, %d after the switch to isoresponse", len(choices), iso)
	}
	if !tallied {
		t.Error("no discriminate choice reports a tally over clips whose spikes came back")
	}
}
