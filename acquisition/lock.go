package acquisition

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gofrs/flock"
)

// LockFile is the file in a recording folder whose exclusive lock (flock) marks the folder's
// one owner; it holds the owner's PID, for the error a second process gets.
const LockFile = "retinad.lock"

// ErrStoreLocked means another process owns the recording folder. Callers branch on it to say
// how to reach that owner instead (export: --server).
var ErrStoreLocked = errors.New("recording folder in use")

// StoreLockedError is the refusal to open a recording folder another process holds.
type StoreLockedError struct {
	Dir string // the recording folder (absolute)
	PID int    // the holder's PID, 0 when unknown
}

func (e *StoreLockedError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = "process " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("acquisition: recording folder %s is in use by %s (lock %s): only one retinad may record into a folder; stop it, or set recording.dir to another folder",
		e.Dir, who, filepath.Join(e.Dir, LockFile))
}

func (e *StoreLockedError) Unwrap() error { return ErrStoreLocked }

// storeLock is an exclusive lock on a recording folder, held until unlock. The kernel releases
// it when the process dies, however it dies, so a crashed daemon never blocks the next one.
type storeLock struct{ fl *flock.Flock }

// lockStore creates dir if needed and takes its lock without waiting: a folder another process
// holds is a *StoreLockedError at once. Nothing else in dir is touched before the lock is held.
func lockStore(dir string) (*storeLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("acquisition: recording dir: %w", err)
	}
	path := filepath.Join(dir, LockFile)
	fl := flock.New(path, flock.SetFlag(os.O_CREATE|os.O_RDWR))
	ok, err := fl.TryLock()
	if err != nil {
		return nil, fmt.Errorf("acquisition: lock recording folder %s: %w", dir, err)
	}
	if !ok {
		return nil, &StoreLockedError{Dir: dir, PID: holderPID(path)}
	}
	// The lock is on the file, not the descriptor: writing the PID through another one is fine.
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		fl.Unlock()
		return nil, fmt.Errorf("acquisition: lock recording folder %s: write PID: %w", dir, err)
	}
	return &storeLock{fl: fl}, nil
}

// holderPID reads the PID the holder wrote (0 if it has not yet, or the file is unreadable).
func holderPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return pid
}

func (l *storeLock) unlock() error {
	if err := l.fl.Unlock(); err != nil {
		return fmt.Errorf("acquisition: unlock recording folder: %w", err)
	}
	return nil
}

// StoreFree reports whether a daemon could own the recording folder dir now: nil when no other
// process holds its lock (or it has no lock file yet), else a *StoreLockedError. It takes the
// lock for an instant if it can, and creates nothing. For `retinad check-config`.
func StoreFree(dir string) error {
	path := filepath.Join(dir, LockFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	fl := flock.New(path, flock.SetFlag(os.O_RDWR))
	ok, err := fl.TryLock()
	if err != nil {
		return fmt.Errorf("acquisition: lock recording folder %s: %w", dir, err)
	}
	if !ok {
		return &StoreLockedError{Dir: dir, PID: holderPID(path)}
	}
	return fl.Unlock()
}
