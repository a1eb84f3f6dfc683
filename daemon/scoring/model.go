package scoring

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"

	"retinad/configs"
	"retinad/infer"
	"retinad/infer/onnx"
)

// Model is one model to score with, and what identifies it across machines.
type Model struct {
	Name   string
	File   string // where it was read from, for messages
	SHA256 [32]byte
	Model  *infer.Model
}

// Short is the first 12 hex digits of the file's hash, for messages.
func (m Model) Short() string { return hex.EncodeToString(m.SHA256[:6]) }

// LoadModel reads a native model file (or an .onnx file, imported) and hashes its bytes.
func LoadModel(name, path string) (Model, error) { return LoadModelRate(name, path, 0) }

// LoadModelRate is LoadModel with the bin rate (Hz) of an .onnx file that does not say its
// own (configs models[].frame_rate); 0: the file must say.
func LoadModelRate(name, path string, frameRate float64) (Model, error) {
	if name == "" {
		return Model{}, fmt.Errorf("scoring: model %s: empty name", path)
	}
	b, err := infer.ReadFile(context.Background(), path, infer.MaxFileBytes)
	if err != nil {
		return Model{}, fmt.Errorf("scoring: model %s: %w", name, err)
	}
	m, err := onnx.DecodeFile(path, b, onnx.Defaults{FrameRate: frameRate})
	if err != nil {
		return Model{}, fmt.Errorf("scoring: model %s: %w", name, err)
	}
	return Model{Name: name, File: path, SHA256: sha256.Sum256(b), Model: m}, nil
}

// ParseModelArg reads a command-line model argument: NAME=FILE, or FILE alone, named by its
// base name without the extension (models/bncnn.rtm is "bncnn").
func ParseModelArg(arg string) (name, file string) {
	if i := strings.IndexByte(arg, '='); i > 0 {
		return arg[:i], arg[i+1:]
	}
	base := filepath.Base(arg)
	return strings.TrimSuffix(base, filepath.Ext(base)), arg
}

// LoadConfigModels loads the config's models (configs.Config.Models), in order, for a Local.
func LoadConfigModels(cfg []configs.Model) ([]Model, error) {
	out := make([]Model, 0, len(cfg))
	for i, mc := range cfg {
		m, err := LoadModelRate(mc.Name, mc.File, float64(mc.FrameRate))
		if err != nil {
			return nil, fmt.Errorf("%w (models[%d])", err, i)
		}
		out = append(out, m)
	}
	return out, nil
}
