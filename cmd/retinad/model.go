package main

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strings"

	"retinad/infer"
	"retinad/infer/onnx"
)

// modelCommand is a sub-subcommand of `retinad model`; modelCommands lists them all.
type modelCommand struct {
	args, summary string
	run           func(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error
}

var modelCommands = map[string]modelCommand{
	"inspect": {args: "MODEL", summary: "print a model's architecture, input spec, cells, parameter count and FLOPs per step", run: runModelInspect},
	"import":  modelImportCommand(),
	"export":  modelExportCommand(),
}

// modelFilesCommand is `retinad model`, in the command table (main.go).
func modelFilesCommand() command {
	return command{
		name:    "model",
		args:    "export|import|inspect ARGS",
		summary: "model file tools: inspect, import (torch-deep-retina, ONNX) and export (ONNX)",
		run: func(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
			var names []string
			for n := range modelCommands {
				names = append(names, n)
			}
			sort.Strings(names)
			if len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
				fmt.Fprintf(e.stderr, "usage: retinad model %s ARGS\n", strings.Join(names, "|"))
				for _, n := range names {
					fmt.Fprintf(e.stderr, "  %s %s\n    \t%s\n", n, modelCommands[n].args, modelCommands[n].summary)
				}
				return flag.ErrHelp
			}
			if len(args) == 0 {
				return fmt.Errorf("%w: want a subcommand: %s", errUsage, strings.Join(names, ", "))
			}
			c, ok := modelCommands[args[0]]
			if !ok {
				return fmt.Errorf("%w: unknown subcommand %q, want one of %s", errUsage, args[0], strings.Join(names, ", "))
			}
			sub := flag.NewFlagSet("retinad model "+args[0], flag.ContinueOnError)
			sub.SetOutput(e.stderr)
			sub.Usage = func() {
				fmt.Fprintf(e.stderr, "usage: retinad model %s %s\n  %s\n", args[0], c.args, c.summary)
				sub.PrintDefaults()
			}
			return c.run(ctx, e, sub, args[1:])
		},
	}
}

// loadModel reads a native model file, or an ONNX file (by its .onnx extension) through
// infer/onnx's importer, with frameRate (bins per second) for an ONNX file that does not say
// its own (0: the file must say).
func loadModel(path string, frameRate float64) (*infer.Model, error) {
	b, err := infer.ReadFile(context.Background(), path, infer.MaxFileBytes)
	if err != nil {
		return nil, err
	}
	return onnx.DecodeFile(path, b, onnx.Defaults{FrameRate: frameRate})
}

func runModelInspect(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("%w: want one model file", errUsage)
	}
	m, err := loadModel(fs.Arg(0), 0)
	if err != nil {
		return err
	}
	s, err := infer.NewStream(m, infer.Options{})
	if err != nil {
		return err
	}
	fmt.Fprint(e.stdout, infer.Describe(m))
	fmt.Fprintf(e.stdout, "FLOPs per step: %d streaming (this engine), %d full window (direct, as a general runtime computes it)\n", s.FLOPs(), m.FLOPs())
	return nil
}

// parseFileArg parses fs for a command of one file argument whose flags may come before or
// after it: parse, take the file, parse the rest. It returns "" when no file was given; a
// second argument is left in fs.Args for the caller's usage check.
func parseFileArg(fs *flag.FlagSet, args []string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() == 0 {
		return "", nil
	}
	src := fs.Arg(0)
	return src, fs.Parse(fs.Args()[1:])
}
