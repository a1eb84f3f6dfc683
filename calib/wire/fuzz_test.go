package wire

import (
	"testing"
)

// FuzzDecodeSplit feeds arbitrary bytes (framed messages mixed with garbage) to the decoder
// whole and split at two arbitrary points: the results must agree, nothing may panic, and every
// decoded message must re-encode to a frame that decodes to itself.
func FuzzDecodeSplit(f *testing.F) {
	var stream []byte
	msgs := sampleMessages()
	for i := range msgs {
		stream = AppendFrame(stream, &msgs[i])
	}
	f.Add(stream, uint16(5), uint16(40))
	f.Add(append([]byte{1, 2, 3, 0, 0xff, 0xfe}, stream...), uint16(0), uint16(3))
	f.Add(stream[:len(stream)/2], uint16(1), uint16(1))
	f.Add([]byte{0}, uint16(0), uint16(0))
	f.Fuzz(func(t *testing.T, in []byte, a, b uint16) {
		var whole Decoder
		want := whole.Decode(nil, in)
		i, j := int(a)%(len(in)+1), int(b)%(len(in)+1)
		if i > j {
			i, j = j, i
		}
		var split Decoder
		got := split.Decode(nil, in[:i])
		got = split.Decode(got, in[i:j])
		got = split.Decode(got, in[j:])
		if len(got) != len(want) {
			t.Fatalf("split at %d,%d: %d messages, whole: %d", i, j, len(got), len(want))
		}
		for k := range want {
			if got[k] != want[k] {
				t.Fatalf("split at %d,%d: message %d = %+v, whole: %+v", i, j, k, got[k], want[k])
			}
			var again Decoder
			back := again.Decode(nil, AppendFrame(nil, &want[k]))
			if len(back) != 1 || back[0] != want[k] {
				t.Fatalf("message %+v does not survive a round trip: %+v", want[k], back)
			}
		}
		if whole.Stats().Frames != uint64(len(want)) {
			t.Fatalf("Stats.Frames %d, decoded %d", whole.Stats().Frames, len(want))
		}
	})
}
