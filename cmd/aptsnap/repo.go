package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/aptsnap/aptsnap/api"
	"github.com/aptsnap/aptsnap/custom"
)

// The custom archive verbs: import, remove, copy and list packages.

func repoCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "repo", Short: "Custom archives: import, remove, copy and list packages"}
	var component string
	var publish bool
	add := &cobra.Command{
		Use:   "add ARCHIVE SUITE FILE...",
		Short: "Import .deb, .udeb, .dsc (with its files) and .changes (with its files) into a suite",
		Args:  cobra.MinimumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := custom.UploadFiles(args[2:])
			if err != nil {
				return err
			}
			return g.withBackend(cmd, func(ctx context.Context, b *backend, w io.Writer) error {
				res, err := b.RepoAdd(ctx, api.AddRequest{Archive: args[0], Suite: args[1], Component: component, Files: files, Publish: publish})
				if err != nil {
					return err
				}
				printRepoResult(w, res)
				return nil
			})
		},
	}
	add.Flags().StringVar(&component, "component", "", "component to import into (default: the archive's first)")
	add.Flags().BoolVar(&publish, "publish", false, "publish at once, whatever the day's serial budget (see repo publish)")
	c.AddCommand(add, &cobra.Command{
		Use:   "publish ARCHIVE",
		Short: "Publish the changes waiting in a custom archive's working state as its next snapshot",
		Long: `A day has 99 serials per archive. A change to a custom archive is published
at once while the archive has used fewer serials today than its allowance
(24 at midnight, growing evenly to 99 by the end of the day); past it, the
change waits in the archive's working state (repo list shows it) and the
server publishes the waiting changes together within twenty minutes.
repo publish publishes them now, as does repo add --publish and exception
grant, while the day has a serial left.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withBackend(cmd, func(ctx context.Context, b *backend, w io.Writer) error {
				res, err := b.RepoPublish(ctx, args[0])
				if err != nil {
					return err
				}
				if res.Serial == "" {
					fmt.Fprintf(w, "%s: nothing waits to be published\n", args[0])
					return nil
				}
				fmt.Fprintf(w, "%s: snapshot %s\n", args[0], res.Serial)
				return nil
			})
		},
	}, &cobra.Command{
		Use:   "remove ARCHIVE SUITE PACKAGE[=VERSION]...",
		Short: "Remove packages (binaries and sources of that name) from a suite",
		Args:  cobra.MinimumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withBackend(cmd, func(ctx context.Context, b *backend, w io.Writer) error {
				res, err := b.RepoRemove(ctx, args[0], args[1], args[2:])
				if err != nil {
					return err
				}
				printRepoResult(w, res)
				return nil
			})
		},
	}, &cobra.Command{
		Use:   "copy ARCHIVE SRC_SUITE DST_SUITE PACKAGE[=VERSION]",
		Short: "Copy a package (binaries and source) from one suite of a custom archive to another",
		Args:  cobra.ExactArgs(4),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, ver, _ := strings.Cut(args[3], "=")
			return g.withBackend(cmd, func(ctx context.Context, b *backend, w io.Writer) error {
				res, err := b.RepoCopy(ctx, api.CopyRequest{Archive: args[0], Suite: args[2],
					FromArchive: args[0], FromSuite: args[1], Package: name, Version: ver})
				if err != nil {
					return err
				}
				printRepoResult(w, res)
				return nil
			})
		},
	}, &cobra.Command{
		Use:   "list ARCHIVE SUITE",
		Short: "List the packages of a suite",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withBackend(cmd, func(ctx context.Context, b *backend, w io.Writer) error {
				pkgs, err := b.RepoList(ctx, args[0], args[1])
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "PACKAGE\tVERSION\tARCH\tCOMPONENT")
				for _, p := range pkgs {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Package, p.Version, p.Arch, p.Component)
				}
				return tw.Flush()
			})
		},
	})
	return c
}

func printRepoResult(w io.Writer, r api.RepoResult) {
	for _, p := range r.Removed {
		fmt.Fprintf(w, "removed %s %s %s\n", p.Package, p.Version, p.Arch)
	}
	for _, p := range r.Added {
		fmt.Fprintf(w, "added %s %s %s\n", p.Package, p.Version, p.Arch)
	}
	for _, p := range r.Unchanged {
		fmt.Fprintf(w, "unchanged %s %s %s (already there, same content)\n", p.Package, p.Version, p.Arch)
	}
	if r.Pending {
		fmt.Fprintf(w, "%s %s: pending, published by %s (the day's serials are spent evenly; aptsnap repo publish %s publishes now)\n",
			r.Archive, r.Suite, r.PublishBy.UTC().Format(time.RFC3339), r.Archive)
		return
	}
	if r.Serial == "" {
		fmt.Fprintf(w, "%s %s: nothing changed\n", r.Archive, r.Suite)
		return
	}
	fmt.Fprintf(w, "%s %s: snapshot %s\n", r.Archive, r.Suite, r.Serial)
}
