package wire_test

import (
	"bytes"
	"testing"

	"retinad/calib/wire"
	"retinad/calib/wire/wiretest"
)

// TestVectors checks calib/wire against the shared vectors that the firmware is tested against
// too: ok frames decode to their fields and re-encode byte for byte; drop frames are dropped.
func TestVectors(t *testing.T) {
	vs, err := wiretest.Read(wiretest.Path())
	if err != nil {
		t.Fatal(err)
	}
	var ok, drop int
	for _, v := range vs {
		var d wire.Decoder
		got := d.Decode(nil, v.Frame)
		if !v.OK {
			drop++
			if len(got) != 0 {
				t.Errorf("%s: decoded %+v, want it dropped", v.Name, got[0])
			}
			continue
		}
		ok++
		if len(got) != 1 {
			t.Errorf("%s: decoded %d messages, want 1 (%v)", v.Name, len(got), d.Stats().LastErr)
			continue
		}
		if got[0] != v.Msg {
			t.Errorf("%s: decoded %+v, want %+v", v.Name, got[0], v.Msg)
		}
		if f := wire.AppendFrame(nil, &v.Msg); !bytes.Equal(f, v.Frame) {
			t.Errorf("%s: encoded % x, want % x", v.Name, f, v.Frame)
		}
	}
	if ok < 7 || drop < 5 {
		t.Fatalf("%d ok and %d drop vectors: the file lost some (want every type and the drop cases)", ok, drop)
	}
}
