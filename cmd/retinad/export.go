package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go"

	"retinad/acquisition"
	"retinad/configs"
	"retinad/infer/dataset"
	"retinad/proto/contract"
	"retinad/stimulus"
)

// exportCommand is `retinad export`, in the command table (main.go).
func exportCommand() command {
	return command{
		name:    "export",
		args:    "--session ID --out data.npz|.nwb|.mat [--format npz|nwb|mat] [--config FILE] [--server URL [--rig R]] [--bin-rate HZ]",
		summary: "write a recorded session as a dataset (.npz) for fitting and training, as NWB 2.x, or as a MATLAB v7.3 .mat",
		run:     runExport,
	}
}

func runExport(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	session := fs.String("session", "", "session id to export (required)")
	out := fs.String("out", "", "output file (required)")
	format := fs.String("format", "", "npz (the dataset), nwb (Neurodata Without Borders 2.x) or mat (MATLAB v7.3); default: --out's extension (.npz or none, .nwb, .mat)")
	cfgFile := fs.String("config", "", "daemon config: the rig and the recording folder (default: built-in defaults)")
	server := addNATSFlags(fs, "server", "", "read from this running NATS server (e.g. the daemon's nats://127.0.0.1:4222) instead of opening the recording folder; the observer role is enough")
	rig := fs.String("rig", "", "read rig R's session from the lab archive of the hub at --server (README \"A lab with several rigs\") instead of a rig's own recording")
	binRate := fs.Float64("bin-rate", 0, "bins per second (default: the session's model bin rate)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *session == "" || *out == "" || fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("%w: want --session ID and --out FILE", errUsage)
	}
	write, err := exportWriter(*format, *out)
	if err != nil {
		return err
	}
	if *rig != "" && *server.url == "" {
		return fmt.Errorf("%w: --rig reads the lab archive on a hub: give the hub's URL with --server", errUsage)
	}
	cfg, err := configOrDefault(*cfgFile)
	if err != nil {
		return err
	}
	subj, err := exportSubjects(cfg.Rig, *rig)
	if err != nil {
		return err
	}
	var conn *nats.Conn
	if *server.url != "" {
		conn, err = server.connect("retinad export")
		if err != nil {
			return err
		}
		defer conn.Close()
	} else {
		// Open the recording folder with a private, listener-less server. A daemon running on
		// the folder holds its lock: then pass --server.
		bus, err := acquisition.Start(configs.NATS{Embedded: true}, acquisition.BusOptions{Name: "retinad export", StoreDir: cfg.Recording.Dir, Log: e.log})
		if errors.Is(err, acquisition.ErrStoreLocked) {
			return fmt.Errorf("%w\na daemon is recording there: export through it with --server %s", err, serverHint(cfg.NATS))
		}
		if err != nil {
			return err
		}
		defer bus.Stop()
		conn = bus.Conn()
	}
	d, sum, err := acquisition.Export(ctx, conn, subj, *session, acquisition.ExportOptions{BinRate: *binRate, Frames: stimulus.NewRebuilder().Frame})
	if sum != nil {
		sum.Report(e.stdout)
	}
	if err != nil {
		return err
	}
	if err := write(*out, d, sum); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: session %s, %d bins at %g Hz, %dx%d stimulus, %d cells\n", *out, *session, d.T, d.FrameRate, d.H, d.W, d.C)
	return sayInterrupted(ctx, e, conn, subj, *session)
}

// exportWriter is the writer of format, or, when none is given, of out's extension (.npz or
// none, .nwb, .mat; another one is refused rather than guessed: an .h5 could mean either).
func exportWriter(format, out string) (func(string, *dataset.Dataset, *acquisition.ExportSummary) error, error) {
	if format == "" {
		switch ext := strings.ToLower(filepath.Ext(out)); ext {
		case "", ".npz":
			format = "npz"
		case ".nwb", ".mat":
			format = ext[1:]
		default:
			return nil, fmt.Errorf("%w: --out %s: say which format with --format npz, nwb or mat", errUsage, out)
		}
	}
	switch format {
	case "npz":
		return func(path string, d *dataset.Dataset, _ *acquisition.ExportSummary) error {
			return dataset.Write(path, d)
		}, nil
	case "nwb":
		return acquisition.WriteNWB, nil
	case "mat":
		return func(path string, d *dataset.Dataset, _ *acquisition.ExportSummary) error {
			return dataset.WriteMAT(path, d)
		}, nil
	}
	return nil, fmt.Errorf("%w: --format %q: want npz, nwb or mat", errUsage, format)
}

// exportSubjects are the subjects and stream export reads: the config's rig in its own
// recording, or rig archived in the lab hub's archive stream.
func exportSubjects(cfgRig, archivedRig string) (contract.Subjects, error) {
	if archivedRig == "" {
		return contract.SubjectsFor(cfgRig)
	}
	subj, err := contract.SubjectsFor(archivedRig)
	return acquisition.InArchive(subj), err
}

// sayInterrupted tells, on stderr, what the record of a session without a STOP event lacks.
func sayInterrupted(ctx context.Context, e *env, conn *nats.Conn, subj contract.Subjects, session string) error {
	r, err := acquisition.FindSession(ctx, conn, subj, session)
	if err != nil || r.Stop != nil {
		return err
	}
	end, err := acquisition.LastStored(ctx, conn, subj, r)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "retinad export: %s\n", r.Interrupted(end))
	return nil
}

// serverHint is the URL of the daemon's embedded server as its config sets it.
func serverHint(n configs.NATS) string {
	if n.Listen == "" {
		return "nats://<its server> (its config has no nats.listen: give it one)"
	}
	return "nats://" + n.Listen
}
