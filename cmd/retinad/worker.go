package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"retinad/daemon/scoring"
)

// workerCommand is `retinad worker`, in the command table (main.go).
func workerCommand() command {
	return command{
		name:    "worker",
		args:    "--nats URL --model [NAME=]FILE [--model ...] [--cores N] [--prefix P] [--user NAME --password P | --nkey SEEDFILE | --creds FILE] [--tls-ca PEM] [--identity ID]",
		summary: "score adaptive-stimulus candidates for daemons on NATS (queue group retinad-workers) until Ctrl-C",
		run:     runWorker,
	}
}

// modelFlags collects repeated --model arguments.
type modelFlags []string

func (m *modelFlags) String() string     { return strings.Join(*m, " ") }
func (m *modelFlags) Set(v string) error { *m = append(*m, v); return nil }

func runWorker(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	url := addNATSFlags(fs, "nats", "nats://127.0.0.1:4222", "NATS server URL(s), comma-separated")
	var models modelFlags
	fs.Var(&models, "model", "a model to score with, NAME=FILE or FILE (named by its base name); repeat for each; NAME and file must be the daemon's")
	cores := fs.Int("cores", 0, "goroutines to score with (0: every core)")
	prefix := fs.String("prefix", scoring.DefaultPrefix, "subject prefix: requests on PREFIX.score (queue group) and PREFIX.<identity>.score")
	identity := fs.String("identity", "", "direct-subject token PREFIX.<identity>.score (default: the NATS user, else the service id); with a credentials file, the user name its permission allows")
	name := fs.String("name", "", "this worker's name in replies and logs (default host/pid)")
	frameRate := fs.Float64("frame-rate", 0, "bins per second of an .onnx model that does not say its own (the daemon's models[].frame_rate)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(models) == 0 || fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("%w: worker needs --nats and at least one --model", errUsage)
	}
	var ms []scoring.Model
	for _, a := range models {
		n, f := scoring.ParseModelArg(a)
		m, err := scoring.LoadModelRate(n, f, *frameRate)
		if err != nil {
			return err
		}
		ms = append(ms, m)
	}
	local, err := scoring.NewLocal(ms, *cores)
	if err != nil {
		return err
	}
	url.refused = func(err error) {
		e.log.Error("worker: the NATS server refused a subscription or a reply: log in as a user of the worker role (--user, --nkey or --creds)", "err", err)
	}
	nc, err := url.connect("retinad worker", nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(250*time.Millisecond))
	if err != nil {
		return err
	}
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	for _, m := range ms {
		e.log.Info("worker: model", "name", m.Name, "file", m.File, "sha256", m.Short(), "history", m.Model.Input.History, "cells", len(m.Model.Cells))
	}
	w := scoring.NewWorker(nc, local, scoring.WorkerOptions{Prefix: *prefix, Name: *name, Identity: *identity, Log: e.log, Version: buildVersion()})
	runErr := w.Run(ctx)
	if err := nc.Drain(); err != nil {
		nc.Close()
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		nc.Close()
	}
	e.log.Info("worker: stopped", "served", w.Served(), "refused", w.Refused())
	return runErr
}
