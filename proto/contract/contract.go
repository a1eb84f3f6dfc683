// Package contract holds the NATS subjects of retinad's contract (proto/README.md, "Subjects")
// and the check that a rig id, model name or session id can be one token of them. It sits beside
// the messages (proto/retinadpb) so that every side of the contract (the daemon, the acquisition
// package, the dashboard, tools) names the subjects from one place. Pure functions; safe from
// any goroutine.
package contract

import (
	"fmt"
	"strings"
)

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
	Adaptive   string // retinad.<rig>.adaptive: AdaptiveChoice, daemon, one per adaptive clip
	// AllPredictions is the wildcard of every model's prediction subject.
	AllPredictions string // retinad.<rig>.prediction.*
	// All is the wildcard of every subject of the rig.
	All string // retinad.<rig>.>
	// Stream is the JetStream stream the rig's recording is read from: "" for the rig's own
	// stream (RETINAD_<rig>); the lab hub's archive otherwise (acquisition.InArchive).
	Stream string
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
		Adaptive:       root + ".adaptive",
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
	return []string{s.Frame, s.AllPredictions, s.Spikes, s.Sync, s.Validation, s.Status, s.Event, s.Session, s.Adaptive}
}

// CheckToken reports whether v can be one token of a subject (a rig id, a model name, a session
// id): non-empty, only ASCII letters, digits, '-' and '_'. what names the value in the error.
func CheckToken(what, v string) error {
	if v == "" {
		return fmt.Errorf("contract: %s is empty; want letters, digits, '-' or '_'", what)
	}
	if i := strings.IndexFunc(v, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}); i >= 0 {
		return fmt.Errorf("contract: %s %q: character %q at %d is not allowed in a NATS subject token; want letters, digits, '-' or '_'", what, v, v[i], i)
	}
	return nil
}
