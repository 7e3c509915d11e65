package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

// The snapshot lifecycle verbs. Each works locally and against a server
// (see globals.backend) and prints with the shared functions of print.go.

func snapshotCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "snapshot", Short: "Inspect snapshots"}
	c.AddCommand(&cobra.Command{
		Use:   "list [ARCHIVE]",
		Short: "List snapshots: serial, created, valid until, suites",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withBackend(cmd, func(ctx context.Context, b *backend, w io.Writer) error {
				snaps, err := b.Snapshots(ctx, optArg(args, 0))
				if err != nil {
					return err
				}
				return printSnapshots(w, snaps)
			})
		},
	}, &cobra.Command{
		Use:   "expire ARCHIVE SERIAL",
		Short: "Withdraw a bad snapshot at once: no longer served, the archive's newest moves back (admin)",
		Long: `Withdraws a snapshot at once: it is no longer served, the archive's newest
snapshot (latest, the trace file, timestamps) is the one before, and the
next GC removes what only it referenced. An archive's only snapshot is
not withdrawn: pulse first. Recorded in the audit log.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withBackend(cmd, func(ctx context.Context, b *backend, w io.Writer) error {
				snap, err := b.Expire(ctx, args[0], args[1])
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "withdrew %s/%s (made %s): no longer served; GC removes its files\n", snap.Archive, snap.Serial, snap.Created.UTC().Format(time.RFC3339))
				return nil
			})
		},
	})
	return c
}

func bumpCmd(g *globals) *cobra.Command {
	var allowShorten bool
	c := &cobra.Command{
		Use:   "bump ARCHIVE SERIAL DAYS",
		Short: "Set a snapshot's Valid-Until to now + DAYS and re-sign its Release files",
		Long: `Sets a snapshot's Valid-Until to now + DAYS and signs its Release files again
(their Date stays). A snapshot already valid longer is left as it is, with an
error, unless --allow-shorten is given.`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			days, err := strconv.Atoi(args[2])
			if err != nil || days <= 0 {
				return fmt.Errorf("bump: DAYS must be a positive number of days, not %q", args[2])
			}
			return g.withBackend(cmd, func(ctx context.Context, b *backend, w io.Writer) error {
				res, err := b.Bump(ctx, args[0], args[1], days, allowShorten)
				if err != nil {
					return err
				}
				printBump(w, res)
				return nil
			})
		},
	}
	c.Flags().BoolVar(&allowShorten, "allow-shorten", false, "bump even to a Valid-Until earlier than the snapshot has")
	return c
}

func gcCmd(g *globals) *cobra.Command {
	var dryRun bool
	c := &cobra.Command{
		Use:   "gc",
		Short: "Delete expired snapshots, then every stored file no snapshot needs",
		Long: `Delete expired snapshots (never an archive's newest) from the catalog, in
one transaction, then every stored file the catalog does not reference.
Run against a server that runs its schedule (--server), it returns once
the catalog is committed, and the server sweeps in the background;
run locally, it sweeps before it returns.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withBackend(cmd, func(ctx context.Context, b *backend, w io.Writer) error {
				res, err := b.GC(ctx, dryRun)
				if err != nil {
					return err
				}
				printGC(w, res)
				return nil
			})
		},
	}
	c.Flags().BoolVar(&dryRun, "dry-run", false, "only say what would be deleted")
	return c
}

func untrackCmd(g *globals) *cobra.Command {
	var dryRun bool
	c := &cobra.Command{
		Use:   "untrack ARCHIVE SUITE...",
		Short: "Stop tracking suites: remove them from the archive and all its snapshots, in one go",
		Long: `Stop tracking suites: remove them from the archive and from all its
snapshots (tagged snapshots keep them), in one transaction; pulses skip
them until they leave the configuration, and GC frees their files.
A SUITE may be a pattern of names: untrack debian 'bullseye*' removes
bullseye, bullseye-updates and bullseye-backports together.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withBackend(cmd, func(ctx context.Context, b *backend, w io.Writer) error {
				res, err := b.Untrack(ctx, args[0], args[1:], dryRun)
				if err != nil {
					return err
				}
				printUntrack(w, res)
				return nil
			})
		},
	}
	c.Flags().BoolVar(&dryRun, "dry-run", false, "say what would be untracked, change nothing")
	return c
}

func verifyCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "verify [ARCHIVE [SERIAL]]",
		Short: "Check every file snapshots reference and every Release signature",
		Args:  cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withBackend(cmd, func(ctx context.Context, b *backend, w io.Writer) error {
				res, err := b.Verify(ctx, optArg(args, 0), optArg(args, 1))
				if err != nil {
					return err
				}
				return printVerify(w, res)
			})
		},
	}
}

// optArg is args[i], or "" if there are not that many.
func optArg(args []string, i int) string {
	if i < len(args) {
		return args[i]
	}
	return ""
}
