package calib

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tarm/serial"
)

// port adapts a tarm/serial port to Link. This is the only file that imports tarm/serial.
type port struct {
	p        *serial.Port
	path     string
	timeout  time.Duration
	quickEOF int // consecutive end-of-file reads that returned well before the timeout
}

var _ Link = (*port)(nil)

// OpenSerial opens the serial device at path (8N1, no flow control) for a Link whose reads
// return after at most readTimeout (tarm rounds it up to a tenth of a second).
func OpenSerial(path string, baud int, readTimeout time.Duration) (Link, error) {
	if readTimeout <= 0 {
		return nil, fmt.Errorf("calib: open %s: read timeout %v: want > 0 (a read without one cannot be interrupted)", path, readTimeout)
	}
	p, err := serial.OpenPort(&serial.Config{Name: path, Baud: baud, ReadTimeout: readTimeout})
	if err != nil {
		return nil, fmt.Errorf("calib: open %s: %w", path, err)
	}
	return &port{p: p, path: path, timeout: readTimeout}, nil
}

// Read smooths tarm's quirks: its timeout is (0, io.EOF) on Linux and (0, nil) elsewhere, so
// both mean "no bytes yet". A hung-up tty also reads (0, EOF), but at once: several quick
// ones in a row, with the device node gone, mean unplugged. I/O errors (EIO) mean unplugged.
func (s *port) Read(b []byte) (int, error) {
	start := time.Now()
	n, err := s.p.Read(b)
	if n > 0 {
		s.quickEOF = 0
		return n, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		if time.Since(start) >= s.timeout/4 {
			s.quickEOF = 0
			return 0, nil
		}
		if s.quickEOF++; s.quickEOF >= 3 {
			if _, serr := os.Stat(s.path); serr != nil {
				return 0, fmt.Errorf("calib: read %s: %w (%v)", s.path, ErrUnplugged, serr)
			}
			time.Sleep(s.timeout) // a hung-up line: do not spin
		}
		return 0, nil
	}
	return 0, fmt.Errorf("calib: read %s: %w: %v", s.path, ErrUnplugged, err)
}

func (s *port) Write(b []byte) (int, error) {
	n, err := s.p.Write(b)
	if err != nil {
		return n, fmt.Errorf("calib: write %s: %w: %v", s.path, ErrUnplugged, err)
	}
	return n, nil
}

func (s *port) Close() error {
	if err := s.p.Close(); err != nil {
		return fmt.Errorf("calib: close %s: %w", s.path, err)
	}
	return nil
}
