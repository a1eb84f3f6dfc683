package daemon

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"retinad/acquisition"
	pb "retinad/proto/retinadpb"
)

// scriptedRecorder acknowledges or refuses publishes and answers usage as its fields say.
type scriptedRecorder struct {
	publishErr, usageErr error
	usage                acquisition.StoreUsage
}

func (r *scriptedRecorder) Publish(context.Context, string, []byte) error { return r.publishErr }
func (r *scriptedRecorder) Usage(context.Context) (acquisition.StoreUsage, error) {
	return r.usage, r.usageErr
}

// A usage that cannot be read while the store acknowledges (a stream info that timed out on a
// loaded server just after a reconnect: TestFaultExternalNATS at load 10+) leaves the
// recording's health as it was, logged once when it starts and once when it ends; a refused
// publish is RECORD_FAILED, sticky.
func TestRecordingHealthUsageUnknown(t *testing.T) {
	rec := &scriptedRecorder{usage: acquisition.StoreUsage{Bytes: 10, MaxBytes: 100}}
	var logs bytes.Buffer
	d := &Daemon{p: Parts{Recorder: rec, Log: slog.New(slog.NewTextHandler(&logs, nil))}}
	d.resetRecording()
	ctx := context.Background()
	state := func() pb.Status_RecordState { s, _, _ := d.rec.get(); return s }

	rec.usageErr = errors.New("acquisition: recording stream RETINAD_x: context deadline exceeded")
	for range 3 {
		if d.checkRecording(ctx, nil) || state() != pb.Status_RECORD_OK {
			t.Fatalf("usage unknown, store acknowledging: health %v, want RECORD_OK unchanged", state())
		}
	}
	rec.usage.Bytes = 90 // known again, and near the limit
	rec.usageErr = nil
	if !d.checkRecording(ctx, nil) || state() != pb.Status_RECORD_NEAR_LIMIT {
		t.Fatalf("usage known again at 90%%: health %v, want RECORD_NEAR_LIMIT", state())
	}
	if n := strings.Count(logs.String(), "size is not known"); n != 1 {
		t.Errorf("%d log lines for three checks without the usage, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "size is known again") {
		t.Errorf("log does not say the usage is known again:\n%s", logs.String())
	}

	// A refusal is a hole in the record, whether the usage is known or not; it stays.
	rec.usageErr = errors.New("no usage either")
	if !d.checkRecording(ctx, errors.New("acquisition: recording stream RETINAD_x refused")) || state() != pb.Status_RECORD_FAILED {
		t.Fatalf("refused publish: health %v, want RECORD_FAILED", state())
	}
	rec.usageErr = nil
	if d.checkRecording(ctx, nil) || state() != pb.Status_RECORD_FAILED {
		t.Errorf("after a refusal: health %v, want RECORD_FAILED for the rest of the session", state())
	}
}
