package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"retinad/configs"
	"retinad/daemon/rig"
)

// runCommand is `retinad run`, in the command table (main.go).
func runCommand() command {
	return command{
		name:    "run",
		args:    "--config FILE [--duration D] [--session NAME] [--quiet]",
		summary: "run the rig: show the stimulus, time every frame, run every model on every bin, publish over NATS",
		run:     runRun,
	}
}

func runRun(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	cfgFile := fs.String("config", "", "config file (e.g. configs/sim.yaml)")
	duration := fs.Duration("duration", 0, "stop after this long (0: run until Ctrl-C)")
	session := fs.String("session", "", "session name (default: the UTC start time, e.g. 20261128T120000Z)")
	quiet := fs.Bool("quiet", false, "no status line on stdout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cfgFile == "" || fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("%w: want --config FILE and no arguments", errUsage)
	}
	if *duration < 0 {
		return fmt.Errorf("%w: --duration %v is negative; want how long to run, or 0 to run until Ctrl-C", errUsage, *duration)
	}
	cfg, err := configs.Load(*cfgFile)
	if err != nil {
		return err
	}
	o := rig.Options{Log: e.log, Version: buildVersion(), Session: *session}
	if !*quiet {
		o.StatusOut = e.stdout
		if f, ok := e.stdout.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				o.StatusOut = overwrite{f} // a terminal: one status line, rewritten in place
			}
		}
	}
	if path := os.Getenv("RETINAD_DUMP_FRAMES"); path != "" { // tests only (README, "Testing")
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("run: RETINAD_DUMP_FRAMES: %w", err)
		}
		w := bufio.NewWriterSize(f, 1<<20)
		o.FrameDump = w
		defer func() {
			if err := errors.Join(w.Flush(), f.Close()); err != nil {
				e.log.Error("run: RETINAD_DUMP_FRAMES", "file", path, "err", err)
			}
		}()
	}
	r, err := rig.Open(cfg, o)
	if err != nil {
		return err
	}
	watch := "in-process only (nats.listen is empty)"
	if u := r.NATSURL(); u != "" {
		watch = u
	} else if !cfg.NATS.Embedded {
		watch = cfg.NATS.URL
	}
	fmt.Fprintf(e.stdout, "retinad: rig %s, session %s; NATS %s; watch with: retinad tap --server %s --subject 'retinad.%s.>'\n",
		cfg.Rig, r.Session(), watch, watch, cfg.Rig)
	if u := r.DashboardURL(); u != "" {
		fmt.Fprintf(e.stdout, "retinad: dashboard %s; Prometheus metrics at %s/metrics\n", u, u)
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	start := time.Now()
	runErr := r.Run(ctx)
	closeErr := r.Close()
	e.log.Info("run: stopped", "after", time.Since(start).Round(time.Millisecond), "figures", r.Daemon().Figures().String())
	return errors.Join(runErr, closeErr)
}

// overwrite writes each status line over the previous one on a terminal.
type overwrite struct{ w io.Writer }

func (o overwrite) Write(p []byte) (int, error) {
	n := len(p)
	if n > 0 && p[n-1] == '\n' {
		p = p[:n-1]
	}
	if _, err := fmt.Fprintf(o.w, "\r\033[K%s", p); err != nil {
		return 0, err
	}
	return n, nil
}
