package simdevice_test

import (
	"os"
	"syscall"
	"testing"
	"time"

	"retinad/calib/simdevice"
	"retinad/calib/wire"
	"retinad/clock"
)

// A pong never overtakes output already due: the host takes a pong as the device's stream
// having reached its time, and drops every flip older than its window. Here Run is not
// running at all (as on a host too loaded to run it for tens of milliseconds): the edge of a
// frame that lit before the ping must still reach the host before the pong.
func TestPongAfterDueEdges(t *testing.T) {
	clk := clock.System{}
	dev, err := simdevice.NewDevice(simdevice.DeviceConfig{Latency: time.Millisecond, Offset: time.Second}, clk)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	port, err := os.OpenFile(dev.Path(), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer port.Close()
	dev.Light(0, clk.Now()-int64(10*time.Millisecond), 1) // lit 9 ms ago: due
	if _, err := port.Write(wire.AppendFrame(nil, &wire.Message{Type: wire.TypePing, ID: 7})); err != nil {
		t.Fatal(err)
	}
	var dec wire.Decoder
	var got []wire.Message
	buf := make([]byte, 256)
	for len(got) == 0 || got[len(got)-1].Type != wire.TypePong {
		if err := port.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, err := port.Read(buf)
		if err != nil {
			t.Fatalf("reading the device after %v: %v", got, err)
		}
		got = dec.Decode(got, buf[:n])
	}
	var types []wire.Type
	for _, m := range got {
		types = append(types, m.Type)
	}
	// The boot hello, the edge, then the pong.
	if len(got) != 3 || got[0].Type != wire.TypeHello || got[1].Type != wire.TypeEdge || !got[1].Rising || got[2].ID != 7 {
		t.Errorf("the device sent %v, want hello, the rising edge, then the pong", types)
	}
	if len(got) == 3 && got[1].TimeUS >= got[2].TimeUS {
		t.Errorf("edge at %d us, pong at %d us: want the edge first in time too", got[1].TimeUS, got[2].TimeUS)
	}
}
