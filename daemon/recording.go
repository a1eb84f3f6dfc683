package daemon

import (
	"context"
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"

	"retinad/acquisition"
	pb "retinad/proto/retinadpb"
)

// Recorder is the session recording's store (*acquisition.Store in a rig: the JetStream
// stream). The daemon stores its session events and its status through it, off the frame path,
// so that a store that stops taking messages is known within a status period.
type Recorder interface {
	// Publish publishes data on subject (subscribers get it as any message) and returns once
	// the recording holds it; an error means it does not.
	Publish(ctx context.Context, subject string, data []byte) error
	// Usage says how full the recording is.
	Usage(ctx context.Context) (acquisition.StoreUsage, error)
}

var _ Recorder = (*acquisition.Store)(nil)

// LowDisk is the free space on the recording's disk below which the recording is near its
// limit (about 3.5 h of configs/sim.yaml's session at 100 Hz; see README, "Recording").
const LowDisk = 1 << 30

// nearFraction of recording.max_bytes, or of the server's storage limit, puts the recording near
// its limit.
const nearFraction = 0.8

// recHealth is the recording's health in the current session. A failure is sticky until the
// next session starts: the session's record has a hole, whatever happens after.
type recHealth struct {
	mu    sync.Mutex
	state pb.Status_RecordState // RECORD_OK, RECORD_NEAR_LIMIT or RECORD_FAILED
	err   string                // why, when not RECORD_OK
	usage acquisition.StoreUsage
	// usageErr: the store's usage could not be read at the last check (logged when it starts
	// and when it ends, not at every status).
	usageErr bool
}

func (h *recHealth) get() (pb.Status_RecordState, string, acquisition.StoreUsage) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state, h.err, h.usage
}

// resetRecording starts a session's health afresh.
func (d *Daemon) resetRecording() {
	d.rec.mu.Lock()
	d.rec.state, d.rec.err = pb.Status_RECORD_OK, ""
	d.rec.mu.Unlock()
}

// storeRecorded publishes m on subject through the Recorder (acknowledged by the store), and
// folds the outcome and the store's usage into the session's recording health. Without a
// Recorder it publishes as any message. It returns whether the health changed.
//
// While NATS is disconnected the store cannot answer: m is published as any message, into the
// connection's reconnect buffer, and reaches the recording if the server comes back in time.
func (d *Daemon) storeRecorded(ctx context.Context, subject string, m proto.Message) bool {
	if d.p.Recorder == nil || d.busDown() {
		d.publishOnce(subject, m)
		return false
	}
	data, err := proto.Marshal(m)
	if err == nil {
		err = d.p.Recorder.Publish(ctx, subject, data)
	}
	if ctx.Err() != nil { // shutting down: the store was not asked
		return false
	}
	if err != nil && d.busDown() { // NATS went away meanwhile: the store could not answer
		return false
	}
	return d.checkRecording(ctx, err)
}

// checkRecording updates the recording's health from a store's outcome (storeErr) and its
// usage, and logs each change once. It returns whether the health changed.
func (d *Daemon) checkRecording(ctx context.Context, storeErr error) bool {
	u, uerr := d.p.Recorder.Usage(ctx)
	d.usageFailing(uerr)
	if storeErr == nil && uerr != nil {
		// The store acknowledged: the recording holds the message, and only its size is not
		// known (a stream info that outlasted the store's timeout on a loaded server just after
		// a reconnect). That is no hole in the record: the health stays as the last usage
		// known made it. A stream that is gone refuses the next acknowledged publish.
		return false
	}
	state, why := pb.Status_RECORD_OK, ""
	switch {
	case storeErr != nil:
		state, why = pb.Status_RECORD_FAILED, storeErr.Error()
	case u.MaxBytes > 0 && float64(u.Bytes) >= nearFraction*float64(u.MaxBytes):
		state, why = pb.Status_RECORD_NEAR_LIMIT, fmt.Sprintf("recorded %s of recording.max_bytes %s (%.0f%%); at the limit the recording stops",
			bytesText(u.Bytes), bytesText(u.MaxBytes), 100*float64(u.Bytes)/float64(u.MaxBytes))
	case u.ServerMax > 0 && float64(u.Bytes) >= nearFraction*float64(u.ServerMax):
		state, why = pb.Status_RECORD_NEAR_LIMIT, fmt.Sprintf("recorded %s of the %s the NATS server may store (3/4 of the disk's free space at its start); at the limit the recording stops",
			bytesText(u.Bytes), bytesText(u.ServerMax))
	case u.DiskKnown && u.DiskFree < LowDisk:
		state, why = pb.Status_RECORD_NEAR_LIMIT, fmt.Sprintf("only %s free on the recording disk", bytesText(u.DiskFree))
	}
	h := &d.rec
	h.mu.Lock()
	if uerr == nil {
		h.usage = u
	}
	old := h.state
	if old == pb.Status_RECORD_FAILED { // sticky for the session
		h.mu.Unlock()
		return false
	}
	h.state, h.err = state, why
	h.mu.Unlock()
	if state == old {
		return false
	}
	session := d.sessionID()
	switch state {
	case pb.Status_RECORD_FAILED:
		d.p.Log.Error("daemon: RECORDING FAILED: the session goes on, unrecorded", "session", session, "err", why)
	case pb.Status_RECORD_NEAR_LIMIT:
		d.p.Log.Warn("daemon: recording near its limit", "session", session, "why", why)
	default:
		if old == pb.Status_RECORD_NEAR_LIMIT {
			d.p.Log.Info("daemon: recording no longer near its limit", "session", session)
		}
	}
	return true
}

// usageFailing notes whether reading the store's usage failed (err) or worked (nil) and logs
// the change, once each way.
func (d *Daemon) usageFailing(err error) {
	h := &d.rec
	h.mu.Lock()
	was := h.usageErr
	h.usageErr = err != nil
	h.mu.Unlock()
	switch {
	case err != nil && !was:
		d.p.Log.Warn("daemon: the recording's size is not known; the store still acknowledges what is recorded", "err", err)
	case err == nil && was:
		d.p.Log.Info("daemon: the recording's size is known again")
	}
}

// busDown reports whether the bus's connection is lost (an external server's outage).
func (d *Daemon) busDown() bool {
	h, ok := d.p.Bus.(busHealth)
	return ok && h.health() > 0
}

// recordFigures fills f's recording fields for the session now.
func (d *Daemon) recordFigures(f *Figures) {
	if d.p.Recorder == nil {
		f.Record = pb.Status_RECORD_OFF
		return
	}
	f.Record, f.RecordError, f.RecordUsage = d.rec.get()
	if d.sess.Load() == nil {
		f.Record, f.RecordError = pb.Status_RECORD_OFF, ""
	}
}

// recordStatus fills m's recording fields from f.
func recordStatus(m *pb.Status, f Figures) {
	m.RecordState, m.RecordingError = f.Record, f.RecordError
	m.Recording = f.Record == pb.Status_RECORD_OK || f.Record == pb.Status_RECORD_NEAR_LIMIT
	u := f.RecordUsage
	m.RecordedBytes, m.RecordingMaxBytes = u.Bytes, u.MaxBytes
	if u.DiskKnown {
		m.DiskFreeBytes = u.DiskFree
	}
}

// recordText is the recording's part of the status line ("" without a Recorder).
func (f Figures) recordText() string {
	u := f.RecordUsage
	size := bytesText(u.Bytes)
	if u.MaxBytes > 0 {
		size += " of " + bytesText(u.MaxBytes)
	}
	if u.DiskKnown {
		size += ", disk " + bytesText(u.DiskFree) + " free"
	}
	switch f.Record {
	case pb.Status_RECORD_FAILED:
		return " | RECORDING FAILED: " + f.RecordError
	case pb.Status_RECORD_NEAR_LIMIT:
		return " | recording NEAR LIMIT " + size + ": " + f.RecordError
	case pb.Status_RECORD_OK:
		return " | recorded " + size
	case pb.Status_RECORD_OFF:
		if u.Bytes > 0 || u.DiskKnown {
			return " | not recording (store " + size + ")"
		}
	}
	return ""
}

// bytesText writes n in decimal units (kB, MB, GB), as df -H does.
func bytesText(n uint64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fGB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fMB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fkB", float64(n)/1e3)
	}
	return fmt.Sprintf("%dB", n)
}
