package acquisition

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ArchiveStream is the lab hub's stream that sources every rig's recording. Its name cannot be
// a rig's stream (StreamName uses '_' after RETINAD).
const ArchiveStream = "RETINAD-ARCHIVE"

// ArchiveRig is one rig whose recording the archive sources: its id and its embedded server's
// JetStream domain (LeafDomain).
type ArchiveRig struct {
	Rig, Domain string
}

// ArchiveOptions set up the archive stream.
type ArchiveOptions struct {
	Replicas int // copies in the hub cluster (3 for a cluster of three); 0: 1
	// MaxBytes bounds the archive; once full it refuses more (DiscardNew) and the rigs keep
	// their recordings until it has room. 0: no limit.
	MaxBytes int64
}

// Archive makes sure the hub (conn's server, in its own JetStream domain) has the lab archive
// stream, sourcing the recording stream of every rig in rigs across the leaf connections
// ($JS.<domain>.API). The hub's servers pull from each rig themselves and resume where they
// stopped after an outage, so the rig records locally whatever the network does. Messages keep
// their subjects (retinad.<rig>....), and each rig's in their recorded order.
//
// As Record, Archive never deletes or recreates the stream: rigs missing from an existing
// archive are added; sources it has and rigs lacks are kept.
func Archive(ctx context.Context, conn *nats.Conn, rigs []ArchiveRig, o ArchiveOptions) error {
	js, err := jetstream.New(conn)
	if err != nil {
		return fmt.Errorf("acquisition: archive: %w", err)
	}
	want := jetstream.StreamConfig{
		Name:        ArchiveStream,
		Description: "retinad: every rig's recording, sourced over the leaf connections",
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardNew,
		MaxBytes:    o.MaxBytes,
		MaxMsgSize:  8 << 20,
		Replicas:    max(o.Replicas, 1),
	}
	if want.MaxBytes <= 0 {
		want.MaxBytes = -1
	}
	for _, r := range rigs {
		if err := CheckToken("rig", r.Rig); err != nil {
			return err
		}
		if err := CheckToken("rig "+r.Rig+" domain", r.Domain); err != nil {
			return err
		}
		want.Sources = append(want.Sources, archiveSource(r))
	}
	s, err := js.Stream(ctx, ArchiveStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err := js.CreateStream(ctx, want); err != nil {
			return fmt.Errorf("acquisition: create archive stream %s: %w", ArchiveStream, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("acquisition: archive stream %s: %w", ArchiveStream, err)
	}
	upd := s.CachedInfo().Config
	n := len(upd.Sources)
	for _, src := range want.Sources {
		if !slices.ContainsFunc(upd.Sources, func(h *jetstream.StreamSource) bool {
			return h.Name == src.Name && h.External != nil && *h.External == *src.External
		}) {
			upd.Sources = append(upd.Sources, src)
		}
	}
	if len(upd.Sources) == n {
		return nil
	}
	if _, err := js.UpdateStream(ctx, upd); err != nil {
		return fmt.Errorf("acquisition: add rigs to archive stream %s: %w", ArchiveStream, err)
	}
	return nil
}

// archiveSource is rig r's recording seen from the hub, through its domain's JetStream API.
func archiveSource(r ArchiveRig) *jetstream.StreamSource {
	return &jetstream.StreamSource{
		Name:     StreamName(r.Rig),
		External: &jetstream.ExternalStream{APIPrefix: "$JS." + r.Domain + ".API"},
	}
}
