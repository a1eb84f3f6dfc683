package acquisition

import (
	"context"
	"errors"
	"fmt"
	"retinad/proto/contract"
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
// Each rig delivers on subjects of its own (ArchiveDeliverPrefix), the only ones of the
// archive's its leaf user may publish on a hub with LeafPermissions.
//
// As Record, Archive never deletes or recreates the stream: rigs missing from an existing
// archive are added, a source made before the deliver prefixes gets its rig's, and sources it
// has and rigs lacks are kept.
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
		if err := contract.CheckToken("rig", r.Rig); err != nil {
			return fmt.Errorf("acquisition: %w", err)
		}
		if err := contract.CheckToken("rig "+r.Rig+" domain", r.Domain); err != nil {
			return fmt.Errorf("acquisition: %w", err)
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
	changed := false
	for _, src := range want.Sources {
		i := slices.IndexFunc(upd.Sources, func(h *jetstream.StreamSource) bool {
			return h.Name == src.Name && h.External != nil && h.External.APIPrefix == src.External.APIPrefix
		})
		switch {
		case i < 0:
			upd.Sources, changed = append(upd.Sources, src), true
		case *upd.Sources[i].External != *src.External: // made before the rigs' deliver prefixes
			upd.Sources[i].External, changed = src.External, true
		}
	}
	if !changed {
		return nil
	}
	if _, err := js.UpdateStream(ctx, upd); err != nil {
		return fmt.Errorf("acquisition: add rigs to archive stream %s: %w", ArchiveStream, err)
	}
	return nil
}

// archiveSource is rig r's recording seen from the hub, through its domain's JetStream API,
// delivered on subjects of its own (ArchiveDeliverPrefix) that the hub lets only r's leaf
// connection publish.
func archiveSource(r ArchiveRig) *jetstream.StreamSource {
	return &jetstream.StreamSource{
		Name:     StreamName(r.Rig),
		External: &jetstream.ExternalStream{APIPrefix: "$JS." + r.Domain + ".API", DeliverPrefix: ArchiveDeliverPrefix(r.Rig)},
	}
}

// ArchiveDeliverPrefix is where rig's recording is delivered to the archive on the hub
// (retinad-archive.<rig>). Without a prefix of its own every rig would deliver on $JS.S.>,
// which each rig's leaf connection would then need to publish, and one rig could push messages
// into another's sourcing.
func ArchiveDeliverPrefix(rig string) string { return "retinad-archive." + rig }
