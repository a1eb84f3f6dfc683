// Package avrboard runs the photodiode firmware (proto/photodiode/firmware) on an emulated
// ATmega328P board: simavr at 16 MHz, paced to real time, its UART on a pseudo-terminal that
// calib opens like any serial port, its A0 input set by the caller. The emulator is the
// avrboard program that `make firmware` builds (proto/photodiode/sim/avrboard.c).
package avrboard

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Root is the repository's root directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Build runs `make firmware-only` in the repository: the firmware and the emulator, built if
// they are out of date. It fails when the AVR toolchain or simavr is missing (scripts/setup
// installs them).
func Build() error {
	cmd := exec.Command("make", "-s", "firmware-only")
	cmd.Dir = Root()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("avrboard: make firmware-only (needs gcc-avr, arduino-mk, libsimavr-dev: run scripts/setup): %w\n%s", err, out)
	}
	return nil
}

// Paths are the built firmware (the .hex a lab flashes) and emulator, in the source tree this
// package was built from.
func Paths() (hex, emulator string) {
	dir := filepath.Join(Root(), "proto", "photodiode", "firmware", "build")
	return filepath.Join(dir, "photodiode.hex"), filepath.Join(dir, "avrboard")
}

// FullScaleMV is A0's full scale (AVCC, the firmware's reference).
const FullScaleMV = 5000

// Board is one running emulated board.
type Board struct {
	// PTY is the serial device to open (115200 baud).
	PTY string

	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string // the emulator's stdout after the pty line
	done  chan struct{}
}

// Start boots the firmware at path (a .hex, or the ELF) on a new board run by emulator (Paths
// gives both).
func Start(firmware, emulator string) (*Board, error) {
	for _, p := range []string{firmware, emulator} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("avrboard: %w (make firmware builds the firmware and the emulator)", err)
		}
	}
	cmd := exec.Command(emulator, firmware)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("avrboard: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("avrboard: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("avrboard: start %s: %w", emulator, err)
	}
	b := &Board{cmd: cmd, stdin: stdin, lines: make(chan string, 64), done: make(chan struct{})}
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "pty ") {
		b.Close()
		return nil, fmt.Errorf("avrboard: %s: want a first line `pty <path>`, got %q (%v)", emulator, sc.Text(), sc.Err())
	}
	b.PTY = strings.TrimPrefix(sc.Text(), "pty ")
	go func() {
		defer close(b.done)
		for sc.Scan() {
			b.lines <- sc.Text()
		}
	}()
	return b, nil
}

// Step is when a level set on A0 took effect: the ground truth of a light edge.
type Step struct {
	// EmuUS is emulated time, microseconds since the board's reset (the firmware's micros()
	// counts from about then).
	EmuUS float64
	// HostNs is that instant on the host's CLOCK_MONOTONIC (clock.System) as the
	// emulator paces it: the time real time had when the emulator started, plus EmuUS.
	HostNs int64
	// LagUS is how far emulated time was behind real time then: within some tens of us on
	// an idle machine, it jumps when the machine starves the emulator, which then runs
	// unpaced to catch up.
	LagUS float64
}

// SetLevel sets A0 to mv millivolts and returns the emulated time, in microseconds since the
// board's reset, at which it took effect.
func (b *Board) SetLevel(mv float64) (float64, error) {
	s, err := b.SetLevelAt(mv)
	return s.EmuUS, err
}

// SetLevelAt is SetLevel, returning the whole Step.
func (b *Board) SetLevelAt(mv float64) (Step, error) {
	if _, err := fmt.Fprintf(b.stdin, "level %.1f\n", mv); err != nil {
		return Step{}, fmt.Errorf("avrboard: set level: %w", err)
	}
	return b.answer()
}

// Schedule sets A0 to mv millivolts when the emulator's paced clock reaches host time dueNs
// (CLOCK_MONOTONIC ns), or at once if it has: the emulated firmware sees the light at that
// time whatever the host's threads are doing. Each scheduled level is answered, in order, by
// the Step Answer returns once it is set; SetLevel must not be used meanwhile.
func (b *Board) Schedule(mv float64, dueNs int64) error {
	if _, err := fmt.Fprintf(b.stdin, "level %.1f %d\n", mv, dueNs); err != nil {
		return fmt.Errorf("avrboard: schedule level: %w", err)
	}
	return nil
}

// Answer waits for the next scheduled level to be set (up to 5 s) and returns when it was.
func (b *Board) Answer() (Step, error) { return b.answer() }

func (b *Board) answer() (Step, error) {
	var s Step
	select {
	case l, ok := <-b.lines:
		var v float64
		if !ok {
			return s, fmt.Errorf("avrboard: set level: the emulator exited")
		}
		if _, err := fmt.Sscanf(l, "at %g %g %g %d", &s.EmuUS, &v, &s.LagUS, &s.HostNs); err != nil {
			return s, fmt.Errorf("avrboard: set level: want `at <us> <mV> <lag us> <host ns>`, got %q: %w", l, err)
		}
		return s, nil
	case <-time.After(5 * time.Second):
		return s, fmt.Errorf("avrboard: set level: no answer from the emulator in 5 s")
	}
}

// SetNoise sets the standard deviation, in millivolts, of the noise on every ADC conversion.
func (b *Board) SetNoise(mv float64) error {
	if _, err := fmt.Fprintf(b.stdin, "noise %s\n", strconv.FormatFloat(mv, 'f', 1, 64)); err != nil {
		return fmt.Errorf("avrboard: set noise: %w", err)
	}
	return nil
}

// Close stops the board and waits for the emulator to exit.
func (b *Board) Close() error {
	fmt.Fprintln(b.stdin, "quit")
	b.stdin.Close()
	select {
	case <-b.done:
	case <-time.After(5 * time.Second):
		b.cmd.Process.Kill()
	}
	if err := b.cmd.Wait(); err != nil {
		return fmt.Errorf("avrboard: %s: %w", b.cmd.Path, err)
	}
	return nil
}
