package calib

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tarm/serial"
	"golang.org/x/sys/unix"
)

// port adapts a tarm/serial port to Link. This is the only file that imports tarm/serial.
type port struct {
	p        *serial.Port
	path     string
	timeout  time.Duration
	quickEOF int // consecutive end-of-file reads that returned well before the timeout
	lock     int // a descriptor of the device holding its exclusive flock
}

// ErrBusy is wrapped by OpenSerial's error when another program (a running daemon, a
// calibration) holds the port.
var ErrBusy = errors.New("the port is held by another program (is `retinad run` or `retinad calibrate` using it?)")

// lockPort takes the advisory exclusive lock (flock) on the device at path, the way every
// retinad opening the port does, so that a calibration cannot steal a running daemon's bytes.
// The descriptor is opened without becoming the controlling terminal or waiting for carrier.
func lockPort(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("calib: open %s: %w", path, err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EWOULDBLOCK) {
			return -1, fmt.Errorf("calib: open %s: %w", path, ErrBusy)
		}
		return -1, fmt.Errorf("calib: lock %s: %w", path, err)
	}
	return fd, nil
}

var _ Link = (*port)(nil)

// OpenSerial opens the serial device at path (8N1, no flow control) for a Link whose reads
// return after at most readTimeout (tarm rounds it up to a tenth of a second). It holds the
// port's exclusive lock until Close: a second OpenSerial of the port, in this process or
// another, fails with ErrBusy.
func OpenSerial(path string, baud int, readTimeout time.Duration) (Link, error) {
	if readTimeout <= 0 {
		return nil, fmt.Errorf("calib: open %s: read timeout %v: want > 0 (a read without one cannot be interrupted)", path, readTimeout)
	}
	lock, err := lockPort(path)
	if err != nil {
		return nil, err
	}
	p, err := serial.OpenPort(&serial.Config{Name: path, Baud: baud, ReadTimeout: readTimeout})
	if err != nil {
		unix.Close(lock)
		return nil, fmt.Errorf("calib: open %s: %w", path, err)
	}
	return &port{p: p, path: path, timeout: readTimeout, lock: lock}, nil
}

// SerialFree reports, as an error wrapping ErrBusy, whether another program holds the port at
// path; nil if it is free (or does not exist: opening it will say so).
func SerialFree(path string) error {
	fd, err := lockPort(path)
	if errors.Is(err, ErrBusy) {
		return err
	}
	if err == nil {
		unix.Close(fd)
	}
	return nil
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
	defer unix.Close(s.lock) // after the port: the lock covers it until it is closed
	if err := s.p.Close(); err != nil {
		return fmt.Errorf("calib: close %s: %w", s.path, err)
	}
	return nil
}
