package scoring

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"retinad/configs"
	pb "retinad/proto/retinadpb"
	"retinad/stimulus/adaptive"
)

// Every field of a stimulus config survives the trip through the request exactly.
func TestRequestCarriesTheStimulusExactly(t *testing.T) {
	models := testModels(t)
	odd := configs.Stimulus{Kind: "natural", FrameRate: 119.99999999999997, Height: 50, Width: 50,
		Seed: 1<<64 - 3, Mean: 0.1 + 0.2,
		WhiteNoise: configs.WhiteNoise{Distribution: "gaussian", Checker: 3, Contrast: 1.0 / 3},
		Flicker:    configs.Flicker{Distribution: "binary", Contrast: 5e-324},
		Flash:      configs.Flash{On: configs.Duration(1234567891), Off: configs.Duration(1), Contrast: -0.7},
		Grating:    configs.Grating{Period: 12.345678901234567, Speed: 1e-9, Orientation: -45, Contrast: 1},
		Natural:    configs.Natural{Dir: "/photos/with: colon # and hash", Hold: configs.Duration(3600e9 + 7), Jitter: 0.5, Contrast: 0.35},
		Movie:      configs.Movie{File: "héllo\n.npy", Loop: true},
	}
	clips := []adaptive.Clip{{Stimulus: odd, Start: 1<<31 - 1, Frames: 100}, {Stimulus: whiteNoise(7), Start: 0, Frames: 1}, {Stimulus: odd, Start: 5, Frames: 2}}
	data, err := EncodeRequest(models, clips)
	if err != nil {
		t.Fatal(err)
	}
	req, err := DecodeRequest(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Clips) != len(clips) || len(req.Models) != 2 {
		t.Fatalf("decoded %d clips and %d models", len(req.Clips), len(req.Models))
	}
	for i := range clips {
		if req.Clips[i] != clips[i] {
			t.Errorf("clip %d: decoded %+v, sent %+v", i, req.Clips[i], clips[i])
		}
	}
	for k, m := range models {
		if req.Models[k].Name != m.Name || req.Models[k].SHA256 != m.SHA256 {
			t.Errorf("model %d: decoded %s %x", k, req.Models[k].Name, req.Models[k].SHA256)
		}
	}
}

func TestDecodeRequestNamesTheProblem(t *testing.T) {
	models := testModels(t)
	good := &pb.ScoreClip{StimulusYaml: "kind: gray\nheight: 50\nwidth: 50\n", Frames: 10}
	id := &pb.ScoreModel{Name: "cnn", Sha256: models[0].SHA256[:]}
	for _, tc := range []struct {
		req  *pb.ScoreRequest
		want string
	}{
		{&pb.ScoreRequest{Clips: []*pb.ScoreClip{good}}, "0 models and 1 clips"},
		{&pb.ScoreRequest{Models: []*pb.ScoreModel{id}}, "1 models and 0 clips"},
		{&pb.ScoreRequest{Models: []*pb.ScoreModel{{Name: "cnn", Sha256: []byte{1, 2}}}, Clips: []*pb.ScoreClip{good}}, `models[0]: name "cnn" with a 2-byte sha256`},
		{&pb.ScoreRequest{Models: []*pb.ScoreModel{id}, Clips: []*pb.ScoreClip{good, {StimulusYaml: "kind: gray\ncolour: red\n", Frames: 1}}}, "clips[1].stimulus_yaml: stimulus: YAML block: yaml: unmarshal errors:\n  line 2: field colour not found"},
		{&pb.ScoreRequest{Models: []*pb.ScoreModel{id}, Clips: []*pb.ScoreClip{{StimulusYaml: "frame_rate: 100\n", Frames: 1}}}, "clips[0].stimulus_yaml: stimulus: YAML block: yaml: unmarshal errors"},
		{&pb.ScoreRequest{Models: []*pb.ScoreModel{id}, Clips: []*pb.ScoreClip{{StimulusYaml: "kind: gray\n---\nkind: gray\n", Frames: 1}}}, "more than one YAML document"},
		{&pb.ScoreRequest{Models: []*pb.ScoreModel{id}, Clips: []*pb.ScoreClip{{StimulusYaml: "kind: gray\n", Start: -1, Frames: 1}}}, "clips[0]: start -1 frames 1"},
		{&pb.ScoreRequest{Models: []*pb.ScoreModel{id}, Clips: []*pb.ScoreClip{{StimulusYaml: "kind: gray\n", Frames: 1 << 30}}}, "clips[0]: start 0 frames 1073741824"},
	} {
		data, _ := proto.Marshal(tc.req)
		_, err := DecodeRequest(data)
		if err == nil || !strings.HasPrefix(err.Error(), "scoring: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want one with %q", err, tc.want)
		}
	}
	if _, err := DecodeRequest([]byte{0xff, 0xff}); err == nil || !strings.Contains(err.Error(), "malformed ScoreRequest") {
		t.Errorf("garbage: %v", err)
	}
}

func TestDecodeReplyChecksTheShape(t *testing.T) {
	models := testModels(t)
	clips := []adaptive.Clip{{Stimulus: whiteNoise(1), Frames: 2}}
	rates := func(model string, cells, n int) adaptive.Rates {
		return adaptive.Rates{Model: model, Cells: cells, Rates: make([]float32, n)}
	}
	ok := [][]adaptive.Rates{{rates("cnn", 16, 32), rates("ln", 16, 32)}}
	data, _ := EncodeReply(ok, "w1", 5)
	if preds, rep, err := DecodeReply(data, models, clips); err != nil || len(preds) != 1 || rep.Worker != "w1" {
		t.Fatalf("good reply: %v", err)
	}
	for _, tc := range []struct {
		preds [][]adaptive.Rates
		want  string
	}{
		{nil, "with 0 clips, want 1"},
		{[][]adaptive.Rates{{rates("cnn", 16, 32)}}, "clips[0] with 1 models, want 2"},
		{[][]adaptive.Rates{{rates("ln", 16, 32), rates("cnn", 16, 32)}}, `clips[0].models[0]: "ln"`},
		{[][]adaptive.Rates{{rates("cnn", 16, 31), rates("ln", 16, 32)}}, "16 cells, 31 rates; want \"cnn\", 16 cells, 32 rates"},
		{[][]adaptive.Rates{{rates("cnn", 15, 32), rates("ln", 16, 32)}}, "15 cells"},
	} {
		data, _ := EncodeReply(tc.preds, "w1", 5)
		_, _, err := DecodeReply(data, models, clips)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `"w1"`) {
			t.Errorf("error %v, want one with %q and the worker", err, tc.want)
		}
	}
}

// FuzzDecodeRequest: any bytes give a request or an error, never a panic; a request that
// decodes encodes back to one that decodes the same.
func FuzzDecodeRequest(f *testing.F) {
	models := testModels(f)
	for _, clips := range [][]adaptive.Clip{testClips(3, 100), {{Stimulus: grating(10), Start: 3, Frames: 1}}} {
		data, err := EncodeRequest(models, clips)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte{})
	f.Add([]byte("\x0a\x05\x0a\x03cnn\x12\x0akind: gray"))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := DecodeRequest(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "scoring: ") {
				t.Fatalf("error without the package name: %v", err)
			}
			return
		}
		if len(req.Models) == 0 || len(req.Clips) == 0 {
			t.Fatal("decoded a request without models or clips")
		}
		ms := make([]Model, len(req.Models))
		for i, id := range req.Models {
			ms[i] = Model{Name: id.Name, SHA256: id.SHA256}
		}
		again, err := EncodeRequest(ms, req.Clips)
		if err != nil {
			t.Fatalf("a decoded request does not encode: %v", err)
		}
		req2, err := DecodeRequest(again)
		if err != nil {
			t.Fatalf("re-encoded request does not decode: %v", err)
		}
		for i := range req.Clips {
			if req.Clips[i] != req2.Clips[i] {
				t.Fatalf("clip %d: %+v then %+v", i, req.Clips[i], req2.Clips[i])
			}
		}
		if !bytes.Equal(again, mustEncode(t, ms, req2.Clips)) {
			t.Fatal("encoding is not stable")
		}
	})
}

func mustEncode(t *testing.T, ms []Model, clips []adaptive.Clip) []byte {
	b, err := EncodeRequest(ms, clips)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzDecodeReply: a worker's reply, whatever its bytes, gives rates of the asked shape or an
// error, never a panic.
func FuzzDecodeReply(f *testing.F) {
	models := testModels(f)
	clips := testClips(2, 3)
	preds := make([][]adaptive.Rates, len(clips))
	for i := range preds {
		for _, m := range models {
			preds[i] = append(preds[i], adaptive.Rates{Model: m.Name, Cells: 16, Rates: make([]float32, 3*16)})
		}
	}
	good, err := EncodeReply(preds, "w", 1)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	preds[1][0].Rates[5] = float32(math.NaN())
	nan, err := EncodeReply(preds, "w", 1)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(nan)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, _, err := DecodeReply(data, models, clips)
		if err != nil {
			return
		}
		for i := range clips {
			for k := range models {
				if got[i][k].Cells != 16 || len(got[i][k].Rates) != clips[i].Frames*16 {
					t.Fatalf("clip %d model %d: %d cells, %d rates", i, k, got[i][k].Cells, len(got[i][k].Rates))
				}
				for j, r := range got[i][k].Rates {
					if !(r >= 0 && r <= MaxRate) {
						t.Fatalf("clip %d model %d rate %d: %v accepted, want a finite rate in [0, MaxRate]", i, k, j, r)
					}
				}
			}
		}
	})
}
