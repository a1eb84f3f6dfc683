package main

import (
	"context"
	"flag"
	"fmt"

	"retinad/configs"
)

func init() {
	register(command{
		name:    "check-config",
		args:    "FILE",
		summary: "validate a config file, report every problem with its field path and line, and exit",
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
			fmt.Fprintf(e.stdout, "%s: ok (%s)\n", fs.Arg(0), cfg)
			return nil
		},
	})
}
