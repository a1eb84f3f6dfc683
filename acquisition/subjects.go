package acquisition

import (
	"fmt"
	"log/slog"
	"strings"
)

// ServiceName is the name of the control service (`nats micro ls` lists it).
const ServiceName = "retinad"

// Subjects are the NATS subjects of one rig, all under retinad.<rig>. See proto/README.md for
// the message type, rate and publisher of each.
type Subjects struct {
	Rig        string
	Root       string // retinad.<rig>
	Frame      string // retinad.<rig>.frame: FrameOnset, daemon, one per stimulus frame
	Spikes     string // retinad.<rig>.spikes: Spikes, acquisition system
	Sync       string // retinad.<rig>.sync: Sync, acquisition system
	Validation string // retinad.<rig>.validation: ValidationReport, daemon
	Status     string // retinad.<rig>.status: Status, daemon
	Event      string // retinad.<rig>.event: Event, daemon (marks)
	Session    string // retinad.<rig>.session: SessionEvent, daemon (start/stop)
	Control    string // retinad.<rig>.control: prefix of the control service's endpoints
	// AllPredictions is the wildcard of every model's prediction subject.
	AllPredictions string // retinad.<rig>.prediction.*
	// All is the wildcard of every subject of the rig.
	All string // retinad.<rig>.>
}

// SubjectsFor returns the subjects of rig. The rig id must be a valid subject token (letters,
// digits, '-' and '_'); see CheckToken.
func SubjectsFor(rig string) (Subjects, error) {
	if err := CheckToken("rig", rig); err != nil {
		return Subjects{}, err
	}
	root := "retinad." + rig
	return Subjects{
		Rig:            rig,
		Root:           root,
		Frame:          root + ".frame",
		Spikes:         root + ".spikes",
		Sync:           root + ".sync",
		Validation:     root + ".validation",
		Status:         root + ".status",
		Event:          root + ".event",
		Session:        root + ".session",
		Control:        root + ".control",
		AllPredictions: root + ".prediction.*",
		All:            root + ".>",
	}, nil
}

// Prediction is the subject of model's predictions: retinad.<rig>.prediction.<model>. The
// model name must be a valid subject token (CheckToken); the daemon checks names at load.
func (s Subjects) Prediction(model string) string {
	return s.Root + ".prediction." + model
}

// Recorded is the list of subjects a session recording captures: everything but control.
func (s Subjects) Recorded() []string {
	return []string{s.Frame, s.AllPredictions, s.Spikes, s.Sync, s.Validation, s.Status, s.Event, s.Session}
}

// CheckToken reports whether v can be one token of a subject (a rig id or a model name):
// non-empty, only ASCII letters, digits, '-' and '_'. what names the value in the error.
func CheckToken(what, v string) error {
	if v == "" {
		return fmt.Errorf("acquisition: %s is empty; want letters, digits, '-' or '_'", what)
	}
	if i := strings.IndexFunc(v, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}); i >= 0 {
		return fmt.Errorf("acquisition: %s %q: character %q at %d is not allowed in a NATS subject token; want letters, digits, '-' or '_'", what, v, v[i], i)
	}
	return nil
}

var discard = slog.New(slog.DiscardHandler)
