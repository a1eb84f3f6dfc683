package acquisition

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"retinad/acquisition/acquisitiontest"
	"retinad/configs"
	"retinad/infer/dataset"
	"retinad/internal/testwait"
	"retinad/proto/contract"
	pb "retinad/proto/retinadpb"
)

// archiveRigs makes the replicated archive of rigs A and B on the cluster hc is connected to,
// trying again while the cluster elects its JetStream leader and the rigs connect (a few
// seconds).
func archiveRigs(t *testing.T, hc *nats.Conn) {
	t.Helper()
	var err error
	if !testwait.Until(30*time.Second, func() bool {
		err = Archive(context.Background(), hc, []ArchiveRig{{"rigA", "rigA"}, {"rigB", "rigB"}}, ArchiveOptions{Replicas: 3})
		return err == nil
	}) {
		t.Fatalf("archive: %v", err)
	}
}

// startHub starts the three-node hub cluster of the replicated archive's tests, in JetStream
// domain "hub", whose leaf users are rigA and rigB.
func startHub(t *testing.T) []*server.Server {
	return acquisitiontest.StartHub(t, acquisitiontest.HubOptions{Nodes: 3, JetStream: true, MaxPayload: 8 << 20,
		Users: acquisitiontest.HubUsers(t, LeafPermissions, "rigA", "rigB")})
}

// cutter is a TCP relay whose connections can be cut: while cut, it closes what it accepts.
type cutter struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
}

func newCutter(t *testing.T, target string) *cutter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); c.setCut(true) })
	go c.serve()
	return c
}

func (c *cutter) serve() {
	for {
		in, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.mu.Lock()
		if c.cut {
			in.Close()
			c.mu.Unlock()
			continue
		}
		out, err := net.Dial("tcp", c.target)
		if err != nil {
			in.Close()
			c.mu.Unlock()
			continue
		}
		c.conns = append(c.conns, in, out)
		c.mu.Unlock()
		go func() { io.Copy(out, in); out.Close() }()
		go func() { io.Copy(in, out); in.Close() }()
	}
}

// setCut cuts (closing every relayed connection) or restores the link.
func (c *cutter) setCut(cut bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = cut
	if cut {
		for _, x := range c.conns {
			x.Close()
		}
		c.conns = nil
	}
}

// startRig starts rig's bus recording locally, a leaf node of the hub at leafURL.
func startRig(t *testing.T, rig, leafURL string) (*Bus, contract.Subjects) {
	t.Helper()
	subj, err := contract.SubjectsFor(rig)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Start(configs.NATS{Embedded: true, Leaf: configs.Leaf{URL: leafURL}}, BusOptions{Rig: rig, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Stop() })
	if err := Record(context.Background(), b.Conn(), subj, RecordOptions{}); err != nil {
		t.Fatal(err)
	}
	return b, subj
}

// subjectCounts is how many messages of each of subj's subjects stream holds on conn's server.
func subjectCounts(t *testing.T, conn *nats.Conn, stream string, subj contract.Subjects) map[string]uint64 {
	t.Helper()
	js, err := jetstream.New(conn)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subj.All))
	if err != nil {
		return nil
	}
	return info.State.Subjects
}

// liveFrames publishes frame onsets on b at 100 Hz until stop closes, as a daemon's frame loop
// would, and counts them in n and the longest a publish call took in longest. The call's time
// is what the hub could cost a frame loop (a publish that waited on a cut leaf link); the gap
// between two ticks is not: on a loaded machine it is the scheduler's (350 ms once at load 15).
func liveFrames(b *Bus, subj contract.Subjects, stop <-chan struct{}, n *atomic.Int64, longest *atomic.Int64) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for f := uint64(0); ; f++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		data, _ := proto.Marshal(&pb.FrameOnset{Session: "live", Frame: f, OnsetHostNs: time.Now().UnixNano()})
		t0 := time.Now()
		err := b.Conn().Publish(subj.Frame, data)
		if d := int64(time.Since(t0)); d > longest.Load() {
			longest.Store(d)
		}
		if err == nil {
			n.Add(1)
		}
	}
}

// TestLabHub is issue 22's lab: a three-node hub, two rigs as leaf nodes recording, one hub node
// killed, then rig B's leaf connection cut (30 s; 3 s with -short). Both rigs keep publishing at
// their frame rate and lose nothing locally; once B is back, the archive holds every message
// of both rigs (per subject, as their local streams), and a session exported from the hub is
// byte for byte the rig's export.
func TestLabHub(t *testing.T) {
	outage := 30 * time.Second
	if testing.Short() {
		outage = 3 * time.Second
	}
	ctx := context.Background()
	hub := startHub(t)
	var cut []*cutter
	rigA, subjA := startRig(t, "rigA", acquisitiontest.LeafURLs(hub, "rigA", nil))
	rigB, subjB := startRig(t, "rigB", acquisitiontest.LeafURLs(hub, "rigB", func(_ int, target string) string {
		c := newCutter(t, target)
		cut = append(cut, c)
		return c.ln.Addr().String()
	}))
	hc := acquisitiontest.Admin(t, hub[0])
	archiveRigs(t, hc)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var nA, nB, pubA, pubB atomic.Int64
	wg.Add(2)
	go func() { defer wg.Done(); liveFrames(rigA, subjA, stop, &nA, &pubA) }()
	go func() { defer wg.Done(); liveFrames(rigB, subjB, stop, &nB, &pubB) }()
	publishSession(t, rigA, subjA, "s1", true)
	publishSession(t, rigB, subjB, "s1", true)

	hub[2].Shutdown() // one hub node dies: the archive (3 replicas) keeps a quorum
	hub[2].WaitForShutdown()
	for _, c := range cut {
		c.setCut(true)
	}
	began := time.Now()
	if !testwait.Until(10*time.Second, func() bool { return !rigB.LeafConnected() }) {
		t.Fatal("rig B still has a leaf connection with its link cut")
	}
	publishSession(t, rigB, subjB, "s2", false) // recorded only locally for now
	time.Sleep(outage - time.Since(began))      // the outage is the test's subject: nothing to wait for
	for _, c := range cut {
		c.setCut(false)
	}
	close(stop)
	wg.Wait()
	elapsed := time.Since(began)

	for _, r := range []struct {
		name   string
		b      *Bus
		subj   contract.Subjects
		n, pub *atomic.Int64
	}{{"A", rigA, subjA, &nA, &pubA}, {"B", rigB, subjB, &nB, &pubB}} {
		if g := time.Duration(r.pub.Load()); g > 200*time.Millisecond {
			t.Errorf("rig %s: publishing a frame took %v: the rig's publishing waited on the hub", r.name, g)
		}
		// Nothing lost locally: the live frames are all in the rig's own stream.
		local := subjectCounts(t, r.b.Conn(), StreamName(r.subj.Rig), r.subj)
		if local[r.subj.Frame] < uint64(r.n.Load()) {
			t.Errorf("rig %s recorded %d frame messages, published %d live ones alone", r.name, local[r.subj.Frame], r.n.Load())
		}
	}
	t.Logf("rig B cut for %v; %d live frames on A, %d on B; longest publish %v on A, %v on B", elapsed.Round(time.Millisecond), nA.Load(), nB.Load(),
		time.Duration(pubA.Load()), time.Duration(pubB.Load()))

	// The archive catches up: per subject, as many messages as each rig's own stream. The hub
	// resumes sourcing from B after its retry backoff (5 s times twice the failures, at most
	// 2 min: nats-server's), then copies what B recorded meanwhile.
	var want, have map[string]uint64
	count := func(m map[string]uint64) (n uint64) {
		for _, v := range m {
			n += v
		}
		return n
	}
	back := time.Now()
	before := count(subjectCounts(t, hc, ArchiveStream, subjB))
	var resumed time.Time
	var resumedAt uint64
	if !testwait.Until(3*time.Minute, func() bool {
		want = subjectCounts(t, rigA.Conn(), StreamName("rigA"), subjA)
		maps.Copy(want, subjectCounts(t, rigB.Conn(), StreamName("rigB"), subjB))
		b := subjectCounts(t, hc, ArchiveStream, subjB)
		if n := count(b); resumed.IsZero() && n > before {
			resumed, resumedAt = time.Now(), n
		}
		have = subjectCounts(t, hc, ArchiveStream, subjA)
		maps.Copy(have, b)
		return maps.Equal(want, have)
	}) {
		t.Fatalf("archive per subject %v, want the rigs' %v", have, want)
	}
	done := time.Now()
	behind := count(subjectCounts(t, rigB.Conn(), StreamName("rigB"), subjB)) - before
	t.Logf("archive: rig B's %d messages behind; sourcing resumed %v after the link came back, complete %v later (the first poll saw %d; TestArchiveCatchUp measures the rate)",
		behind, resumed.Sub(back).Round(time.Millisecond), done.Sub(resumed).Round(time.Millisecond), resumedAt-before)

	// Storage: the archive against the rigs' own streams (each sourced message carries a
	// header naming its origin).
	var rigBytes uint64
	for _, r := range []struct {
		b    *Bus
		subj contract.Subjects
	}{{rigA, subjA}, {rigB, subjB}} {
		info, err := streamInfo(ctx, r.b.Conn(), r.subj)
		if err != nil {
			t.Fatal(err)
		}
		rigBytes += info.State.Bytes
	}
	arch, err := streamInfo(ctx, hc, InArchive(subjA))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("storage: the rigs' streams %d bytes, the archive %d bytes (%.2fx) for %d messages", rigBytes, arch.State.Bytes, float64(arch.State.Bytes)/float64(rigBytes), arch.State.Msgs)

	// Exports from the hub equal the rigs' own.
	for _, r := range []struct {
		b       *Bus
		subj    contract.Subjects
		session string
	}{{rigA, subjA, "s1"}, {rigB, subjB, "s1"}, {rigB, subjB, "s2"}} {
		local := exportBytes(t, r.b.Conn(), r.subj, r.session)
		arch := exportBytes(t, hc, InArchive(r.subj), r.session)
		if !bytes.Equal(local, arch) {
			t.Errorf("%s session %s: the export from the hub (%d bytes) differs from the rig's (%d bytes)", r.subj.Rig, r.session, len(arch), len(local))
		}
	}
}

// TestScanOnCluster reads a three-replica stream of a three-node hub 300 times from one node,
// as an export from the hub does. The consumer a read makes often lives on another node, whose
// pull subject reached the client's node a moment after the consumer's creation was answered:
// a read that pulled at once failed with "no responders" in about one read of a hundred
// (TestLabHub's failure). Every read must now get every message.
func TestScanOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	ctx := context.Background()
	hub := startHub(t)
	hc := acquisitiontest.Admin(t, hub[0])
	js, err := jetstream.New(hc)
	if err != nil {
		t.Fatal(err)
	}
	subj, _ := contract.SubjectsFor("rigA")
	var mkErr error
	if !testwait.Until(30*time.Second, func() bool { // the cluster elects its leader first
		_, mkErr = js.CreateStream(ctx, jetstream.StreamConfig{Name: ArchiveStream, Subjects: []string{subj.All}, Replicas: 3})
		return mkErr == nil
	}) {
		t.Fatalf("stream: %v", mkErr)
	}
	const msgs = 1000
	for i := range msgs {
		if _, err := js.Publish(ctx, subj.Frame, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	failed := 0
	for i := range 300 {
		n := 0
		err := scan(ctx, hc, InArchive(subj), []string{subj.All}, 1, msgs, func(jetstream.Msg, uint64) (bool, error) { n++; return true, nil })
		if err != nil || n != msgs {
			if failed++; failed <= 3 {
				t.Errorf("read %d: %d of %d messages: %v", i, n, msgs, err)
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of 300 reads failed", failed)
	}
}

// exportBytes exports session through conn and returns the .npz file's bytes.
func exportBytes(t *testing.T, conn *nats.Conn, subj contract.Subjects, session string) []byte {
	t.Helper()
	d, _, err := Export(context.Background(), conn, subj, session, ExportOptions{Frames: testMaker})
	if err != nil {
		t.Fatalf("%s (stream %q): %v", subj.Rig, subj.Stream, err)
	}
	path := filepath.Join(t.TempDir(), "d.npz")
	if err := dataset.Write(path, d); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLabHubRigsIsolated: through the hub, neither another rig nor a hub client can write a
// rig's recorded subjects or manage its JetStream, while the hub still sources its recording.
func TestLabHubRigsIsolated(t *testing.T) {
	ctx := context.Background()
	hub := startHub(t)
	rigA, subjA := startRig(t, "rigA", acquisitiontest.LeafURLs(hub, "rigA", nil))
	rigB, subjB := startRig(t, "rigB", acquisitiontest.LeafURLs(hub, "rigB", nil))
	hc := acquisitiontest.Admin(t, hub[1])
	archiveRigs(t, hc)
	if !testwait.Until(10*time.Second, func() bool { return rigA.LeafConnected() && rigB.LeafConnected() }) {
		t.Fatal("rigs not connected to the hub")
	}
	// Forgeries of rig A's subjects, from rig B's server and from a hub client.
	forged, _ := proto.Marshal(&pb.FrameOnset{Session: "forged", Frame: 1})
	for _, c := range []*nats.Conn{rigB.Conn(), hc} {
		for _, s := range subjA.Recorded() {
			if err := c.Publish(strings.Replace(s, "*", "m", 1), forged); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	// A genuine message of each rig, published after the forgeries, marks when they would
	// have arrived; the hub's archive receiving both shows the link works.
	publishProto(t, rigA, subjA.Status, &pb.Status{Rig: "rigA"})
	publishProto(t, rigB, subjB.Status, &pb.Status{Rig: "rigB"})
	if !testwait.Until(60*time.Second, func() bool {
		a, b := subjectCounts(t, hc, ArchiveStream, subjA), subjectCounts(t, hc, ArchiveStream, subjB)
		return a[subjA.Status] >= 1 && b[subjB.Status] == 1
	}) {
		t.Fatal("the archive did not receive the rigs' status messages")
	}
	if got := subjectCounts(t, rigA.Conn(), StreamName("rigA"), subjA); len(got) != 1 || got[subjA.Status] != 1 {
		t.Errorf("rig A's recording holds %v, want only its own status message: forgeries through the hub got in", got)
	}
	// The hub cannot delete, purge or update rig A's recording through its domain.
	jsA, err := jetstream.NewWithDomain(hc, "rigA")
	if err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := jsA.DeleteStream(dctx, StreamName("rigA")); err == nil {
		t.Error("the hub deleted rig A's recording stream")
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := jsA.Stream(rctx, StreamName("rigA")); err != nil {
		t.Errorf("rig A's stream through the hub (reading is allowed): %v", err)
	}
	if got := subjectCounts(t, rigA.Conn(), StreamName("rigA"), subjA); got[subjA.Status] != 1 {
		t.Errorf("rig A's recording after the hub's delete: %v", got)
	}
	// Nor can a rig delete the archive through the hub's domain.
	jsHub, err := jetstream.NewWithDomain(rigB.Conn(), "hub")
	if err != nil {
		t.Fatal(err)
	}
	hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := jsHub.DeleteStream(hctx, ArchiveStream); err == nil {
		t.Error("rig B deleted the hub's archive")
	}
}

// TestHubRefusesRogueRig: the hub's own permissions for each rig's leaf user (LeafPermissions)
// hold even when a rig's server drops its side's deny lists. Rig B's "server" here is a plain
// nats-server logged in with rig B's leaf credentials, with no deny lists, and claiming rig A's
// JetStream domain with a stream of rig A's name full of forgeries. Through the hub it can
// neither publish rig A's subjects (a hub subscriber and the archive see none), nor have the
// archive source its forged stream instead of rig A's, nor delete the archive through the
// hub's domain, while its own subjects still reach the hub. Without the hub's permissions all
// three get through.
func TestHubRefusesRogueRig(t *testing.T) {
	ctx := context.Background()
	hub := acquisitiontest.StartHub(t, acquisitiontest.HubOptions{JetStream: true, Users: acquisitiontest.HubUsers(t, LeafPermissions, "rigA", "rigB")})[0]
	hc := acquisitiontest.Admin(t, hub)
	seen, err := hc.SubscribeSync("retinad.>")
	if err != nil {
		t.Fatal(err)
	}
	hc.Flush()

	// The rogue: rig B's credentials, rig A's domain, no deny lists; it records first.
	subjA, _ := contract.SubjectsFor("rigA")
	subjB, _ := contract.SubjectsFor("rigB")
	leafB, _ := url.Parse(acquisitiontest.LeafURLs([]*server.Server{hub}, "rigB", nil))
	rogue, err := server.NewServer(&server.Options{ServerName: "rogue", Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true,
		JetStream: true, JetStreamDomain: "rigA", StoreDir: t.TempDir(),
		LeafNode: server.LeafNodeOpts{ReconnectInterval: time.Second, Remotes: []*server.RemoteLeafOpts{{URLs: []*url.URL{leafB}}}}})
	if err != nil {
		t.Fatal(err)
	}
	rogue.Start()
	t.Cleanup(func() { rogue.Shutdown(); rogue.WaitForShutdown() })
	if !rogue.ReadyForConnections(10 * time.Second) {
		t.Fatal("rogue not ready")
	}
	rc, err := nats.Connect(rogue.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if err := Record(ctx, rc, subjA, RecordOptions{}); err != nil {
		t.Fatal(err)
	}
	forged, _ := proto.Marshal(&pb.FrameOnset{Session: "forged", Frame: 1})
	if err := rc.Publish(subjA.Frame, forged); err != nil { // into the rogue's own "rigA" stream
		t.Fatal(err)
	}
	if !testwait.Until(10*time.Second, func() bool { return subjectCounts(t, rc, StreamName("rigA"), subjA)[subjA.Frame] == 1 }) {
		t.Fatal("the rogue did not record its forgery")
	}

	rigA, _ := startRig(t, "rigA", acquisitiontest.LeafURLs([]*server.Server{hub}, "rigA", nil))
	if !testwait.Until(10*time.Second, func() bool { return rigA.LeafConnected() && rogue.NumLeafNodes() == 1 }) {
		t.Fatal("rig A and the rogue not both connected to the hub")
	}
	if err := Archive(ctx, hc, []ArchiveRig{{"rigA", "rigA"}}, ArchiveOptions{}); err != nil {
		t.Fatal(err)
	}
	publishProto(t, rigA, subjA.Status, &pb.Status{Rig: "rigA"})
	if !testwait.Until(30*time.Second, func() bool { return subjectCounts(t, hc, ArchiveStream, subjA)[subjA.Status] == 1 }) {
		t.Fatalf("the archive does not source rig A: %v", subjectCounts(t, hc, ArchiveStream, subjA))
	}

	// Forgeries of every recorded subject of rig A, then rig B's own status, all on one
	// connection: once the status is at the hub, the forgeries would have been too.
	for _, s := range subjA.Recorded() {
		if err := rc.Publish(strings.Replace(s, "*", "m", 1), forged); err != nil {
			t.Fatal(err)
		}
	}
	if err := rc.Publish(subjB.Status, forged); err != nil {
		t.Fatal(err)
	}
	rc.Flush()
	for {
		m, err := seen.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("rig B's own status did not reach the hub: %v", err)
		}
		if m.Subject == subjB.Status {
			break
		}
		if string(m.Data) == string(forged) {
			t.Errorf("a hub client received rig B's forgery on %s", m.Subject)
		}
	}
	// The archive's rig A messages: rig A's status only, not the rogue's recorded forgery.
	if got := subjectCounts(t, hc, ArchiveStream, subjA); len(got) != 1 || got[subjA.Status] != 1 {
		t.Errorf("the archive holds %v of rig A, want only rig A's status: the rogue answered for rig A's domain", got)
	}
	// The archive is out of the rogue's reach.
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	jsHub, err := jetstream.NewWithDomain(rc, "hub")
	if err != nil {
		t.Fatal(err)
	}
	if err := jsHub.DeleteStream(dctx, ArchiveStream); err == nil {
		t.Error("the rogue deleted the hub's archive")
	}
	if _, err := streamInfo(ctx, hc, InArchive(subjA)); err != nil {
		t.Errorf("the archive after the rogue's delete: %v", err)
	}
}

// TestHubRefusesRawLeaf: a rig "server" that ignores the permissions the hub tells it (a
// modified binary, here the leaf protocol written by hand with rig B's credentials) still
// cannot publish rig A's subjects through the hub, which refuses the message and drops the
// connection, nor receive the hub's requests into rig A's JetStream domain.
func TestHubRefusesRawLeaf(t *testing.T) {
	hub := acquisitiontest.StartHub(t, acquisitiontest.HubOptions{Users: acquisitiontest.HubUsers(t, LeafPermissions, "rigA", "rigB")})[0]
	hc := acquisitiontest.Admin(t, hub)
	seen, err := hc.SubscribeSync("retinad.rigA.>")
	if err != nil {
		t.Fatal(err)
	}
	hc.Flush()

	v, _ := hub.Varz(nil)
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", v.LeafNode.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	line := func() string {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the hub: %v (so far %q)", err, l)
		}
		return strings.TrimSpace(l)
	}
	if l := line(); !strings.HasPrefix(l, "INFO ") {
		t.Fatalf("the hub's leaf listener said %q, want INFO", l)
	}
	// Interest in rig A's domain and rig B's control subjects, then a ping: the pong says the
	// hub has read them.
	fmt.Fprintf(conn, `CONNECT {"user":"rigB","pass":%q,"name":"rogue"}`+"\r\n"+
		"LS+ $JS.rigA.API.>\r\nLS+ retinad.rigB.control.>\r\nPING\r\n", acquisitiontest.LeafPassword("rigB"))
	for l := line(); l != "PONG"; l = line() {
		if strings.HasPrefix(l, "-ERR") {
			t.Fatalf("the hub refused rig B's login: %s", l)
		}
	}
	// A request into rig A's domain, then a control request for rig B: rig B receives the
	// second only.
	if err := hc.Publish("$JS.rigA.API.STREAM.INFO.RETINAD_rigA", nil); err != nil {
		t.Fatal(err)
	}
	if err := hc.Publish("retinad.rigB.control.status", nil); err != nil {
		t.Fatal(err)
	}
	for l := line(); !strings.HasPrefix(l, "LMSG retinad.rigB.control.status"); l = line() {
		if strings.Contains(l, "$JS.rigA.API") {
			t.Errorf("the hub sent rig B a request into rig A's domain: %s", l)
		}
	}
	// A forgery of rig A's frame: the hub refuses it and closes the connection.
	fmt.Fprint(conn, "LMSG retinad.rigA.frame 6\r\nforged\r\n")
	var refused bool
	for {
		l, err := r.ReadString('\n')
		if strings.Contains(l, "Permissions Violation for Publish") {
			refused = true
		}
		if err != nil {
			break // closed
		}
	}
	if !refused {
		t.Error("the hub did not refuse rig B's publish of rig A's frame")
	}
	if err := hc.Flush(); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := seen.Pending(); n > 0 {
		t.Errorf("a hub client received %d of rig A's messages from rig B's leaf connection", n)
	}
}

// TestArchiveAddsDeliverPrefix: an archive made before the rigs' deliver prefixes (its source
// delivering on $JS.S.>, which the hub's leaf permissions do not let a rig publish) gets its
// rig's prefix from Archive, and then sources the rig through a hub with those permissions.
func TestArchiveAddsDeliverPrefix(t *testing.T) {
	ctx := context.Background()
	hub := acquisitiontest.StartHub(t, acquisitiontest.HubOptions{JetStream: true, Users: acquisitiontest.HubUsers(t, LeafPermissions, "rigA")})[0]
	hc := acquisitiontest.Admin(t, hub)
	js, err := jetstream.New(hc)
	if err != nil {
		t.Fatal(err)
	}
	old := jetstream.StreamConfig{Name: ArchiveStream, Storage: jetstream.FileStorage, Sources: []*jetstream.StreamSource{
		{Name: StreamName("rigA"), External: &jetstream.ExternalStream{APIPrefix: "$JS.rigA.API"}}}}
	if _, err := js.CreateStream(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := Archive(ctx, hc, []ArchiveRig{{"rigA", "rigA"}}, ArchiveOptions{}); err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, ArchiveStream)
	if err != nil {
		t.Fatal(err)
	}
	src := s.CachedInfo().Config.Sources
	if len(src) != 1 || src[0].External == nil || src[0].External.DeliverPrefix != ArchiveDeliverPrefix("rigA") {
		t.Fatalf("the archive's sources after Archive: %+v, want rigA's with deliver prefix %s", src, ArchiveDeliverPrefix("rigA"))
	}
	rig, subj := startRig(t, "rigA", acquisitiontest.LeafURLs([]*server.Server{hub}, "rigA", nil))
	publishProto(t, rig, subj.Status, &pb.Status{Rig: "rigA"})
	if !testwait.Until(30*time.Second, func() bool { return subjectCounts(t, hc, ArchiveStream, subj)[subj.Status] == 1 }) {
		t.Fatalf("the archive has %v of rig A", subjectCounts(t, hc, ArchiveStream, subj))
	}
}

// hubConf reads configs/nats-hub.conf with its passwords set.
func hubConf(t *testing.T) *server.Options {
	t.Helper()
	pw := map[string]string{"RETINAD_LEAF_RIG1_PASSWORD": "rig1-secret", "RETINAD_LEAF_RIG2_PASSWORD": "rig2-secret",
		"RETINAD_WORKER1_PASSWORD": "worker1-secret", "RETINAD_HUB_ADMIN_PASSWORD": "admin-secret"}
	for k, v := range pw {
		t.Setenv(k, v)
	}
	o, err := server.ProcessConfigFile("../configs/nats-hub.conf")
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestHubConfMatchesLeafPermissions: the hub config's leaf users carry LeafPermissions of their
// rig, its worker the worker role (Permissions), and the admin none.
func TestHubConfMatchesLeafPermissions(t *testing.T) {
	o := hubConf(t)
	if len(o.LeafNode.Users) != 0 || o.LeafNode.Username != "" {
		t.Errorf("nats-hub.conf: leafnodes has users of its own, which carry no permissions")
	}
	rigs := map[string]bool{"rig1": true, "rig2": true}
	for _, u := range o.Users {
		if u.Username == "admin" {
			if u.Permissions != nil {
				t.Errorf("admin: permissions %s, want none", permString(u.Permissions))
			}
			continue
		}
		if u.Username == "worker1" {
			want, err := Permissions(RoleWorker, "rig1", "worker1")
			if err != nil {
				t.Fatal(err)
			}
			if u.Permissions != nil && want.Response != nil && u.Permissions.Response != nil {
				want.Response.Expires = u.Permissions.Response.Expires // the parser's default
			}
			if u.Permissions == nil || permString(u.Permissions) != permString(want) {
				t.Errorf("worker1: the hub config's permissions\n%v\nwant\n%s", u.Permissions, permString(want))
			}
			continue
		}
		if !rigs[u.Username] {
			t.Errorf("user %q: neither a rig of the hub config nor admin", u.Username)
			continue
		}
		delete(rigs, u.Username)
		want, err := LeafPermissions(u.Username, u.Username)
		if err != nil {
			t.Fatal(err)
		}
		if u.Permissions == nil {
			t.Errorf("rig %s: no permissions", u.Username)
		} else if got, want := permString(u.Permissions), permString(want); got != want {
			t.Errorf("rig %s: the hub config's permissions\n%s\nwant\n%s", u.Username, got, want)
		}
	}
	if len(rigs) != 0 {
		t.Errorf("nats-hub.conf lacks the leaf users %v", slices.Sorted(maps.Keys(rigs)))
	}
}

// TestHubConf starts a hub from configs/nats-hub.conf as shipped (but on free loopback ports,
// a temporary store and without its cluster): rig1 joins it with its leaf user's password, and
// the archive made in the config's domain sources rig1's recording.
func TestHubConf(t *testing.T) {
	o := hubConf(t)
	if o.JetStreamDomain != "hub" || len(o.Routes) != 3 || len(o.Users) != 4 {
		t.Fatalf("nats-hub.conf: domain %q, %d routes, %d users; want hub, 3, 4", o.JetStreamDomain, len(o.Routes), len(o.Users))
	}
	o.Host, o.Port, o.LeafNode.Host, o.LeafNode.Port = "127.0.0.1", server.RANDOM_PORT, "127.0.0.1", server.RANDOM_PORT
	o.Cluster, o.Routes, o.StoreDir, o.NoSigs = server.ClusterOpts{}, nil, t.TempDir(), true
	hub, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	hub.Start()
	t.Cleanup(func() { hub.Shutdown(); hub.WaitForShutdown() })
	if !hub.ReadyForConnections(10 * time.Second) {
		t.Fatal("hub not ready")
	}
	v, _ := hub.Varz(nil)
	rig, subj := startRig(t, "rig1", fmt.Sprintf("nats-leaf://rig1:rig1-secret@127.0.0.1:%d", v.LeafNode.Port))
	hc := acquisitiontest.Admin(t, hub)
	if err := Archive(context.Background(), hc, []ArchiveRig{{"rig1", "rig1"}}, ArchiveOptions{}); err != nil {
		t.Fatal(err)
	}
	publishProto(t, rig, subj.Status, &pb.Status{Rig: "rig1"})
	if !testwait.Until(30*time.Second, func() bool { return subjectCounts(t, hc, ArchiveStream, subj)[subj.Status] == 1 }) {
		t.Fatalf("the archive has %v of rig1 (leaf connected: %v)", subjectCounts(t, hc, ArchiveStream, subj), rig.LeafConnected())
	}
}

// BenchmarkLeafPublish is the latency of a message published on a rig's embedded server until
// a subscriber receives it: on the rig itself, and on a hub the rig is a leaf node of, logged
// in with the hub's permissions for it (the added latency of the leaf connection; loopback
// here, so the network's own is not in it). The hub's subscription names the subject: one with
// a wildcard gets no recorded subject of the rig (README "A lab with several rigs").
func BenchmarkLeafPublish(b *testing.B) {
	hub := acquisitiontest.StartHub(b, acquisitiontest.HubOptions{Users: acquisitiontest.HubUsers(b, LeafPermissions, "rigA")})[0]
	rig, err := Start(configs.NATS{Embedded: true, Leaf: configs.Leaf{URL: acquisitiontest.LeafURLs([]*server.Server{hub}, "rigA", nil)}}, BusOptions{Rig: "rigA"})
	if err != nil {
		b.Fatal(err)
	}
	defer rig.Stop()
	hc, err := nats.Connect(hub.ClientURL(), acquisitiontest.HubAdmin)
	if err != nil {
		b.Fatal(err)
	}
	defer hc.Close()
	data := make([]byte, 100) // about a FrameOnset
	for _, at := range []struct {
		name string
		conn *nats.Conn
	}{{"rig", rig.Conn()}, {"hub", hc}} {
		b.Run(at.name, func(b *testing.B) {
			got := make(chan struct{}, 1)
			sub, err := at.conn.Subscribe("retinad.rigA.frame", func(*nats.Msg) { got <- struct{}{} })
			if err != nil {
				b.Fatal(err)
			}
			defer sub.Unsubscribe()
			at.conn.Flush()
			if !testwait.Until(10*time.Second, func() bool { // the subscription reached the rig
				rig.Conn().Publish("retinad.rigA.frame", data)
				select {
				case <-got:
					return true
				default:
					return false
				}
			}) {
				b.Fatal("no message through")
			}
			for len(got) > 0 {
				<-got
			}
			b.ResetTimer()
			for range b.N {
				rig.Conn().Publish("retinad.rigA.frame", data)
				<-got
			}
		})
	}
}

// TestArchiveCatchUp records 100,000 messages (of about a frame onset's size) on a rig whose
// leaf link to the hub is cut, restores the link and checks that the archive catches up with
// all of them; it logs how long the hub waited before resuming (nats-server's retry backoff)
// and the rate of the catch-up itself.
func TestArchiveCatchUp(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	const n = 100000
	ctx := context.Background()
	hub := acquisitiontest.StartHub(t, acquisitiontest.HubOptions{JetStream: true})[0]
	var c *cutter
	rig, subj := startRig(t, "rigA", acquisitiontest.LeafURLs([]*server.Server{hub}, "", func(_ int, target string) string {
		c = newCutter(t, target)
		return c.ln.Addr().String()
	}))
	hc, err := nats.Connect(hub.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	if err := Archive(ctx, hc, []ArchiveRig{{"rigA", "rigA"}}, ArchiveOptions{}); err != nil {
		t.Fatal(err)
	}
	publishProto(t, rig, subj.Status, &pb.Status{Rig: "rigA"})
	archived := func() uint64 { return subjectCounts(t, hc, ArchiveStream, subj)[subj.Frame] }
	if !testwait.Until(30*time.Second, func() bool { return subjectCounts(t, hc, ArchiveStream, subj)[subj.Status] == 1 }) {
		t.Fatal("the archive is not sourcing the rig")
	}
	c.setCut(true)
	if !testwait.Until(10*time.Second, func() bool { return !rig.LeafConnected() }) {
		t.Fatal("the rig still has a leaf connection with its link cut")
	}
	data := make([]byte, 100)
	for range n {
		if err := rig.Conn().Publish(subj.Frame, data); err != nil {
			t.Fatal(err)
		}
	}
	waitStored(t, rig, subj, n+1)
	c.setCut(false)
	back := time.Now()
	var resumed time.Time
	if !testwait.Until(3*time.Minute, func() bool {
		got := archived()
		if got > 0 && resumed.IsZero() {
			resumed = time.Now()
		}
		return got == n
	}) {
		t.Fatalf("the archive holds %d of the %d frames after 3 min", archived(), n)
	}
	done := time.Since(resumed)
	t.Logf("archive catch-up: resumed %v after the link came back; %d messages in %v: %.0f messages/s",
		resumed.Sub(back).Round(time.Millisecond), n, done.Round(time.Millisecond), n/done.Seconds())
}
