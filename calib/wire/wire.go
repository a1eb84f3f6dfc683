package wire

import (
	"encoding/binary"
	"fmt"
)

// Version is the protocol version this package speaks; it is the first byte of every payload.
const Version = 1

// Type is a message's kind. Device-to-host types are below 0x80, host-to-device ones above.
type Type uint8

const (
	TypeHello     Type = 0x01 // device -> host: protocol and firmware version, sent on reset
	TypeEdge      Type = 0x02 // device -> host: a threshold crossing of the photodiode
	TypeLevels    Type = 0x03 // device -> host: raw level samples (ModeLevels)
	TypePong      Type = 0x04 // device -> host: the answer to a Ping, with the device time it arrived
	TypePing      Type = 0x81 // host -> device: clock-sync probe
	TypeThreshold Type = 0x82 // host -> device: edge threshold and hysteresis
	TypeMode      Type = 0x83 // host -> device: edges or level streaming
)

func (t Type) String() string {
	switch t {
	case TypeHello:
		return "hello"
	case TypeEdge:
		return "edge"
	case TypeLevels:
		return "levels"
	case TypePong:
		return "pong"
	case TypePing:
		return "ping"
	case TypeThreshold:
		return "threshold"
	case TypeMode:
		return "mode"
	}
	return fmt.Sprintf("type(0x%02x)", uint8(t))
}

// Mode is what the device streams.
type Mode uint8

const (
	ModeEdges  Mode = 0 // threshold crossings only (the default after reset)
	ModeLevels Mode = 1 // level samples every PeriodUS, MaxSamples per message, plus edges
)

// MaxSamples is the most level samples one Levels message carries.
const MaxSamples = 16

// MaxPayload is the largest payload (version, type, seq, body, CRC) of any message;
// MaxFrame is the largest encoded frame, delimiter included.
const (
	MaxPayload = 3 + 8 + 2 + 1 + 2*MaxSamples + 2
	MaxFrame   = MaxPayload + MaxPayload/254 + 1 + 1
)

// Message is any message, flat so that it can be copied and appended without allocating.
// Only the fields of its Type are meaningful.
type Message struct {
	Type Type
	Seq  uint8 // per direction, incremented by the sender for every message, wrapping

	// Hello
	Proto                     uint8 // the protocol version the firmware implements
	FwMajor, FwMinor, FwPatch uint8

	// Edge, Levels (first sample), Pong (when the ping arrived): device microseconds.
	TimeUS uint64
	// Edge
	Rising bool
	Level  uint16 // the level just after the crossing
	// Ping, Pong: the ping's identifier, echoed.
	ID uint32
	// Threshold: fractions of full scale times 65535.
	Threshold, Hysteresis uint16
	// Mode, Levels
	Mode     Mode
	PeriodUS uint16 // sample period
	N        uint8  // samples in Samples
	Samples  [MaxSamples]uint16
}

// bodyLen is the exact body length of a fixed-size type, or -1 for Levels (variable).
func bodyLen(t Type) int {
	switch t {
	case TypeHello:
		return 4
	case TypeEdge:
		return 8 + 1 + 2
	case TypeLevels:
		return -1
	case TypePong:
		return 4 + 8
	case TypePing:
		return 4
	case TypeThreshold:
		return 4
	case TypeMode:
		return 1 + 2
	}
	return -2
}

// FrameLen is the encoded length, delimiter included, of a message of the fixed-size type t
// (every type but Levels): the bytes it occupies on the line, whatever its fields hold (COBS
// adds one byte per 254 whatever the data). It panics for Levels or an unknown type
// (programmer errors).
func FrameLen(t Type) int {
	n := bodyLen(t)
	if n < 0 {
		panic("wire: FrameLen of a variable-length or unknown message type")
	}
	p := 3 + n + 2
	return p + p/254 + 1 + 1
}

// AppendFrame appends m, COBS-encoded and followed by the 0x00 delimiter, to dst.
// It panics if m.Type is unknown or m.N > MaxSamples (programmer errors).
func AppendFrame(dst []byte, m *Message) []byte {
	var p [MaxPayload]byte
	n := encodePayload(p[:], m)
	return appendCOBS(dst, p[:n])
}

func encodePayload(p []byte, m *Message) int {
	p[0], p[1], p[2] = Version, byte(m.Type), m.Seq
	b := p[3:]
	var n int
	le := binary.LittleEndian
	switch m.Type {
	case TypeHello:
		b[0], b[1], b[2], b[3] = m.Proto, m.FwMajor, m.FwMinor, m.FwPatch
		n = 4
	case TypeEdge:
		le.PutUint64(b, m.TimeUS)
		if m.Rising {
			b[8] = 1
		} else {
			b[8] = 0
		}
		le.PutUint16(b[9:], m.Level)
		n = 11
	case TypeLevels:
		if m.N > MaxSamples {
			panic("wire: Levels message with more than MaxSamples samples")
		}
		le.PutUint64(b, m.TimeUS)
		le.PutUint16(b[8:], m.PeriodUS)
		b[10] = m.N
		for i := 0; i < int(m.N); i++ {
			le.PutUint16(b[11+2*i:], m.Samples[i])
		}
		n = 11 + 2*int(m.N)
	case TypePong:
		le.PutUint32(b, m.ID)
		le.PutUint64(b[4:], m.TimeUS)
		n = 12
	case TypePing:
		le.PutUint32(b, m.ID)
		n = 4
	case TypeThreshold:
		le.PutUint16(b, m.Threshold)
		le.PutUint16(b[2:], m.Hysteresis)
		n = 4
	case TypeMode:
		b[0] = byte(m.Mode)
		le.PutUint16(b[1:], m.PeriodUS)
		n = 3
	default:
		panic("wire: AppendFrame of unknown message type")
	}
	n += 3
	crc := CRC16(p[:n])
	p[n], p[n+1] = byte(crc>>8), byte(crc)
	return n + 2
}

// parsePayload decodes one unstuffed payload (CRC included) into m.
func parsePayload(p []byte, m *Message) error {
	if len(p) < 5 {
		return errShort
	}
	n := len(p) - 2
	if CRC16(p[:n]) != uint16(p[n])<<8|uint16(p[n+1]) {
		return errCRC
	}
	if p[0] != Version {
		return errVersion
	}
	*m = Message{Type: Type(p[1]), Seq: p[2]}
	b := p[3:n]
	want := bodyLen(m.Type)
	switch {
	case want == -2:
		return errType
	case want >= 0 && len(b) != want:
		return errLength
	}
	le := binary.LittleEndian
	switch m.Type {
	case TypeHello:
		m.Proto, m.FwMajor, m.FwMinor, m.FwPatch = b[0], b[1], b[2], b[3]
	case TypeEdge:
		if b[8] > 1 {
			return errField
		}
		m.TimeUS, m.Rising, m.Level = le.Uint64(b), b[8] == 1, le.Uint16(b[9:])
	case TypeLevels:
		if len(b) < 11 || b[10] > MaxSamples || len(b) != 11+2*int(b[10]) {
			return errLength
		}
		m.TimeUS, m.PeriodUS, m.N = le.Uint64(b), le.Uint16(b[8:]), b[10]
		for i := 0; i < int(m.N); i++ {
			m.Samples[i] = le.Uint16(b[11+2*i:])
		}
	case TypePong:
		m.ID, m.TimeUS = le.Uint32(b), le.Uint64(b[4:])
	case TypePing:
		m.ID = le.Uint32(b)
	case TypeThreshold:
		m.Threshold, m.Hysteresis = le.Uint16(b), le.Uint16(b[2:])
	case TypeMode:
		if b[0] > byte(ModeLevels) {
			return errField
		}
		m.Mode, m.PeriodUS = Mode(b[0]), le.Uint16(b[1:])
	}
	return nil
}

// CRC16 is CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, no reflection, no
// final XOR); CRC16("123456789") = 0x29B1.
func CRC16(p []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, b := range p {
		crc ^= uint16(b) << 8
		for i := 0; i < 8; i++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// appendCOBS appends the COBS encoding of p and the 0x00 delimiter to dst.
func appendCOBS(dst, p []byte) []byte {
	codeAt := len(dst)
	dst = append(dst, 0)
	code := byte(1)
	for _, b := range p {
		if b != 0 {
			dst = append(dst, b)
			code++
		}
		if b == 0 || code == 0xFF {
			dst[codeAt] = code
			codeAt = len(dst)
			dst = append(dst, 0)
			code = 1
		}
	}
	dst[codeAt] = code
	return append(dst, 0)
}
