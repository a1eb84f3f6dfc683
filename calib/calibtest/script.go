package calibtest

import (
	"bytes"
	"sync"
	"time"

	"retinad/calib"
)

// Chunk is one scripted Read: Data is returned exactly (a Read with a smaller buffer takes its
// first bytes and the next Read the rest), or, with no Data, Err is returned (nil Err and no
// Data: a read timeout, (0, nil)). A chunk is delivered only once the host has made AfterWrites
// Write calls on the link; until then Reads time out.
type Chunk struct {
	Data        []byte
	Err         error
	AfterWrites int
}

// Script is a calib.Link that replays exact bytes, short reads and failures, and records what
// the host writes. When the script has run out, Reads time out (or fail with End, if set).
// A timed-out Read waits Timeout (default 1 ms) of real time, like a serial read timeout.
type Script struct {
	Chunks   []Chunk
	End      error
	Timeout  time.Duration
	WriteErr error // if set, every Write fails with it

	mu      sync.Mutex
	next    int
	off     int // bytes of Chunks[next].Data already read
	writes  int
	written bytes.Buffer
	reads   int
	closed  bool
}

var _ calib.Link = (*Script)(nil)

// Read returns the next chunk, or what is left of it.
func (s *Script) Read(p []byte) (int, error) {
	s.mu.Lock()
	s.reads++
	if s.closed {
		s.mu.Unlock()
		return 0, calib.ErrUnplugged
	}
	if s.next == len(s.Chunks) {
		s.mu.Unlock()
		if s.End != nil {
			return 0, s.End
		}
		s.wait()
		return 0, nil
	}
	c := s.Chunks[s.next]
	if s.writes < c.AfterWrites {
		s.mu.Unlock()
		s.wait()
		return 0, nil
	}
	if len(c.Data) == 0 {
		s.next++
		s.mu.Unlock()
		if c.Err == nil {
			s.wait()
		}
		return 0, c.Err
	}
	n := copy(p, c.Data[s.off:])
	if s.off += n; s.off == len(c.Data) {
		s.next, s.off = s.next+1, 0
	}
	s.mu.Unlock()
	return n, nil
}

func (s *Script) wait() {
	d := s.Timeout
	if d <= 0 {
		d = time.Millisecond
	}
	time.Sleep(d)
}

// Write records p.
func (s *Script) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.WriteErr != nil {
		return 0, s.WriteErr
	}
	s.writes++
	return s.written.Write(p)
}

// Close marks the link closed; later Reads fail.
func (s *Script) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// Written returns a copy of every byte written so far.
func (s *Script) Written() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.written.Bytes())
}

// Done reports whether every chunk has been read, and whether Close was called.
func (s *Script) Done() (read, closed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next == len(s.Chunks), s.closed
}
