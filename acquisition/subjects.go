package acquisition

import (
	"fmt"
	"log/slog"
	"strings"

	"google.golang.org/protobuf/proto"

	pb "retinad/proto/retinadpb"
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
	Adaptive   string // retinad.<rig>.adaptive: AdaptiveChoice, daemon, one per adaptive clip
	// AllPredictions is the wildcard of every model's prediction subject.
	AllPredictions string // retinad.<rig>.prediction.*
	// All is the wildcard of every subject of the rig.
	All string // retinad.<rig>.>
	// Stream is where FindSession, ReadSession and Export read the rig's recording: "" for the
	// rig's own stream (StreamName), ArchiveStream on the lab hub (see InArchive).
	Stream string
}

// InArchive returns s reading its recordings from the lab hub's archive (ArchiveStream), which
// holds every rig's messages under their own subjects.
func (s Subjects) InArchive() Subjects {
	s.Stream = ArchiveStream
	return s
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

// NewMessage returns an empty message of the type published on subject (a subject of any rig
// under retinad.), or nil when the subject is not one of retinad's. Tools such as `retinad tap`
// decode with it.
func NewMessage(subject string) proto.Message {
	tok := strings.Split(subject, ".")
	if len(tok) < 3 || tok[0] != "retinad" {
		return nil
	}
	switch kind := tok[2]; {
	case kind == "frame" && len(tok) == 3:
		return &pb.FrameOnset{}
	case kind == "prediction" && len(tok) == 4:
		return &pb.Prediction{}
	case kind == "spikes" && len(tok) == 3:
		return &pb.Spikes{}
	case kind == "sync" && len(tok) == 3:
		return &pb.Sync{}
	case kind == "validation" && len(tok) == 3:
		return &pb.ValidationReport{}
	case kind == "status" && len(tok) == 3:
		return &pb.Status{}
	case kind == "event" && len(tok) == 3:
		return &pb.Event{}
	case kind == "session" && len(tok) == 3:
		return &pb.SessionEvent{}
	case kind == "adaptive" && len(tok) == 3:
		return &pb.AdaptiveChoice{}
	case kind == "control" && len(tok) == 4:
		switch tok[3] {
		case EndpointStatus:
			return &pb.StatusRequest{}
		case EndpointStart:
			return &pb.StartSessionRequest{}
		case EndpointStop:
			return &pb.StopSessionRequest{}
		case EndpointLoad:
			return &pb.LoadModelRequest{}
		case EndpointUnload:
			return &pb.UnloadModelRequest{}
		case EndpointStimulus:
			return &pb.ChooseStimulusRequest{}
		case EndpointMark:
			return &pb.MarkEventRequest{}
		}
	}
	return nil
}
