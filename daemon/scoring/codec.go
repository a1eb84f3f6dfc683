package scoring

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"retinad/configs"
	pb "retinad/proto/retinadpb"
	"retinad/stimulus"
	"retinad/stimulus/adaptive"
)

// Request is a decoded ScoreRequest.
type Request struct {
	Models []ModelID
	Clips  []adaptive.Clip
}

// ModelID is a model's name and the SHA-256 of its file.
type ModelID struct {
	Name   string
	SHA256 [32]byte
}

// maxRequestClips bounds one request.
const maxRequestClips = 1 << 16

// EncodeRequest writes the ScoreRequest for clips scored by models.
func EncodeRequest(models []Model, clips []adaptive.Clip) ([]byte, error) {
	req := &pb.ScoreRequest{}
	for _, m := range models {
		req.Models = append(req.Models, &pb.ScoreModel{Name: m.Name, Sha256: m.SHA256[:]})
	}
	cache := map[configs.Stimulus]string{}
	for i, c := range clips {
		y, ok := cache[c.Stimulus]
		if !ok {
			var err error
			if y, err = stimulus.EncodeYAML(c.Stimulus); err != nil {
				return nil, fmt.Errorf("scoring: clip %d: %w", i, err)
			}
			cache[c.Stimulus] = y
		}
		if err := checkClip(c); err != nil {
			return nil, fmt.Errorf("scoring: clip %d: %w", i, err)
		}
		req.Clips = append(req.Clips, &pb.ScoreClip{StimulusYaml: y, Start: int64(c.Start), Frames: uint32(c.Frames)})
	}
	return proto.Marshal(req)
}

// DecodeRequest reads a ScoreRequest. Every stimulus block must decode strictly (no unknown
// fields) into configs.Stimulus; a bad one is reported with its clip.
func DecodeRequest(data []byte) (Request, error) {
	var req pb.ScoreRequest
	if err := proto.Unmarshal(data, &req); err != nil {
		return Request{}, fmt.Errorf("scoring: malformed ScoreRequest: %w", err)
	}
	if len(req.Models) == 0 || len(req.Clips) == 0 {
		return Request{}, fmt.Errorf("scoring: ScoreRequest with %d models and %d clips: want at least one of each", len(req.Models), len(req.Clips))
	}
	if len(req.Clips) > maxRequestClips {
		return Request{}, fmt.Errorf("scoring: ScoreRequest with %d clips: want at most %d", len(req.Clips), maxRequestClips)
	}
	var r Request
	for i, m := range req.Models {
		if m.GetName() == "" || len(m.GetSha256()) != 32 {
			return Request{}, fmt.Errorf("scoring: ScoreRequest models[%d]: name %q with a %d-byte sha256: want a name and 32 bytes", i, m.GetName(), len(m.GetSha256()))
		}
		id := ModelID{Name: m.GetName()}
		copy(id.SHA256[:], m.GetSha256())
		r.Models = append(r.Models, id)
	}
	cache := map[string]configs.Stimulus{}
	for i, c := range req.Clips {
		cfg, ok := cache[c.GetStimulusYaml()]
		if !ok {
			var err error
			if cfg, err = stimulus.DecodeYAML(c.GetStimulusYaml()); err != nil {
				return Request{}, fmt.Errorf("scoring: ScoreRequest clips[%d].stimulus_yaml: %w", i, err)
			}
			cache[c.GetStimulusYaml()] = cfg
		}
		clip := adaptive.Clip{Stimulus: cfg, Start: int(c.GetStart()), Frames: int(c.GetFrames())}
		if int64(clip.Start) != c.GetStart() {
			return Request{}, fmt.Errorf("scoring: ScoreRequest clips[%d].start %d: out of range", i, c.GetStart())
		}
		if err := checkClip(clip); err != nil {
			return Request{}, fmt.Errorf("scoring: ScoreRequest clips[%d]: %w", i, err)
		}
		r.Clips = append(r.Clips, clip)
	}
	return r, nil
}

// EncodeReply writes the ScoreReply for preds, the rates of Predict.
func EncodeReply(preds [][]adaptive.Rates, worker string, computeNs int64) ([]byte, error) {
	rep := &pb.ScoreReply{Worker: worker, ComputeNs: computeNs}
	for _, clip := range preds {
		res := &pb.ScoreResult{}
		for _, r := range clip {
			res.Models = append(res.Models, &pb.ScoreRates{Model: r.Model, Cells: uint32(r.Cells), Rates: r.Rates})
		}
		rep.Clips = append(rep.Clips, res)
	}
	return proto.Marshal(rep)
}

// MaxRate is the ceiling on a plausible rate in a worker's reply, in spikes/s. A ganglion
// cell's refractory period (about 1 ms) keeps real firing below 1000 spikes/s, but fitted
// models overshoot on strong contrast (the bundled LN reaches 1332 spikes/s on binary white
// noise), so the ceiling is ten times that bound: it refuses absurd values outright, and the
// Pool's recomputed sample catches plausible-looking forgeries.
const MaxRate = 10000

// DecodeReply reads a ScoreReply and checks it answers clips with models: one result per clip,
// one set of rates per model in order, frames*cells of them, cells as the model has, each a
// finite rate in [0, MaxRate]. It does not say the rates are right: Pool recomputes a sample.
func DecodeReply(data []byte, models []Model, clips []adaptive.Clip) ([][]adaptive.Rates, *pb.ScoreReply, error) {
	var rep pb.ScoreReply
	if err := proto.Unmarshal(data, &rep); err != nil {
		return nil, nil, fmt.Errorf("malformed ScoreReply: %w", err)
	}
	if len(rep.Clips) != len(clips) {
		return nil, nil, fmt.Errorf("ScoreReply from %q with %d clips, want %d", rep.Worker, len(rep.Clips), len(clips))
	}
	out := make([][]adaptive.Rates, len(clips))
	for i, res := range rep.Clips {
		if len(res.GetModels()) != len(models) {
			return nil, nil, fmt.Errorf("ScoreReply from %q: clips[%d] with %d models, want %d", rep.Worker, i, len(res.GetModels()), len(models))
		}
		out[i] = make([]adaptive.Rates, len(models))
		for k, r := range res.GetModels() {
			m := models[k]
			cells := len(m.Model.Cells)
			if r.GetModel() != m.Name || int(r.GetCells()) != cells || len(r.GetRates()) != clips[i].Frames*cells {
				return nil, nil, fmt.Errorf("ScoreReply from %q: clips[%d].models[%d]: %q, %d cells, %d rates; want %q, %d cells, %d rates",
					rep.Worker, i, k, r.GetModel(), r.GetCells(), len(r.GetRates()), m.Name, cells, clips[i].Frames*cells)
			}
			if err := plausible(r.GetRates(), cells); err != nil {
				return nil, nil, fmt.Errorf("ScoreReply from %q: clips[%d].models[%d] (%s): %w", rep.Worker, i, k, m.Name, err)
			}
			out[i][k] = adaptive.Rates{Model: m.Name, Cells: cells, Rates: r.GetRates()}
		}
	}
	return out, &rep, nil
}

// plausible checks a worker's rates, row-major [frames, cells]: finite, not negative, at most
// MaxRate. NaN would otherwise reach the choice as a score of 0.
func plausible(rates []float32, cells int) error {
	for j, r := range rates {
		if !(r >= 0 && r <= MaxRate) { // false for NaN too
			return fmt.Errorf("rates[%d] (frame %d, cell %d) is %v spikes/s: want a finite rate in [0, %d]", j, j/cells, j%cells, r, MaxRate)
		}
	}
	return nil
}
