package daemon_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"retinad/internal/testenv"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"retinad/acquisition"
	"retinad/configs"
	"retinad/daemon"
	"retinad/daemon/daemontest"
)

// readmeDecoder compiles proto/retinad.proto with protoc, the way proto/README.md tells a client
// to, and returns a decoder for the named message that uses nothing of retinad's Go code.
func readmeDecoder(t *testing.T, message string) func([]byte) protoreflect.Message {
	t.Helper()
	protoc := testenv.Program(t, "protoc (protobuf-compiler, scripts/setup), with which the late joiner compiles retinad.proto", "protoc")
	out := filepath.Join(t.TempDir(), "retinad.desc")
	if b, err := exec.Command(protoc, "--proto_path=../proto", "--descriptor_set_out="+out, "retinad.proto").CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v: %s", err, b)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		t.Fatal(err)
	}
	d, err := files.FindDescriptorByName(protoreflect.FullName(message))
	if err != nil {
		t.Fatal(err)
	}
	md := d.(protoreflect.MessageDescriptor)
	return func(b []byte) protoreflect.Message {
		m := dynamicpb.NewMessage(md)
		if err := proto.Unmarshal(b, m); err != nil {
			t.Errorf("decode %s: %v", message, err)
		}
		return m
	}
}

// TestLateJoinerFindsCellIDs is a client that knows nothing but proto/README.md: a decoder
// generated from retinad.proto, the subjects the README lists, a TCP connection to the
// embedded server. It joins after the daemon has run a while (the predictions' one-off cell_ids
// long gone), and from one Status learns every model's cell ids, history and deadline, and the
// daemon's version; each model's predictions then carry one rate per cell it learned.
func TestLateJoinerFindsCellIDs(t *testing.T) {
	status := readmeDecoder(t, "retinad.v1.Status")
	prediction := readmeDecoder(t, "retinad.v1.Prediction")
	bus, err := acquisition.Start(configs.NATS{Embedded: true, Listen: "127.0.0.1:0"}, acquisition.BusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Stop()
	clock := daemontest.NewClock()
	defer clock.Drive(5 * time.Millisecond)() // after Run has returned
	models := []daemon.Model{
		{Name: "cnn", Engine: &daemontest.Engine{Cells: 3, Gain: 10}, CellIDs: []int32{17, 4, 250}, BinRate: 100, History: 40},
		{Name: "ln", Engine: &daemontest.Engine{Cells: 2, Gain: 10}, CellIDs: []int32{9, 8}, BinRate: 100, History: 25, Deadline: 30 * time.Millisecond},
	}
	d, err := daemon.New(daemon.Parts{
		Rig: "test", Session: "s1", Version: "1.4.0-test", Source: &daemontest.Source{},
		Presenter: &daemontest.Presenter{Clock: clock, Period: 10 * time.Millisecond},
		Bus:       daemon.NATSBus(bus.Conn(), 4096, nil), FrameRate: 100, Height: 10, Width: 10, Clock: clock,
		Models: models, StatusEvery: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, stopDaemon := daemontest.Run(t, d.Run)
	defer stopDaemon()
	if !daemontest.WaitFor(t, 10*time.Second, "the daemon has run a while", func() bool { return d.Figures().Frames > 50 }) {
		return
	}

	nc, err := nats.Connect(bus.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ssub, err := nc.SubscribeSync("retinad.test.status")
	if err != nil {
		t.Fatal(err)
	}
	psub, err := nc.SubscribeSync("retinad.test.prediction.*")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := ssub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	st := status(msg.Data)
	field := func(m protoreflect.Message, name string) protoreflect.Value {
		fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
		if fd == nil {
			t.Fatalf("%s has no field %s", m.Descriptor().FullName(), name)
		}
		return m.Get(fd)
	}
	if v := field(st, "version").String(); v != "1.4.0-test" {
		t.Errorf("Status.version %q, want the daemon's 1.4.0-test", v)
	}
	cells := map[string][]int32{}
	list := field(st, "models").List()
	for i := 0; i < list.Len(); i++ {
		m := list.Get(i).Message()
		name := field(m, "name").String()
		ids := field(m, "cell_ids").List()
		for j := 0; j < ids.Len(); j++ {
			cells[name] = append(cells[name], int32(ids.Get(j).Int()))
		}
		var want daemon.Model
		for _, x := range models {
			if x.Name == name {
				want = x
			}
		}
		if !slices.Equal(cells[name], want.CellIDs) {
			t.Errorf("model %q: cell_ids %v, want %v", name, cells[name], want.CellIDs)
		}
		if h := field(m, "history").Uint(); h != uint64(want.History) {
			t.Errorf("model %q: history %d, want %d", name, h, want.History)
		}
		if dl := field(m, "deadline_ns").Int(); dl <= 0 || (want.Deadline > 0 && dl != int64(want.Deadline)) {
			t.Errorf("model %q: deadline_ns %d (configured %v)", name, dl, want.Deadline)
		}
	}
	if len(cells) != len(models) {
		t.Fatalf("Status lists models %v, want %d", cells, len(models))
	}
	seen := map[string]bool{}
	for len(seen) < len(models) {
		msg, err := psub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("predictions of %v only: %v", seen, err)
		}
		p := prediction(msg.Data)
		name := field(p, "model").String()
		if n := field(p, "rates").List().Len(); n != len(cells[name]) {
			t.Errorf("model %q: %d rates, %d cell ids learned from Status", name, n, len(cells[name]))
		}
		if n := field(p, "cell_ids").List().Len(); n != 0 {
			t.Logf("model %q: a late prediction still carries %d cell ids", name, n)
		}
		seen[name] = true
	}
}
