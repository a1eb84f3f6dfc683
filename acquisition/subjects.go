package acquisition

import (
	"log/slog"
	"strings"

	"google.golang.org/protobuf/proto"

	"retinad/proto/contract"
	pb "retinad/proto/retinadpb"
)

// ServiceName is the name of the control service (`nats micro ls` lists it).
const ServiceName = "retinad"

// InArchive returns s reading its recordings from the lab hub's archive (ArchiveStream), which
// holds every rig's messages under their own subjects. (The subjects themselves are the
// contract's: proto/contract.)
func InArchive(s contract.Subjects) contract.Subjects {
	s.Stream = ArchiveStream
	return s
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
