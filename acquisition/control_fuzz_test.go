package acquisition

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/micro"
	"google.golang.org/protobuf/proto"

	pb "retinad/proto/retinadpb"
)

// fakeRequest is a micro.Request that records the reply instead of sending it.
type fakeRequest struct {
	data, reply []byte
	headers     micro.Headers
	code        string
	ok          bool
	replies     int
}

func (r *fakeRequest) Respond(d []byte, _ ...micro.RespondOpt) error {
	r.reply, r.ok, r.replies = d, true, r.replies+1
	return nil
}
func (r *fakeRequest) RespondJSON(any, ...micro.RespondOpt) error { r.replies++; return nil }
func (r *fakeRequest) Error(code, _ string, _ []byte, _ ...micro.RespondOpt) error {
	r.code, r.replies = code, r.replies+1
	return nil
}
func (r *fakeRequest) Data() []byte           { return r.data }
func (r *fakeRequest) Headers() micro.Headers { return r.headers }
func (r *fakeRequest) Subject() string        { return "retinad.fuzz.control.x" }
func (r *fakeRequest) Reply() string          { return "_INBOX.x" }

// FuzzControl feeds arbitrary request bodies to every endpoint's handler: each gets exactly one
// reply, either a valid reply message or an error reply, and nothing panics.
func FuzzControl(f *testing.F) {
	for _, d := range malformed {
		f.Add(uint8(0), d)
	}
	for i, m := range examples() {
		d, _ := proto.Marshal(m)
		f.Add(uint8(i), d)
	}
	c := &Control{}
	ctx := context.Background()
	d := &fakeDaemon{models: map[string]bool{"cnn": true}}
	handlers := []micro.HandlerFunc{
		c.handle(ctx, discard, &pb.StatusRequest{}, func(ctx context.Context, _ proto.Message) (proto.Message, error) {
			s, err := d.Status(ctx)
			return &pb.StatusReply{Status: s}, err
		}),
		handler(c, ctx, discard, d.StartSession),
		handler(c, ctx, discard, d.StopSession),
		handler(c, ctx, discard, d.LoadModel),
		handler(c, ctx, discard, d.UnloadModel),
		handler(c, ctx, discard, d.ChooseStimulus),
		handler(c, ctx, discard, d.MarkEvent),
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		r := &fakeRequest{data: data}
		handlers[int(which)%len(handlers)](r)
		if r.replies != 1 {
			t.Fatalf("%d replies, want 1", r.replies)
		}
		if r.ok == (r.code != "") {
			t.Fatalf("ok reply %v and error code %q: want exactly one", r.ok, r.code)
		}
	})
}
