package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"retinad/infer"
	"retinad/infer/onnx"
	"retinad/infer/torchimport"
)

// modelImportCommand is `retinad model import`, in model.go's table.
func modelImportCommand() modelCommand {
	return modelCommand{
		args:    "CHECKPOINT.pt|MODEL.onnx --out M [--frame-rate HZ --norm-mean X --norm-std S --cells ID,... --name N]",
		summary: "convert a torch-deep-retina checkpoint or an ONNX model into a native model file",
		run:     runModelImport,
	}
}

func runModelImport(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	out := fs.String("out", "", "native model file to write")
	rate := fs.Float64("frame-rate", 0, "bins per second, for a file that does not say (required then)")
	mean := fs.Float64("norm-mean", 0, "stimulus normalisation mean, for a file that does not say")
	std := fs.Float64("norm-std", 1, "stimulus normalisation std, for a file that does not say")
	cells := fs.String("cells", "", "comma-separated cell ids, for a file that does not say (default 0..C-1)")
	name := fs.String("name", "", "model name (default: from the file)")
	src, err := parseFileArg(fs, args)
	if err != nil {
		return err
	}
	if src == "" || *out == "" || fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("%w: model import: want one input file and --out", errUsage)
	}
	d := onnx.Defaults{FrameRate: *rate, Mean: *mean, Std: *std, Name: *name}
	if *cells != "" {
		for _, f := range strings.Split(*cells, ",") {
			id, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
			if err != nil {
				return fmt.Errorf("%w: --cells %q: want comma-separated integers", errUsage, *cells)
			}
			d.Cells = append(d.Cells, id)
		}
	}
	var m *infer.Model
	switch strings.ToLower(filepath.Ext(src)) {
	case ".onnx":
		var b []byte
		if b, err = infer.ReadFile(context.Background(), src, infer.MaxFileBytes); err == nil {
			if m, err = onnx.ImportWith(b, d); err != nil {
				err = fmt.Errorf("%s: %w", src, err)
			}
		}
	default: // torch.save files: .pt, .pth, .tar, .ckpt
		m, err = torchimport.ImportWarn(src, d, func(msg string) { fmt.Fprintln(e.stderr, "warning:", msg) })
	}
	if err != nil {
		return err
	}
	if *name != "" {
		m.Name = *name
	}
	if err := infer.Save(*out, m); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: %s model %q, %d layers, %d cells, input %dx%dx%d at %g Hz (mean %g, std %g), output scale %g, %d parameters\n",
		*out, m.Kind, m.Name, len(m.Layers), len(m.Cells), m.Input.History, m.Input.Height, m.Input.Width,
		m.Input.FrameRate, m.Input.Mean, m.Input.Std, m.OutputScale, m.NumParams())
	return nil
}
