package main

import (
	"context"
	"flag"
	"fmt"

	"retinad/configs"
	"retinad/daemon/rig"
)

// checkConfigCommand is `retinad check-config`, in the command table (main.go).
func checkConfigCommand() command {
	return command{
		name:    "check-config",
		args:    "FILE",
		summary: "validate a config file and dry-run the rig it describes (models load and fit the grid, adaptive, photodiode, recording folder); report every problem with its field path, and exit",
		run: func(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
			if err := fs.Parse(args); err != nil {
				return err
			}
			if fs.NArg() != 1 {
				fs.Usage()
				return fmt.Errorf("%w: want one config file", errUsage)
			}
			cfg, err := configs.Load(fs.Arg(0))
			if err != nil {
				return err
			}
			// The dry-run opens what the config names only once the config itself is valid
			// (a 100000x100000 grid is refused above, not allocated here).
			if err := rig.Check(cfg); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s: ok (%s)\n", fs.Arg(0), cfg)
			return nil
		},
	}
}
