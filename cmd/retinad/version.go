package main

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=..."; otherwise the module's.
// Read it through buildVersion.
var version = "dev"

// buildVersion is the one version of this build, said by `retinad version`, Status.version,
// SessionEvent.version and the control and worker micro services (which need a semantic
// version): the -ldflags version, else the module's, without a leading "v"; "0.0.0-dev" for a
// development build.
func buildVersion() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	if v == "dev" || v == "" {
		return "0.0.0-dev"
	}
	return strings.TrimPrefix(v, "v")
}

// versionCommand is `retinad version`, in the command table (main.go).
func versionCommand() command {
	return command{
		name:    "version",
		summary: "print the version of retinad and of the Go toolchain that built it",
		run: func(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
			if err := fs.Parse(args); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "retinad %s (%s %s/%s)\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
