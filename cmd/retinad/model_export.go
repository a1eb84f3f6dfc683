package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"retinad/infer"
	"retinad/infer/onnx"
	"retinad/infer/torchimport"
)

// modelExportCommand is `retinad model export`, in model.go's table.
func modelExportCommand() modelCommand {
	return modelCommand{
		args:    "MODEL --out X.onnx [--frame-rate HZ]",
		summary: "write a model (native, .onnx, or a torch-deep-retina checkpoint) as ONNX that other tools run; its metadata keep the normalisation, frame rate and cells",
		run:     runModelExport,
	}
}

func runModelExport(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	out := fs.String("out", "", "ONNX file to write")
	rate := fs.Float64("frame-rate", 0, "bins per second, for a checkpoint or .onnx file that does not say")
	src, err := parseFileArg(fs, args)
	if err != nil {
		return err
	}
	if src == "" || *out == "" || fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("%w: model export: want one model file and --out", errUsage)
	}
	var m *infer.Model
	switch strings.ToLower(filepath.Ext(src)) {
	case ".pt", ".pth", ".tar", ".ckpt":
		m, err = torchimport.ImportWarn(src, onnx.Defaults{FrameRate: *rate}, func(msg string) { fmt.Fprintln(e.stderr, "warning:", msg) })
	default:
		m, err = loadModel(src, *rate)
	}
	if err != nil {
		return err
	}
	g, err := onnx.ExportGraph(m)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	if err := os.WriteFile(*out, onnx.Marshal(g), 0o644); err != nil {
		return err
	}
	step := ""
	if s := g.Inputs[len(g.Inputs)-1]; s.Name == onnx.StateInput {
		step = fmt.Sprintf("; one step of a recurrent model: input %s and output %s %v, zeros at the first window, each step's next state fed to the next", onnx.StateInput, onnx.StateOutput, s.Dims)
	}
	fmt.Fprintf(e.stdout, "%s: %s model %q as ONNX (input stimulus [N,%d,%d,%d] normalised, output rates [N,%d] spikes/s, %g Hz bins%s)\n",
		*out, m.Kind, m.Name, m.Input.History, m.Input.Height, m.Input.Width, len(m.Cells), m.Input.FrameRate, step)
	return nil
}
