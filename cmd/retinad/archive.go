package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"retinad/acquisition"
	"retinad/configs"
)

// archiveCommand is `retinad archive`, in the command table (main.go).
func archiveCommand() command {
	return command{
		name:    "archive",
		args:    "--server HUB [--replicas N] [--max-bytes SIZE] RIG[=DOMAIN]...",
		summary: "make or extend the lab hub's archive stream, which sources every rig's recording",
		run:     runArchive,
	}
}

// runArchive sets up acquisition.ArchiveStream on the hub, sourcing each named rig (its
// JetStream domain defaults to the rig id, as nats.leaf.domain does). Run it once per new rig;
// it never deletes or recreates the archive.
func runArchive(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	server := addNATSFlags(fs, "server", "", "the lab hub's URL (nats://hub:4222), with a user allowed to manage its JetStream (required)")
	replicas := fs.Int("replicas", 1, "copies of the archive in the hub cluster: 3 for a cluster of three")
	size := fs.String("max-bytes", "0", "archive size limit (e.g. 20TB); once full, it refuses more and the rigs keep their recordings (default: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	maxBytes, err := configs.ParseBytes(*size)
	if err != nil {
		return fmt.Errorf("%w: --max-bytes: %w", errUsage, err)
	}
	if *server.url == "" || fs.NArg() == 0 {
		fs.Usage()
		return fmt.Errorf("%w: want --server HUB and at least one RIG", errUsage)
	}
	if *replicas < 1 || *replicas > 5 {
		return fmt.Errorf("%w: --replicas %d: want 1 to 5", errUsage, *replicas)
	}
	var rigs []acquisition.ArchiveRig
	for _, a := range fs.Args() {
		rig, domain, _ := strings.Cut(a, "=")
		if domain == "" {
			domain = rig
		}
		rigs = append(rigs, acquisition.ArchiveRig{Rig: rig, Domain: domain})
	}
	conn, err := server.connect("retinad archive")
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := acquisition.Archive(ctx, conn, rigs, acquisition.ArchiveOptions{Replicas: *replicas, MaxBytes: int64(maxBytes)}); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s on %s sources %d rig(s): %s\n", acquisition.ArchiveStream, *server.url, len(rigs), strings.Join(fs.Args(), " "))
	return nil
}
