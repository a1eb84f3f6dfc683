package stimulus

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"retinad/configs"
	pb "retinad/proto/retinadpb"
)

// Proto is d as the StimulusSource message that FrameOnset.source carries: parameters sorted by
// name (one description, one encoding), the file's SHA-256, and, for a reproducible source, the
// stimulus block as YAML, which with a frame index is all `retinad export` needs to make the
// frame again. It allocates; build it once per source (or adaptive clip), never per frame.
func (d Description) Proto() *pb.StimulusSource {
	m := &pb.StimulusSource{
		Kind: d.Kind, Seed: d.Seed, Height: uint32(d.Height), Width: uint32(d.Width),
		FrameRateHz: d.FrameRate, Mean: d.Mean, File: d.File, Reproducible: d.Reproducible,
		FileSha256: d.FileSHA256,
	}
	names := make([]string, 0, len(d.Params))
	for k := range d.Params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		m.Params = append(m.Params, &pb.Param{Name: k, Value: d.Params[k]})
	}
	if d.Reproducible {
		y, err := EncodeYAML(d.Config)
		if err != nil { // a plain struct always encodes; never rebuild from a partial record
			m.Reproducible = false
		}
		m.StimulusYaml = y
	}
	return m
}

// EncodeYAML writes a stimulus block as the YAML that DecodeYAML (and a config file) reads,
// leaving out the empty sub-blocks of other kinds (every frame onset carries it: a natural
// scene's is about 140 bytes instead of 410).
func EncodeYAML(cfg configs.Stimulus) (string, error) {
	var n yaml.Node
	if err := n.Encode(cfg); err != nil {
		return "", fmt.Errorf("stimulus: %s block as YAML: %w", cfg.Kind, err)
	}
	empty := map[string]bool{
		"whitenoise": cfg.WhiteNoise == configs.WhiteNoise{}, "flicker": cfg.Flicker == configs.Flicker{},
		"flash": cfg.Flash == configs.Flash{}, "grating": cfg.Grating == configs.Grating{},
		"natural": cfg.Natural == configs.Natural{}, "movie": cfg.Movie == configs.Movie{},
	}
	kept := n.Content[:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i].Value; k == cfg.Kind || !empty[k] {
			kept = append(kept, n.Content[i], n.Content[i+1])
		}
	}
	n.Content = kept
	b, err := yaml.Marshal(&n)
	if err != nil {
		return "", fmt.Errorf("stimulus: %s block as YAML: %w", cfg.Kind, err)
	}
	return string(b), nil
}

// DecodeYAML reads one stimulus block strictly: unknown fields, a second document or a
// non-finite number are errors.
func DecodeYAML(s string) (configs.Stimulus, error) {
	var cfg configs.Stimulus
	dec := yaml.NewDecoder(bytes.NewReader([]byte(s)))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return configs.Stimulus{}, fmt.Errorf("stimulus: YAML block: %w", err)
	}
	var extra any
	if err := dec.Decode(&extra); err == nil {
		return configs.Stimulus{}, errors.New("stimulus: YAML block: more than one YAML document")
	}
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"mean", cfg.Mean}, {"whitenoise.contrast", cfg.WhiteNoise.Contrast}, {"flicker.contrast", cfg.Flicker.Contrast},
		{"flash.contrast", cfg.Flash.Contrast}, {"grating.period", cfg.Grating.Period}, {"grating.orientation", cfg.Grating.Orientation},
		{"grating.contrast", cfg.Grating.Contrast}, {"natural.jitter", cfg.Natural.Jitter}, {"natural.contrast", cfg.Natural.Contrast},
	} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return configs.Stimulus{}, fmt.Errorf("stimulus: YAML block: %s %v: want a finite number", f.name, f.v)
		}
	}
	return cfg, nil
}

// block is cfg with only its kind's sub-block: the YAML that makes the source, no more.
func block(cfg configs.Stimulus) configs.Stimulus {
	b := configs.Stimulus{Kind: cfg.Kind, FrameRate: cfg.FrameRate, Height: cfg.Height, Width: cfg.Width, Seed: cfg.Seed, Mean: cfg.Mean}
	switch cfg.Kind {
	case "whitenoise":
		b.WhiteNoise = cfg.WhiteNoise
	case "flicker":
		b.Flicker = cfg.Flicker
	case "flash":
		b.Flash = cfg.Flash
	case "grating":
		b.Grating = cfg.Grating
	case "natural":
		b.Natural = cfg.Natural
	case "movie":
		b.Movie = cfg.Movie
	}
	return b
}

// hashFiles is the SHA-256 a description carries for the files it read: of one movie, its
// bytes; of photographs (several names), each one sorted by name as name, a zero byte, bytes.
func hashFiles(dir string, names []string, single bool) ([]byte, error) {
	h := sha256.New()
	names = slices.Sorted(slices.Values(names))
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("stimulus: hash %s: %w", filepath.Join(dir, name), err)
		}
		if !single {
			h.Write([]byte(name))
			h.Write([]byte{0})
		}
		h.Write(b)
	}
	return h.Sum(nil), nil
}

// Rebuilder makes recorded frames again from the descriptions the record carries: the inverse
// of Describe. It keeps one source per distinct description, so a session's frames cost one
// New per source. Not safe for concurrent use.
type Rebuilder struct {
	sources map[string]Source
	byPtr   map[*pb.StimulusSource]Source // a record's frames share one message per source
}

// NewRebuilder returns an empty Rebuilder.
func NewRebuilder() *Rebuilder {
	return &Rebuilder{sources: map[string]Source{}, byPtr: map[*pb.StimulusSource]Source{}}
}

// Frame writes frame index of the source src describes into dst (height*width values). The
// source is made from src.stimulus_yaml, or, in records older than it, from kind, seed and
// params. A file whose SHA-256 differs from the one recorded is refused: its frames are not
// the ones shown.
// The message must not change after its first use (Frame keeps its source by its address).
func (r *Rebuilder) Frame(src *pb.StimulusSource, index uint64, dst []float32) error {
	s, ok := r.byPtr[src]
	if !ok {
		key := src.GetStimulusYaml() + "\x00" + src.String()
		if s, ok = r.sources[key]; !ok {
			var err error
			if s, err = FromProto(src); err != nil {
				return err
			}
			r.sources[key] = s
		}
		r.byPtr[src] = s
	}
	if h, w := s.Size(); h*w != len(dst) {
		return fmt.Errorf("stimulus: %s source is %dx%d, want %d values a frame", src.Kind, h, w, len(dst))
	}
	if n := s.Len(); n > 0 && index >= uint64(n) {
		return fmt.Errorf("stimulus: %s frame index %d beyond the source's %d frames", src.Kind, index, n)
	}
	s.Frame(int(index), dst)
	return nil
}

// FromProto makes the source a recorded description names, checking its grid and the SHA-256
// of the files it reads against the record.
func FromProto(src *pb.StimulusSource) (Source, error) {
	var cfg configs.Stimulus
	var err error
	if y := src.GetStimulusYaml(); y != "" {
		cfg, err = DecodeYAML(y)
	} else {
		cfg, err = fromParams(src)
	}
	if err != nil {
		return nil, err
	}
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	d := s.Describe()
	if d.Height != int(src.Height) || d.Width != int(src.Width) {
		return nil, fmt.Errorf("stimulus: %s source makes %dx%d frames, the record says %dx%d", src.Kind, d.Height, d.Width, src.Height, src.Width)
	}
	if want := src.GetFileSha256(); len(want) > 0 && !bytes.Equal(want, d.FileSHA256) {
		return nil, fmt.Errorf("stimulus: %s %s: SHA-256 %x, the record's is %x: the file is not the one shown in the session", src.Kind, d.File, d.FileSHA256, want)
	}
	return s, nil
}

// fromParams rebuilds the stimulus block from kind, seed and params: records made before
// StimulusSource.stimulus_yaml.
func fromParams(src *pb.StimulusSource) (configs.Stimulus, error) {
	p := map[string]float64{}
	for _, kv := range src.Params {
		p[kv.Name] = kv.Value
	}
	need := func(names ...string) error {
		var miss []string
		for _, n := range names {
			if _, ok := p[n]; !ok {
				miss = append(miss, n)
			}
		}
		if len(miss) > 0 {
			return fmt.Errorf("stimulus: %q source: parameters %s missing from the record", src.Kind, strings.Join(miss, ", "))
		}
		return nil
	}
	dist := func() string {
		if p["gaussian"] != 0 {
			return "gaussian"
		}
		return "binary"
	}
	frames := func(n float64) configs.Duration {
		return configs.Duration(time.Duration(math.Round(n / src.FrameRateHz * 1e9)))
	}
	c := configs.Stimulus{Kind: src.Kind, FrameRate: configs.Frequency(src.FrameRateHz), Height: int(src.Height),
		Width: int(src.Width), Seed: src.Seed, Mean: src.Mean}
	var err error
	switch src.Kind {
	case "gray":
	case "whitenoise":
		if err = need("checker", "contrast", "gaussian"); err == nil {
			c.WhiteNoise = configs.WhiteNoise{Distribution: dist(), Checker: int(p["checker"]), Contrast: p["contrast"]}
		}
	case "flicker":
		if err = need("contrast", "gaussian"); err == nil {
			c.Flicker = configs.Flicker{Distribution: dist(), Contrast: p["contrast"]}
		}
	case "flash":
		if err = need("on_frames", "off_frames", "contrast"); err == nil {
			c.Flash = configs.Flash{On: frames(p["on_frames"]), Off: frames(p["off_frames"]), Contrast: p["contrast"]}
		}
	case "grating":
		if err = need("period", "speed_hz", "orientation_deg", "contrast"); err == nil {
			c.Grating = configs.Grating{Period: p["period"], Speed: configs.Frequency(p["speed_hz"]), Orientation: p["orientation_deg"], Contrast: p["contrast"]}
		}
	case "natural":
		if err = need("hold_frames", "jitter", "contrast"); err == nil {
			c.Natural = configs.Natural{Dir: src.File, Hold: frames(p["hold_frames"]), Jitter: p["jitter"], Contrast: p["contrast"]}
		}
	case "movie":
		if err = need("loop"); err == nil {
			c.Movie = configs.Movie{File: src.File, Loop: p["loop"] != 0, Offset: p["offset"], Scale: p["scale"]}
		}
	default:
		err = fmt.Errorf("stimulus: %q source cannot be regenerated (no stimulus_yaml, and not a kind the record's params rebuild)", src.Kind)
	}
	return c, err
}
