package rig

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"time"

	"retinad/configs"
	"retinad/daemon"
	"retinad/infer"
	"retinad/infer/onnx"
)

// loadModels loads every configured model and makes its engine.
func loadModels(cfg *configs.Config, log *slog.Logger) ([]daemon.Model, error) {
	var out []daemon.Model
	for i, mc := range cfg.Models {
		m, err := loadModel(context.Background(), cfg, daemon.LoadRequest{Name: mc.Name, File: mc.File, Stochastic: mc.Stochastic, Seed: mc.Seed, Deadline: time.Duration(mc.Deadline), Observed: mc.Observed, FrameRate: float64(mc.FrameRate), Threads: mc.Threads, CPUs: mc.CPUs}, log)
		if err != nil {
			return nil, fmt.Errorf("rig: models[%d]: %w", i, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// ControlLoader loads the models the control service asks for (daemon.Parts.Load). A control
// request comes from any client on the bus, so it may only name a file inside the configured
// model folders (cfg.ModelDirs: control.model_dirs, or the folders of the configured models),
// its symlinks resolved; infer.LoadContext then refuses anything but a regular file of at most
// control.max_model_bytes before reading it, and never quotes its bytes.
func ControlLoader(cfg *configs.Config, log *slog.Logger) daemon.Loader {
	dirs := modelDirs(cfg.ModelDirs())
	return func(ctx context.Context, req daemon.LoadRequest) (daemon.Model, error) {
		path, err := allowedModelFile(dirs, req.File)
		if err != nil {
			return daemon.Model{}, err
		}
		req.File = path
		return loadModel(ctx, cfg, req, log)
	}
}

// modelDirs is dirs made absolute, each with its symlinks resolved too when that differs.
func modelDirs(dirs []string) []string {
	var out []string
	for _, d := range dirs {
		if a, err := filepath.Abs(d); err == nil {
			out = append(out, a)
			if r, err := filepath.EvalSymlinks(a); err == nil && r != a {
				out = append(out, r)
			}
		}
	}
	return out
}

// allowedModelFile resolves file (filepath.Abs, then EvalSymlinks) and returns it when it lies
// inside one of dirs. The lexical check comes first and touches nothing on disk, so a path
// outside the folders gets the same error whether it exists or not; the check after resolving
// catches a symlink that leads out. Refusals wrap fs.ErrPermission (control code 403).
func allowedModelFile(dirs []string, file string) (string, error) {
	outside := fmt.Errorf("rig: model file %s: %w: not inside the model folders %v (control.model_dirs)", file, fs.ErrPermission, dirs)
	abs, err := filepath.Abs(file)
	if err != nil || !inside(dirs, abs) {
		return "", outside
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("rig: model file: %w", err)
	}
	if !inside(dirs, resolved) {
		return "", outside
	}
	return resolved, nil
}

// inside reports whether the clean absolute path p lies strictly inside one of dirs.
func inside(dirs []string, p string) bool {
	for _, d := range dirs {
		if rel, err := filepath.Rel(d, p); err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// loadModel reads and checks one model file against the stimulus and makes its engine.
func loadModel(ctx context.Context, cfg *configs.Config, req daemon.LoadRequest, log *slog.Logger) (daemon.Model, error) {
	dm, _, err := openModel(ctx, cfg, req, log)
	return dm, err
}

// openModel is loadModel, also returning the model file's contents.
func openModel(ctx context.Context, cfg *configs.Config, req daemon.LoadRequest, log *slog.Logger) (daemon.Model, *infer.Model, error) {
	max := cfg.Control.MaxModelBytes
	if max <= 0 {
		max = infer.MaxFileBytes
	}
	b, err := infer.ReadFile(ctx, req.File, max)
	if err != nil {
		return daemon.Model{}, nil, fmt.Errorf("rig: model %s: %w", req.Name, err)
	}
	m, err := onnx.DecodeFile(req.File, b, onnx.Defaults{FrameRate: req.FrameRate})
	if err != nil {
		return daemon.Model{}, nil, fmt.Errorf("rig: model %s: %w", req.Name, err)
	}
	in := m.Input
	if in.Height != cfg.Stimulus.Height || in.Width != cfg.Stimulus.Width {
		return daemon.Model{}, nil, fmt.Errorf("rig: model %s: %s sees %dx%d frames but the stimulus grid is %dx%d", req.Name, req.File, in.Height, in.Width, cfg.Stimulus.Height, cfg.Stimulus.Width)
	}
	if req.Observed && m.Kind != infer.GLM {
		return daemon.Model{}, nil, fmt.Errorf("rig: model %s: %s is a %s; observed applies to a GLM's spike history only", req.Name, req.File, m.Kind)
	}
	var helperCPUs []int // the model's goroutine has the first of its cores, the helpers the rest
	if len(req.CPUs) > 1 {
		helperCPUs = req.CPUs[1:]
	}
	eng, err := newEngine(m, infer.Options{Stochastic: req.Stochastic, Seed: req.Seed, Threads: req.Threads, HelperCPUs: helperCPUs})
	if err != nil {
		return daemon.Model{}, nil, fmt.Errorf("rig: model %s: %s: %w", req.Name, req.File, err)
	}
	ids := make([]int32, len(m.Cells))
	for c, id := range m.Cells {
		if id < math.MinInt32 || id > math.MaxInt32 {
			return daemon.Model{}, nil, fmt.Errorf("rig: model %s: %s: cell id %d does not fit the messages' int32", req.Name, req.File, id)
		}
		ids[c] = int32(id)
	}
	log.Info("rig: model loaded", "name", req.Name, "file", req.File, "kind", m.Kind, "cells", len(ids), "history", in.History, "bin_rate", in.FrameRate)
	return daemon.Model{Name: req.Name, File: req.File, Engine: eng, CellIDs: ids, BinRate: in.FrameRate, History: in.History, Deadline: req.Deadline, Observed: req.Observed, CPUs: req.CPUs}, m, nil
}
