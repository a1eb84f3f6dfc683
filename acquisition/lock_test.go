package acquisition

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"retinad/configs"
	pb "retinad/proto/retinadpb"
)

// TestStoreLockedOnce starts a bus on a recording folder and checks that a second one on the
// same folder is refused at once with the folder, the holder's PID and the way out, that the
// first keeps recording, and that the folder is free again once the first stops.
func TestStoreLockedOnce(t *testing.T) {
	dir := t.TempDir()
	a, err := Start(configs.NATS{Embedded: true}, BusOptions{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	subj := mustSubjects(t, "lock")
	ctx := context.Background()
	if err := Record(ctx, a.Conn(), subj, RecordOptions{}); err != nil {
		t.Fatal(err)
	}
	publishProto(t, a, subj.Session, &pb.SessionEvent{Session: "s", Kind: pb.SessionEvent_START})

	t0 := time.Now()
	b, err := Start(configs.NATS{Embedded: true}, BusOptions{StoreDir: dir})
	took := time.Since(t0)
	if err == nil {
		b.Stop()
		t.Fatal("a second bus opened a locked recording folder")
	}
	var le *StoreLockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrStoreLocked) {
		t.Fatalf("error %v (%T), want a *StoreLockedError", err, err)
	}
	msg := err.Error()
	for _, want := range []string{dir, "process " + strconv.Itoa(os.Getpid()), "recording.dir"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if took > time.Second {
		t.Errorf("refused after %v, want at once", took)
	}

	if err := StoreFree(dir); !errors.Is(err, ErrStoreLocked) {
		t.Errorf("StoreFree on the held folder: %v, want ErrStoreLocked", err)
	}
	publishProto(t, a, subj.Session, &pb.SessionEvent{Session: "s", Kind: pb.SessionEvent_STOP})
	waitStored(t, a, subj, 2)
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := StoreFree(dir); err != nil {
		t.Errorf("StoreFree after Stop: %v", err)
	}
	if err := StoreFree(t.TempDir()); err != nil {
		t.Errorf("StoreFree on a folder never locked: %v", err)
	}
	c, err := Start(configs.NATS{Embedded: true}, BusOptions{StoreDir: dir})
	if err != nil {
		t.Fatalf("folder still locked after Stop: %v", err)
	}
	defer c.Stop()
	r, err := FindSession(ctx, c.Conn(), subj, "s")
	if err != nil {
		t.Fatal(err)
	}
	if r.Stop == nil || r.Last-r.First != 1 {
		t.Errorf("session after the refused second bus: %+v, want START and STOP", r)
	}
}

// TestListenBusy holds a port and checks that an embedded server asked to listen there is
// refused at once, naming the address and the way out, and leaves the folder unlocked.
func TestListenBusy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	dir := t.TempDir()
	t0 := time.Now()
	b, err := Start(configs.NATS{Embedded: true, Listen: addr}, BusOptions{StoreDir: dir})
	if err == nil {
		b.Stop()
		t.Fatalf("started on busy %s", addr)
	}
	if took := time.Since(t0); took > time.Second {
		t.Errorf("refused after %v, want at once", took)
	}
	for _, want := range []string{"nats.listen " + addr + " is busy", "another retinad or NATS server", "set nats.listen"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	c, err := Start(configs.NATS{Embedded: true}, BusOptions{StoreDir: dir})
	if err != nil {
		t.Fatalf("folder left locked by the refused start: %v", err)
	}
	c.Stop()
}

// TestRecordKeepsStream records a session, then calls Record again with other limits and with
// configs it must refuse, checking that the recorded messages survive every call.
func TestRecordKeepsStream(t *testing.T) {
	b := startBus(t, false, true)
	subj := mustSubjects(t, "keep")
	ctx := context.Background()
	if err := Record(ctx, b.Conn(), subj, RecordOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		publishProto(t, b, subj.Frame, &pb.FrameOnset{Session: "k", Frame: uint64(i)})
	}
	waitStored(t, b, subj, 20)
	js, err := jetstream.New(b.Conn())
	if err != nil {
		t.Fatal(err)
	}
	info := func() *jetstream.StreamInfo {
		s, err := js.Stream(ctx, StreamName("keep"))
		if err != nil {
			t.Fatal(err)
		}
		i, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	created := info().Created

	// Same config: nothing changes. Safe changes: updated in place.
	if err := Record(ctx, b.Conn(), subj, RecordOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := Record(ctx, b.Conn(), subj, RecordOptions{MaxBytes: 1 << 20, MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	i := info()
	if i.Config.MaxBytes != 1<<20 || i.Config.MaxAge != time.Hour || i.Config.Discard != jetstream.DiscardNew {
		t.Errorf("limits not updated: max_bytes %d max_age %v discard %v", i.Config.MaxBytes, i.Config.MaxAge, i.Config.Discard)
	}

	// Unsafe: a max_bytes below what is stored would delete it.
	err = Record(ctx, b.Conn(), subj, RecordOptions{MaxBytes: 10})
	if err == nil || !strings.Contains(err.Error(), "recording.max_bytes 10 is below") {
		t.Errorf("max_bytes below the recorded size: %v, want a refusal naming it", err)
	}
	// Unsafe: another storage or subjects it would stop recording.
	mem := i.Config
	mem.Storage = jetstream.MemoryStorage
	if _, err := streamUpdate(mem, streamConfig(subj, RecordOptions{}), 0); err == nil || !strings.Contains(err.Error(), "storage Memory, want File") {
		t.Errorf("other storage: %v, want a refusal naming it", err)
	}
	more := i.Config
	more.Subjects = append(more.Subjects, "lab.other")
	if _, err := streamUpdate(more, streamConfig(subj, RecordOptions{}), 0); err == nil || !strings.Contains(err.Error(), `subject "lab.other"`) {
		t.Errorf("extra subject: %v, want a refusal naming it", err)
	}

	i = info()
	if !i.Created.Equal(created) || i.State.Msgs != 20 {
		t.Errorf("stream created %v (was %v) with %d messages, want the same stream with 20", i.Created, created, i.State.Msgs)
	}
}
