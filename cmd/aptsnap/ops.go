package main

import (
	"fmt"
	"strconv"

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
			b, err := g.backend(cmd.Context())
			if err != nil {
				return err
			}
			defer b.Close()
			snaps, err := b.Snapshots(cmd.Context(), optArg(args, 0))
			if err != nil {
				return err
			}
			return printSnapshots(cmd.OutOrStdout(), snaps)
		},
	})
	return c
}

func bumpCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "bump ARCHIVE SERIAL DAYS",
		Short: "Set a snapshot's Valid-Until to now + DAYS and re-sign its Release files",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			days, err := strconv.Atoi(args[2])
			if err != nil || days <= 0 {
				return fmt.Errorf("bump: DAYS must be a positive number of days, not %q", args[2])
			}
			b, err := g.backend(cmd.Context())
			if err != nil {
				return err
			}
			defer b.Close()
			res, err := b.Bump(cmd.Context(), args[0], args[1], days)
			if err != nil {
				return err
			}
			printBump(cmd.OutOrStdout(), res)
			return nil
		},
	}
}

func gcCmd(g *globals) *cobra.Command {
	var dryRun bool
	c := &cobra.Command{
		Use:   "gc",
		Short: "Delete expired snapshots, then every stored file no snapshot needs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := g.backend(cmd.Context())
			if err != nil {
				return err
			}
			defer b.Close()
			res, err := b.GC(cmd.Context(), dryRun)
			if err != nil {
				return err
			}
			printGC(cmd.OutOrStdout(), res)
			return nil
		},
	}
	c.Flags().BoolVar(&dryRun, "dry-run", false, "only say what would be deleted")
	return c
}

func untrackCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "untrack ARCHIVE SUITE",
		Short: "Stop tracking a suite: remove it from the archive and all its snapshots",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := g.backend(cmd.Context())
			if err != nil {
				return err
			}
			defer b.Close()
			res, err := b.Untrack(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			printUntrack(cmd.OutOrStdout(), res)
			return nil
		},
	}
}

func verifyCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "verify [ARCHIVE [SERIAL]]",
		Short: "Check every file snapshots reference and every Release signature",
		Args:  cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := g.backend(cmd.Context())
			if err != nil {
				return err
			}
			defer b.Close()
			probs, err := b.Verify(cmd.Context(), optArg(args, 0), optArg(args, 1))
			if err != nil {
				return err
			}
			return printProblems(cmd.OutOrStdout(), probs)
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
