package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aptsnap/aptsnap/manifest"
)

func tagCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "tag", Short: "Tagged snapshots: immutable, named, never expiring"}
	del := tagDeleteCmd(g)
	var from []string
	var manifestPath string
	create := &cobra.Command{
		Use:   "create TAG --from ARCHIVE=SERIAL... [--manifest FILE]",
		Short: "Make an immutable snapshot per archive, served at /tagged/TAG/ARCHIVE/",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src := map[string]string{}
			for _, f := range from {
				arc, serial, ok := strings.Cut(f, "=")
				if !ok || arc == "" || serial == "" {
					return fmt.Errorf("tag create: --from wants ARCHIVE=SERIAL, not %q", f)
				}
				src[arc] = serial
			}
			if len(src) == 0 {
				return fmt.Errorf("tag create: give at least one --from ARCHIVE=SERIAL")
			}
			var m *manifest.Manifest
			if manifestPath != "" {
				var err error
				if m, err = manifest.Load(manifestPath); err != nil {
					return err
				}
			}
			return g.withBackend(cmd, func(ctx context.Context, b *backend, w io.Writer) error {
				snaps, err := b.TagCreate(ctx, args[0], src, m)
				if err != nil {
					return err
				}
				for _, s := range snaps {
					fmt.Fprintf(w, "tagged %s: %s from %s (%s)\n", args[0], s.Archive, src[s.Archive], strings.Join(s.Suites, ", "))
				}
				return nil
			})
		},
	}
	create.Flags().StringArrayVar(&from, "from", nil, "ARCHIVE=SERIAL to tag (repeat for several archives)")
	create.Flags().StringVar(&manifestPath, "manifest", "", "build manifest (YAML): only the packages it lists go in")
	c.AddCommand(create, &cobra.Command{
		Use:   "list",
		Short: "List tagged snapshots",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withBackend(cmd, func(ctx context.Context, b *backend, w io.Writer) error {
				tags, err := b.Tags(ctx)
				if err != nil {
					return err
				}
				return printTags(w, tags)
			})
		},
	}, del)
	return c
}

func tagDeleteCmd(g *globals) *cobra.Command {
	var dryRun bool
	c := &cobra.Command{
		Use:   "delete TAG",
		Short: "Delete a tag; the next GC removes what only it referenced",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withBackend(cmd, func(ctx context.Context, b *backend, w io.Writer) error {
				n, err := b.TagDelete(ctx, args[0], dryRun)
				if err != nil {
					return err
				}
				verb := "deleted"
				if dryRun {
					verb = "would delete"
				}
				fmt.Fprintf(w, "%s tag %s (%d snapshot(s))\n", verb, args[0], n)
				return nil
			})
		},
	}
	c.Flags().BoolVar(&dryRun, "dry-run", false, "say what would be deleted, delete nothing")
	return c
}
