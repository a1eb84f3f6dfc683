package wire

import (
	"bytes"
	"testing"
)

func sampleMessages() []Message {
	lv := Message{Type: TypeLevels, Seq: 4, TimeUS: 1 << 40, PeriodUS: 1000, N: MaxSamples}
	for i := range lv.Samples {
		lv.Samples[i] = uint16(i * 4097)
	}
	return []Message{
		{Type: TypeHello, Seq: 0, Proto: Version, FwMajor: 1, FwMinor: 2, FwPatch: 3},
		{Type: TypeEdge, Seq: 1, TimeUS: 3_600_000_123, Rising: true, Level: 60000},
		{Type: TypeEdge, Seq: 2, TimeUS: 0, Rising: false, Level: 0},
		{Type: TypePong, Seq: 3, ID: 0xdeadbeef, TimeUS: 0x0100_0000_0000_0000},
		lv,
		{Type: TypeLevels, Seq: 5, TimeUS: 7, PeriodUS: 250, N: 0},
		{Type: TypePing, Seq: 9, ID: 0},
		{Type: TypeThreshold, Seq: 10, Threshold: 32768, Hysteresis: 3277},
		{Type: TypeMode, Seq: 11, Mode: ModeLevels, PeriodUS: 500},
	}
}

func TestCRC16CheckValue(t *testing.T) {
	if got := CRC16([]byte("123456789")); got != 0x29B1 {
		t.Fatalf("CRC16(123456789) = %#04x, want 0x29b1", got)
	}
}

func TestRoundTrip(t *testing.T) {
	var stream []byte
	msgs := sampleMessages()
	for i := range msgs {
		f := AppendFrame(nil, &msgs[i])
		if len(f) > MaxFrame {
			t.Fatalf("%v frame is %d bytes, more than MaxFrame %d", msgs[i].Type, len(f), MaxFrame)
		}
		if bytes.IndexByte(f, 0) != len(f)-1 {
			t.Fatalf("%v frame % x has a zero before its delimiter", msgs[i].Type, f)
		}
		stream = append(stream, f...)
	}
	var d Decoder
	got := d.Decode(nil, stream)
	if len(got) != len(msgs) {
		t.Fatalf("decoded %d messages, want %d (stats %+v)", len(got), len(msgs), d.Stats())
	}
	for i := range msgs {
		if got[i] != msgs[i] {
			t.Errorf("message %d: got %+v, want %+v", i, got[i], msgs[i])
		}
	}
	// Seq goes 0,1,2,3,4,5 then 9,10,11: three missing.
	if s := d.Stats(); s.SeqGaps != 3 || s.Frames != uint64(len(msgs)) {
		t.Errorf("stats %+v, want SeqGaps 3, Frames %d", s, len(msgs))
	}
}

// FrameLen is what AppendFrame writes for every fixed-size message, whatever its fields (zeros
// and 0xFF alike): the clock sync counts wire time with it. A ping is 11 bytes, a pong 19.
func TestFrameLen(t *testing.T) {
	for _, m := range sampleMessages() {
		if m.Type == TypeLevels {
			continue
		}
		full := m
		full.TimeUS, full.ID, full.Level, full.Threshold, full.Hysteresis = ^uint64(0), ^uint32(0), 0xFFFF, 0xFFFF, 0xFFFF
		zero := Message{Type: m.Type}
		for _, v := range []Message{m, full, zero} {
			if got, want := len(AppendFrame(nil, &v)), FrameLen(m.Type); got != want {
				t.Errorf("%v %+v: AppendFrame wrote %d bytes, FrameLen says %d", m.Type, v, got, want)
			}
		}
	}
	if FrameLen(TypePing) != 11 || FrameLen(TypePong) != 19 {
		t.Errorf("ping %d bytes, pong %d: want 11 and 19 (PROTOCOL.md)", FrameLen(TypePing), FrameLen(TypePong))
	}
}

// A corrupted, truncated or garbage-preceded frame costs at most itself: the next frame after
// a delimiter decodes.
func TestResyncWithinOneFrame(t *testing.T) {
	edge := Message{Type: TypeEdge, Seq: 1, TimeUS: 42, Rising: true, Level: 9}
	good := AppendFrame(nil, &edge)
	cases := map[string][]byte{
		"garbage":        []byte{0x13, 0x37, 0xff, 0xff, 0x00},
		"flipped bit":    func() []byte { f := AppendFrame(nil, &edge); f[3] ^= 0x10; return f }(),
		"truncated":      append(append([]byte{}, good[:len(good)/2]...), 0),
		"long garbage":   append(bytes.Repeat([]byte{0xAA}, 3*MaxFrame), 0),
		"bad cobs":       []byte{0x09, 0x01, 0x00},
		"unknown type":   unknownType(),
		"only delimiter": []byte{0, 0, 0},
	}
	for name, junk := range cases {
		t.Run(name, func(t *testing.T) {
			var d Decoder
			got := d.Decode(nil, append(append([]byte{}, junk...), good...))
			if len(got) != 1 || got[0] != edge {
				t.Fatalf("got %+v, want just the edge (stats %+v)", got, d.Stats())
			}
		})
	}
}

func TestRejectsWithReason(t *testing.T) {
	var p [MaxPayload]byte
	m := Message{Type: TypeEdge, TimeUS: 1}
	n := encodePayload(p[:], &m)
	p[0] = 2 // future version
	crc := CRC16(p[:n-2])
	p[n-2], p[n-1] = byte(crc>>8), byte(crc)
	var d Decoder
	if got := d.Decode(nil, appendCOBS(nil, p[:n])); len(got) != 0 {
		t.Fatalf("decoded a version-2 frame: %+v", got)
	}
	if s := d.Stats(); s.BadFrame != 1 || s.LastErr != errVersion {
		t.Fatalf("stats %+v, want one BadFrame with errVersion", s)
	}
}

func TestDecodeAllocatesNothing(t *testing.T) {
	var stream []byte
	msgs := sampleMessages()
	for i := range msgs {
		stream = AppendFrame(stream, &msgs[i])
	}
	stream = append(stream, 0x55, 0x66, 0) // and a bad frame
	var d Decoder
	dst := make([]Message, 0, 64)
	var frame []byte = make([]byte, 0, MaxFrame)
	allocs := testing.AllocsPerRun(200, func() {
		dst = d.Decode(dst[:0], stream[:17])
		dst = d.Decode(dst, stream[17:])
		frame = AppendFrame(frame[:0], &msgs[1])
	})
	if allocs != 0 {
		t.Fatalf("Decode+AppendFrame allocate %v times per run, want 0", allocs)
	}
}

func BenchmarkDecode(b *testing.B) {
	var stream []byte
	msgs := sampleMessages()
	for i := range msgs {
		stream = AppendFrame(stream, &msgs[i])
	}
	var d Decoder
	dst := make([]Message, 0, 64)
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		dst = d.Decode(dst[:0], stream)
	}
}

func unknownType() []byte {
	p := []byte{Version, 0x55, 0, 1, 2}
	crc := CRC16(p)
	return appendCOBS(nil, append(p, byte(crc>>8), byte(crc)))
}
