package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"retinad/acquisition"
	"retinad/proto/contract"
)

// tapCommand is `retinad tap`, in the command table (main.go).
func tapCommand() command {
	return command{
		name:    "tap",
		args:    "[--subject S | --rig R] [--json] [--count N] [--server URL] [credentials: --user U --password P | --nkey SEEDFILE | --creds FILE] [--tls-ca PEM]",
		summary: "print live retinad messages from NATS, decoded (like `nats sub`)",
		run:     runTap,
	}
}

func runTap(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	subject := fs.String("subject", "retinad.>", "subject to subscribe to (wildcards allowed)")
	rig := fs.String("rig", "", "rig R's recorded messages as the lab archive of the hub at --server receives them (README \"A lab with several rigs\")")
	asJSON := fs.Bool("json", false, `one JSON object per line: {"subject": ..., "message": <protobuf canonical JSON>}`)
	count := fs.Int("count", 0, "stop after this many messages (0: until interrupted)")
	server := addNATSFlags(fs, "server", "nats://127.0.0.1:4222", "NATS server URL (the embedded server's default listener)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	var archived contract.Subjects // --rig's
	if *rig != "" {
		if flagGiven(fs, "subject") {
			return fmt.Errorf("%w: --rig %s reads all of the rig's recorded subjects from the lab archive: give --rig or --subject, not both", errUsage, *rig)
		}
		var err error
		if archived, err = contract.SubjectsFor(*rig); err != nil {
			return fmt.Errorf("%w: --rig: %v", errUsage, err)
		}
	}
	// A refused subscription is reported asynchronously; it ends the tap with the reason.
	refused := make(chan error, 1)
	server.refused = func(err error) {
		select {
		case refused <- err:
		default:
		}
	}
	nc, err := server.connect("retinad tap", nats.MaxReconnects(-1))
	if err != nil {
		return err
	}
	defer nc.Close()
	if *rig != "" {
		return tapArchive(ctx, e, nc, *server.url, archived, *asJSON, *count)
	}
	msgs := make(chan *nats.Msg, 4096)
	sub, err := nc.ChanSubscribe(*subject, msgs)
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", *subject, err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		return fmt.Errorf("subscribe %s: %w", *subject, err)
	}
	for n := 0; *count == 0 || n < *count; n++ {
		select {
		case <-ctx.Done():
			return nil
		case err := <-refused:
			return fmt.Errorf("subscribe %s: refused by the NATS server (%v): a client may subscribe only to its role's subjects, e.g. --subject 'retinad.<rig>.>'", *subject, err)
		case m := <-msgs:
			line, err := tapLine(m.Subject, m.Data, *asJSON, time.Now())
			if err != nil {
				return err
			}
			if _, err := e.stdout.Write(line); err != nil {
				return err
			}
		}
	}
	return nil
}

// tapArchive prints the messages of subj's rig as the lab hub's archive stores them, from now on. On the hub
// a rig's recorded subjects arrive through the archive's sourcing, not as live messages: the
// rig's leaf connection refuses the hub's messages on those subjects, and nats-server then
// does not forward them to the hub's wildcard subscriptions either (acquisition.leafOptions).
// The archive keeps each rig's order; its delay behind the rig is the sourcing's, milliseconds
// while the rig's link is up.
func tapArchive(ctx context.Context, e *env, nc *nats.Conn, url string, subj contract.Subjects, asJSON bool, count int) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("the lab archive %s: %w", acquisition.ArchiveStream, err)
	}
	cons, err := js.OrderedConsumer(ctx, acquisition.ArchiveStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subj.All}, DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		return fmt.Errorf("the lab archive %s at %s (--rig reads a hub's archive; `retinad archive` makes it): %w", acquisition.ArchiveStream, url, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("the lab archive %s: %w", acquisition.ArchiveStream, err)
	}
	defer it.Stop()
	defer context.AfterFunc(ctx, it.Stop)() // Next returns once ctx ends
	for n := 0; count == 0 || n < count; n++ {
		m, err := it.Next()
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("the lab archive %s: %w", acquisition.ArchiveStream, err)
		}
		line, err := tapLine(m.Subject(), m.Data(), asJSON, time.Now())
		if err != nil {
			return err
		}
		if _, err := e.stdout.Write(line); err != nil {
			return err
		}
	}
	return nil
}

// flagGiven reports whether the flag name was given on the command line (not just defaulted).
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// tapLine formats one message: human-readable text, or a JSON object. A payload that does not
// decode is shown with the decoding error and its bytes (base64 in JSON).
func tapLine(subject string, data []byte, asJSON bool, now time.Time) ([]byte, error) {
	m := acquisition.NewMessage(subject)
	var decodeErr error
	if m == nil {
		decodeErr = fmt.Errorf("not a retinad subject")
	} else if err := proto.Unmarshal(data, m); err != nil {
		decodeErr = err
	}
	if asJSON {
		obj := struct {
			Subject string          `json:"subject"`
			Message json.RawMessage `json:"message,omitempty"`
			Error   string          `json:"error,omitempty"`
			Data    string          `json:"data,omitempty"`
		}{Subject: subject}
		if decodeErr == nil {
			js, err := protojson.Marshal(m)
			if err != nil {
				return nil, err
			}
			var c bytes.Buffer
			if err := json.Compact(&c, js); err != nil {
				return nil, err
			}
			obj.Message = c.Bytes()
		} else {
			obj.Error, obj.Data = decodeErr.Error(), base64.StdEncoding.EncodeToString(data)
		}
		line, err := json.Marshal(obj)
		return append(line, '\n'), err
	}
	ts := now.UTC().Format("15:04:05.000")
	if decodeErr != nil {
		return fmt.Appendf(nil, "%s %s: %d bytes, undecoded: %v\n", ts, subject, len(data), decodeErr), nil
	}
	return fmt.Appendf(nil, "%s %s %s: %s\n", ts, subject, m.ProtoReflect().Descriptor().Name(), prototext.MarshalOptions{}.Format(m)), nil
}
