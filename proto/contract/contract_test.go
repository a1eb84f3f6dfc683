package contract

import (
	"strings"
	"testing"
)

func TestSubjectsFor(t *testing.T) {
	s, err := SubjectsFor("rig-1_a")
	if err != nil {
		t.Fatal(err)
	}
	for got, want := range map[string]string{
		s.Root: "retinad.rig-1_a", s.Frame: "retinad.rig-1_a.frame", s.Spikes: "retinad.rig-1_a.spikes",
		s.Control: "retinad.rig-1_a.control", s.All: "retinad.rig-1_a.>",
		s.Prediction("cnn"): "retinad.rig-1_a.prediction.cnn", s.AllPredictions: "retinad.rig-1_a.prediction.*",
	} {
		if got != want {
			t.Errorf("subject %q, want %q", got, want)
		}
	}
	for _, r := range s.Recorded() {
		if r == s.Control || !strings.HasPrefix(r, s.Root+".") {
			t.Errorf("recorded subject %q: want every subject of the rig but control", r)
		}
	}
	for _, bad := range []string{"", "a.b", "a b", "rig*", "rig>", "é"} {
		if _, err := SubjectsFor(bad); err == nil || !strings.HasPrefix(err.Error(), "contract: rig") {
			t.Errorf("SubjectsFor(%q) = %v, want an error naming the rig", bad, err)
		}
	}
}

// FuzzCheckToken holds CheckToken to its promise: what it accepts is one NATS subject token
// (no separator, no wildcard, no white space, not empty), and what it refuses it names.
func FuzzCheckToken(f *testing.F) {
	for _, s := range []string{"rig1", "", "a.b", "*", ">", "a\x00", "Ω"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		err := CheckToken("model name", v)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "contract: model name") {
				t.Fatalf("error %q does not name the value", err)
			}
			return
		}
		if v == "" || strings.ContainsAny(v, ".*> \t\r\n") {
			t.Fatalf("CheckToken accepted %q", v)
		}
		for _, r := range v {
			if r > 127 {
				t.Fatalf("CheckToken accepted non-ASCII %q", v)
			}
		}
	})
}
