// Command retinad is the rig daemon and its tools. Each subcommand lives in a file of its own,
// as a function returning its command; this file holds the command table that lists them, the
// dispatcher and the shared flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strings"
	"syscall"

	"retinad/configs"
)

func init() {
	// GL must be driven from one OS thread; main's goroutine keeps the thread it started on.
	runtime.LockOSThread()
}

// command is one subcommand. run defines its flags on fs, parses args (everything after the
// subcommand's name) with it, and returns an error to print; errors wrapping errUsage exit 2.
type command struct {
	name    string
	args    string // synopsis of the arguments, for help
	summary string // one line, for the command list
	run     func(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error
}

// env is what every command shares: its output streams and logger.
type env struct {
	stdout, stderr io.Writer
	log            *slog.Logger
	// onPatch is present.Options.OnPatch for calibrate's presenter: nil, except in tests that
	// light a photodiode from the patch's drawn pixels.
	onPatch func(hostNS int64, drive uint8)
}

// commands is the command table: every subcommand, each defined in a file of its own.
var commands = table(
	archiveCommand(), benchCommand(), calibrateCommand(), checkConfigCommand(), controlCommand(),
	exportCommand(), fitCommand(), modelFilesCommand(), predictCommand(), runCommand(),
	showCommand(), simulateCommand(), tapCommand(), versionCommand(), workerCommand(),
)

// table indexes cs by name; a name given twice is a programming error.
func table(cs ...command) map[string]command {
	m := make(map[string]command, len(cs))
	for _, c := range cs {
		if _, dup := m[c.name]; dup {
			panic("retinad: command listed twice: " + c.name)
		}
		m[c.name] = c
	}
	return m
}

// errUsage marks an error in the command line itself (exit status 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	global := flag.NewFlagSet("retinad", flag.ContinueOnError)
	global.SetOutput(stderr)
	logFormat := global.String("log-format", "text", "log format: text or json")
	logLevel := global.String("log-level", "info", "log level: debug, info, warn or error")
	global.Usage = func() { usage(stderr, global) }
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	logger, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "retinad:", err)
		return 2
	}
	rest := global.Args()
	if len(rest) == 0 {
		usage(stderr, global)
		return 2
	}
	name := rest[0]
	if name == "help" {
		if len(rest) > 1 {
			if c, ok := commands[rest[1]]; ok {
				e := &env{stdout: stdout, stderr: stderr, log: logger}
				_ = c.run(ctx, e, c.flags(e), []string{"--help"})
				return 0
			}
		}
		usage(stdout, global)
		return 0
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "retinad: unknown command %q; run 'retinad help' for the list\n", name)
		return 2
	}
	e := &env{stdout: stdout, stderr: stderr, log: logger}
	err = c.run(ctx, e, c.flags(e), rest[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "retinad %s: %v\n", name, err)
		return 2
	default:
		fmt.Fprintf(stderr, "retinad %s: %v\n", name, err)
		return 1
	}
}

func usage(w io.Writer, global *flag.FlagSet) {
	fmt.Fprint(w, `retinad runs trained models of retinal ganglion cells on every stimulus frame of an
electrophysiology rig and publishes their predictions over NATS.

Usage: retinad [global flags] COMMAND [flags] [args]

Commands:
`)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, commands[n].summary)
	}
	fmt.Fprint(w, "\nGlobal flags:\n")
	global.SetOutput(w)
	global.PrintDefaults()
	fmt.Fprint(w, "\nRun 'retinad COMMAND --help' for a command's flags.\n")
}

// flags returns a FlagSet for command c whose usage prints its synopsis and flags.
func (c command) flags(e *env) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: retinad %s %s\n\n%s\n", c.name, c.args, c.summary)
		var any bool
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fmt.Fprintln(e.stderr, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// configOrDefault loads the config at path, or returns the defaults when path is "" (for the
// tools that work without a rig's config).
func configOrDefault(path string) (configs.Config, error) {
	if path == "" {
		return configs.Default(), nil
	}
	c, err := configs.Load(path)
	if err != nil {
		return configs.Config{}, err
	}
	return *c, nil
}
