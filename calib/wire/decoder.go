package wire

import "errors"

var (
	errShort   = errors.New("frame too short")
	errCRC     = errors.New("bad CRC")
	errVersion = errors.New("unknown protocol version")
	errType    = errors.New("unknown message type")
	errLength  = errors.New("wrong body length for type")
	errField   = errors.New("field out of range")
	errCOBS    = errors.New("bad COBS encoding")
)

// Stats counts what a Decoder has seen. Rejected frames are counted by reason; bytes dropped
// while skipping an over-long frame count as Overflow once per frame.
type Stats struct {
	Frames   uint64 // good messages decoded
	BadCRC   uint64 // frames whose CRC did not match (corrupted or merged frames)
	BadFrame uint64 // frames with bad COBS, a bad length, version, type or field
	Overflow uint64 // frames longer than MaxFrame, skipped to the next delimiter
	SeqGaps  uint64 // messages missing according to sequence numbers
	LastErr  error  // the reason of the last rejected frame
}

// Decoder reassembles frames from a byte stream delivered in arbitrary pieces. The zero value
// is ready; the first frame is taken from the first byte (a sender starts with a delimiter so
// that line noise before it is discarded).
type Decoder struct {
	buf      [MaxFrame]byte
	n        int
	skipping bool // in an over-long frame: drop bytes until the next delimiter
	haveSeq  bool
	lastSeq  uint8
	stats    Stats
}

// Stats returns the counters so far.
func (d *Decoder) Stats() Stats { return d.stats }

// Decode consumes p and appends every message completed by it to dst, returning the extended
// slice. Bytes of an unfinished frame are kept for the next call. It allocates only if dst
// lacks capacity. Bad frames are dropped and counted in Stats; decoding resumes at the next
// delimiter.
func (d *Decoder) Decode(dst []Message, p []byte) []Message {
	for _, b := range p {
		if b != 0 {
			if d.skipping {
				continue
			}
			if d.n == len(d.buf) {
				d.skipping = true
				d.stats.Overflow++
				continue
			}
			d.buf[d.n] = b
			d.n++
			continue
		}
		// Delimiter: a frame ends here.
		if d.skipping || d.n == 0 {
			d.skipping, d.n = false, 0
			continue
		}
		var m Message
		err := d.frame(&m)
		d.n = 0
		if err != nil {
			if err == errCRC {
				d.stats.BadCRC++
			} else {
				d.stats.BadFrame++
			}
			d.stats.LastErr = err
			continue
		}
		if d.haveSeq && m.Seq != d.lastSeq+1 {
			d.stats.SeqGaps += uint64(m.Seq - d.lastSeq - 1)
		}
		d.haveSeq, d.lastSeq = true, m.Seq
		d.stats.Frames++
		dst = append(dst, m)
	}
	return dst
}

// frame un-stuffs d.buf[:d.n] in place and parses it.
func (d *Decoder) frame(m *Message) error {
	in := d.buf[:d.n]
	out := 0
	for i := 0; i < len(in); {
		code := int(in[i])
		i++
		if i+code-1 > len(in) {
			return errCOBS
		}
		out += copy(in[out:], in[i:i+code-1])
		i += code - 1
		if code < 0xFF && i < len(in) {
			in[out] = 0
			out++
		}
	}
	return parsePayload(in[:out], m)
}
