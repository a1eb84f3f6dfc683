package daemon

import (
	"context"
	"errors"
	"strings"
	"testing"

	"retinad/acquisition"
)

// TestLoadModelThreads: a control load asking for fewer than 0 or more than infer.MaxThreads
// cores is refused with a 400 that names the field, before any file is read.
func TestLoadModelThreads(t *testing.T) {
	d := &Daemon{}
	for _, n := range []int{-1, 65} {
		_, err := d.LoadModel(context.Background(), LoadRequest{Name: "big", File: "m.rtm", Threads: n})
		var ce *acquisition.ControlError
		if !errors.As(err, &ce) || ce.Code != "400" || !strings.Contains(err.Error(), "threads") {
			t.Errorf("threads %d: %v, want a 400 naming threads", n, err)
		}
	}
}
