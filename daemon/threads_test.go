package daemon

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestLoadModelThreads: a control load asking for fewer than 0 or more than infer.MaxThreads
// cores is refused as a bad request (a 400) that names the field, before any file is read.
func TestLoadModelThreads(t *testing.T) {
	d := &Daemon{}
	for _, n := range []int{-1, 65} {
		_, err := d.LoadModel(context.Background(), LoadRequest{Name: "big", File: "m.rtm", Threads: n})
		if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "threads") {
			t.Errorf("threads %d: %v, want a bad request naming threads", n, err)
		}
	}
}
