package acquisition

import (
	"context"
	"strings"
	"testing"
)

// TestStoreAcksAndUsage publishes through the Store (acknowledged), reads its usage, fills a
// small stream until the store refuses, and checks a max_bytes beyond what the server may store
// is refused with a hint naming recording.max_bytes.
func TestStoreAcksAndUsage(t *testing.T) {
	b := startBus(t, false, true)
	subj := mustSubjects(t, "st")
	ctx := context.Background()
	if err := Record(ctx, b.Conn(), subj, RecordOptions{MaxBytes: 4 << 10}); err != nil {
		t.Fatal(err)
	}
	s, err := b.OpenStore(subj, 0)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 500)
	n := 0
	for ; n < 100; n++ {
		if err = s.Publish(ctx, subj.Status, data); err != nil {
			break
		}
	}
	if err == nil || !strings.Contains(err.Error(), "maximum bytes exceeded") || !strings.Contains(err.Error(), "RETINAD_st refused retinad.st.status") {
		t.Fatalf("after %d messages of 500 bytes into 4 kB: %v, want the stream's refusal", n, err)
	}
	u, err := s.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("refused after %d messages: %+v", n, u)
	if n < 5 || u.Bytes == 0 || u.Bytes > 4<<10 || u.MaxBytes != 4<<10 || u.ServerMax == 0 || !u.DiskKnown || u.DiskFree == 0 {
		t.Errorf("usage %+v after %d messages", u, n)
	}
	waitStored(t, b, subj, uint64(n)) // what was acknowledged is there

	err = Record(ctx, b.Conn(), mustSubjects(t, "huge"), RecordOptions{MaxBytes: int64(u.ServerMax) * 2})
	if err == nil || !strings.Contains(err.Error(), "recording.max_bytes") || !strings.Contains(err.Error(), "lower it") {
		t.Errorf("max_bytes twice the server's limit: %v, want the hint", err)
	}
}
