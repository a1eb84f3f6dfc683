package acquisition

import (
	"context"
	"fmt"
	"retinad/proto/contract"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sys/unix"
)

// Store is the rig's recording stream seen from the daemon while it records: a message
// published through it is acknowledged by the stream, so a store that refuses (a full stream,
// a full disk, a write error) is known at once, and Usage says how full it is. Use it off the
// frame path (status, session events): each Publish waits for the server.
type Store struct {
	js      jetstream.JetStream
	name    string
	dir     string // the embedded server's recording folder, "" when the store is elsewhere
	timeout time.Duration
	// serverMax is the embedded server's JetStream storage limit; nil for an external server.
	serverMax func() int64
}

// StoreUsage is how full the recording is.
type StoreUsage struct {
	Bytes    uint64 // the stream's size
	MaxBytes uint64 // its limit, 0 for none
	// ServerMax is the embedded server's JetStream storage limit (by default 3/4 of the disk's
	// free space when it started, plus what it had stored): past it the server refuses, as a
	// full disk would. 0 when unknown (an external server).
	ServerMax uint64
	// DiskFree is the space left (for an unprivileged writer) on the disk of the recording
	// folder; DiskKnown is false when the store is on an external server.
	DiskFree  uint64
	DiskKnown bool
}

// OpenStore returns the rig's recording stream (made by Record) on b's server. timeout bounds
// each Publish's wait for its acknowledgement (0: 2 s).
func (b *Bus) OpenStore(subj contract.Subjects, timeout time.Duration) (*Store, error) {
	js, err := jetstream.New(b.conn)
	if err != nil {
		return nil, fmt.Errorf("acquisition: recording: %w", err)
	}
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	s := &Store{js: js, name: StreamName(subj.Rig), dir: b.dir, timeout: timeout}
	if b.srv != nil && b.dir != "" {
		s.serverMax = func() int64 { return b.srv.JetStreamConfig().MaxStore }
	}
	return s, nil
}

// Publish publishes data on subject and returns once the recording stream has stored it; an
// error (the stream's refusal, or no acknowledgement within the timeout) means it is not in
// the record. Subscribers receive it as any message.
func (s *Store) Publish(ctx context.Context, subject string, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if _, err := s.js.Publish(ctx, subject, data, jetstream.WithExpectStream(s.name)); err != nil {
		return fmt.Errorf("acquisition: recording stream %s refused %s: %w", s.name, subject, err)
	}
	return nil
}

// Usage reports the stream's size and limit and the recording disk's free space.
func (s *Store) Usage(ctx context.Context) (StoreUsage, error) {
	var u StoreUsage
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	st, err := s.js.Stream(ctx, s.name)
	if err != nil {
		return u, fmt.Errorf("acquisition: recording stream %s: %w", s.name, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return u, fmt.Errorf("acquisition: recording stream %s: %w", s.name, err)
	}
	u.Bytes = info.State.Bytes
	if info.Config.MaxBytes > 0 {
		u.MaxBytes = uint64(info.Config.MaxBytes)
	}
	if s.serverMax != nil {
		if m := s.serverMax(); m > 0 {
			u.ServerMax = uint64(m)
		}
	}
	if s.dir != "" {
		if u.DiskFree, err = DiskFree(s.dir); err != nil {
			return u, err
		}
		u.DiskKnown = true
	}
	return u, nil
}

// DiskFree is the space an unprivileged process may still write on the disk holding dir.
func DiskFree(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("acquisition: free space of %s: %w", dir, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}
