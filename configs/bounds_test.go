package configs

import (
	"errors"
	"strings"
	"testing"
)

// TestBoundsRefused parses configs that check-config passed and run crashed on (or that would
// run forever or allocate without bound), each with one value past its bound, and checks that
// the problem is reported at its field path with the bound.
func TestBoundsRefused(t *testing.T) {
	for _, c := range []struct {
		yaml, path, want string
	}{
		{"display: {refresh: 1e300Hz}", "display.refresh", "want at most 1000Hz"},
		{"display: {refresh: 0.001Hz}", "display.refresh", "want at least 1Hz"},
		{"stimulus: {frame_rate: 1e-300Hz}", "stimulus.frame_rate", "want at least 0.1Hz"},
		{"stimulus: {height: 100000, width: 100000}", "stimulus.height", "want at most 1024"},
		{"stimulus: {height: 100000, width: 100000}", "stimulus.width", "want at most 1024"},
		{"validation: {window: 1000000h}", "validation.window", "want at most 1h0m0s"},
		{"validation: {window: -5s}", "validation.window", "want a positive value"},
		{"acquisition: {cells: 100000000}", "acquisition.cells", "want at most 10000"},
		{"acquisition: {clock_offset: 100000h}", "acquisition.clock_offset", "in magnitude"},
		{"nats: {publish_queue: 1000000000}", "nats.publish_queue", "want at most 1048576"},
		{"display: {width: 100000}", "display.width", "want at most 16384"},
		{"photodiode: {read_timeout: 1h}", "photodiode.read_timeout", "want at most 10s"},
		{"photodiode: {sim: {latency: -1s}}", "photodiode.sim.latency", "want zero or more"},
		{"dashboard: {status_every: 1us}", "dashboard.status_every", "want at least 10ms"},
		{"dashboard: {listen: 8080}", "dashboard.listen", "want host:port"},
		{"dashboard: {listen: \"127.0.0.1:http-alt\"}", "dashboard.listen", "is not a TCP port number"},
		{"dashboard: {listen: \"0.0.0.0:8080\"}", "dashboard.listen", "not a loopback address"},
		{"stimulus: {kind: flash, flash: {on: 100h}}", "stimulus.flash.on", "want at most 1h0m0s"},
		{"control: {max_model_bytes: 1}", "control.max_model_bytes", "want 1024 to"},
		{"control: {model_dirs: [/nonexistent/models]}", "control.model_dirs[0]", "no such folder"},
	} {
		_, err := Parse("bad.yaml", []byte(c.yaml+"\nrecording: {enabled: false}\nmodels: []\n"))
		var ps *Problems
		if !errors.As(err, &ps) {
			t.Errorf("%s: got %v, want problems", c.yaml, err)
			continue
		}
		found := false
		for _, p := range ps.List {
			if p.Path == c.path && strings.Contains(p.Msg, c.want) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no problem at %s with %q in:\n%v", c.yaml, c.path, c.want, err)
		}
	}
	// The example configs are inside every bound.
	for _, f := range []string{"sim.yaml", "rig.yaml"} {
		if _, err := Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
