package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aptsnap/aptsnap/api"
	"github.com/aptsnap/aptsnap/aptprefs"
	"github.com/aptsnap/aptsnap/branch"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/errdefs"
)

// The consumer verbs run in a release team's source tree (--tree, default
// the current directory): serials, sources and exception. What they do is
// in package branch; here are their flags and their printing.

// treeBackend opens the tree and the server it talks to: --config, else
// --server (or APTSNAP_SERVER), else the tree's aptsnap.toml setting.
func (g *globals) treeBackend(cmd *cobra.Command, root string) (*branch.Tree, *backend, error) {
	t, err := branch.Open(root)
	if err != nil {
		return nil, nil, err
	}
	if !g.configSet && g.server == "" {
		if t.Settings.Server == "" {
			return nil, nil, fmt.Errorf("no server: give --server, set APTSNAP_SERVER, or set server in %s",
				filepath.Join(root, branch.SettingsFile))
		}
		g.server, g.serverSet = t.Settings.Server, true
	}
	b, err := g.backend(cmd.Context())
	if err != nil {
		return nil, nil, err
	}
	return t, b, nil
}

// branchServer adapts a backend to branch.Server.
type branchServer struct{ *backend }

func (s branchServer) Snapshot(ctx context.Context, archive, serial string) (api.Snapshot, error) {
	list := s.Snapshots
	if strings.HasPrefix(serial, "@") { // a tag
		list = func(ctx context.Context, _ string) ([]api.Snapshot, error) { return s.Tags(ctx) }
	}
	snaps, err := list(ctx, archive)
	if err != nil {
		return api.Snapshot{}, err
	}
	for _, sn := range snaps {
		if sn.Archive == archive && sn.Serial == serial {
			return sn, nil
		}
	}
	return api.Snapshot{}, errdefs.Errorf(catalog.ErrNotFound, "no snapshot %s of %s", serial, archive)
}

// serialsFlags are the flags all serials verbs share.
type serialsFlags struct {
	root        string
	onlySerials bool
}

// printMap prints archive: serial lines, sorted (or the serials alone).
func (f *serialsFlags) printMap(w io.Writer, m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if f.onlySerials {
			fmt.Fprintln(w, m[k])
		} else {
			fmt.Fprintf(w, "%s: %s\n", k, m[k])
		}
	}
}

// printChanges prints what a verb did to each serial file.
func (f *serialsFlags) printChanges(w io.Writer, chs []branch.Change) {
	for _, ch := range chs {
		switch {
		case f.onlySerials:
			fmt.Fprintln(w, ch.New)
		case ch.Changed():
			fmt.Fprintf(w, "%s: %s -> %s\n", ch.Archive, ch.Old, ch.New)
		default:
			fmt.Fprintf(w, "%s: %s (unchanged)\n", ch.Archive, ch.New)
		}
	}
}

// local runs f on the tree alone (no server).
func (f *serialsFlags) local(run func(t *branch.Tree, args []string, w io.Writer) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		t, err := branch.Open(f.root)
		if err != nil {
			return err
		}
		return run(t, args, cmd.OutOrStdout())
	}
}

// remote runs f on the tree and its server.
func (f *serialsFlags) remote(g *globals, run func(ctx context.Context, t *branch.Tree, srv branchServer, args []string, w io.Writer) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		t, b, err := g.treeBackend(cmd, f.root)
		if err != nil {
			return err
		}
		defer b.Close()
		return run(cmd.Context(), t, branchServer{b}, args, cmd.OutOrStdout())
	}
}

func serialsCmd(g *globals) *cobra.Command {
	f := &serialsFlags{}
	c := &cobra.Command{
		Use:   "serials",
		Short: "A branch's snapshot serials (config/APT_snapshots.d/<archive>/serial): freeze, thaw, resolve",
	}
	c.PersistentFlags().StringVar(&f.root, "tree", ".", "the branch's source tree")
	c.PersistentFlags().BoolVar(&f.onlySerials, "print-serials-only", false, "print only the serials, one per line")
	c.AddCommand(&cobra.Command{
		Use:   "cat",
		Short: "Print archive: serial-or-latest",
		Args:  cobra.NoArgs,
		RunE: f.local(func(t *branch.Tree, _ []string, w io.Writer) error {
			if f.onlySerials {
				f.printMap(w, t.Serials())
				return nil
			}
			return t.Cat(w)
		}),
	}, &cobra.Command{
		Use:   "cat-json",
		Short: `Print {"archive":"serial-or-latest",...}`,
		Args:  cobra.NoArgs,
		RunE:  f.local(func(t *branch.Tree, _ []string, w io.Writer) error { return t.CatJSON(w) }),
	}, &cobra.Command{
		Use:   "get-latest [ARCHIVE...]",
		Short: "Print the server's latest serials (from its trace files)",
		RunE: f.remote(g, func(ctx context.Context, t *branch.Tree, srv branchServer, args []string, w io.Writer) error {
			m, err := t.GetLatest(ctx, srv, args...)
			if err != nil {
				return err
			}
			f.printMap(w, m)
			return nil
		}),
	}, freezeCmd(g, f), &cobra.Command{
		Use:   "thaw [ARCHIVE...]",
		Short: "Write latest",
		RunE: f.local(func(t *branch.Tree, args []string, w io.Writer) error {
			chs, err := t.Thaw(args)
			if err != nil {
				return err
			}
			f.printChanges(w, chs)
			return nil
		}),
	}, &cobra.Command{
		Use:   "prepare-build [JSON]",
		Short: "Resolve latest to concrete serials (or take them from a JSON object) and write them for the build",
		Args:  cobra.MaximumNArgs(1),
		RunE: f.remote(g, func(ctx context.Context, t *branch.Tree, srv branchServer, args []string, w io.Writer) error {
			var from []byte
			if len(args) == 1 {
				from = []byte(args[0])
			}
			m, err := t.PrepareBuild(ctx, srv, from)
			if err != nil {
				return err
			}
			f.printMap(w, m)
			return nil
		}),
	}, serialsBumpCmd(g, f), expiryCmd(g, f))
	return c
}

func freezeCmd(g *globals, f *serialsFlags) *cobra.Command {
	var exceptionsToo bool
	c := &cobra.Command{
		Use:   "freeze [ARCHIVE...]",
		Short: "Write the latest serials (freeze exceptions stay latest unless --freeze-exceptions-too)",
		RunE: f.remote(g, func(ctx context.Context, t *branch.Tree, srv branchServer, args []string, w io.Writer) error {
			chs, err := t.Freeze(ctx, srv, args, exceptionsToo)
			if err != nil {
				return err
			}
			f.printChanges(w, chs)
			return nil
		}),
	}
	c.Flags().BoolVar(&exceptionsToo, "freeze-exceptions-too", false, "freeze the archives listed as freeze exceptions too")
	return c
}

func serialsBumpCmd(g *globals, f *serialsFlags) *cobra.Command {
	var days int
	var allowShorten bool
	c := &cobra.Command{
		Use:   "bump --days N",
		Short: "Bump the Valid-Until of every frozen serial to now + N days",
		Args:  cobra.NoArgs,
		RunE: f.remote(g, func(ctx context.Context, t *branch.Tree, srv branchServer, _ []string, w io.Writer) error {
			if days <= 0 {
				return errors.New("serials bump: --days must be positive")
			}
			res, err := t.Bump(ctx, srv, days, allowShorten)
			for _, r := range res {
				printBump(w, r)
			}
			return err
		}),
	}
	c.Flags().IntVar(&days, "days", 0, "days from now")
	c.Flags().BoolVar(&allowShorten, "allow-shorten", false, "bump a snapshot even to a Valid-Until earlier than it has")
	return c
}

func expiryCmd(g *globals, f *serialsFlags) *cobra.Command {
	var minDays int
	c := &cobra.Command{
		Use:   "expiry --min-days N",
		Short: "Fail, naming them, if a frozen snapshot expires within N days or is gone",
		Args:  cobra.NoArgs,
		RunE: f.remote(g, func(ctx context.Context, t *branch.Tree, srv branchServer, _ []string, w io.Writer) error {
			probs, err := t.Expiry(ctx, srv, minDays, time.Now())
			if err != nil {
				return err
			}
			if len(probs) == 0 {
				fmt.Fprintf(w, "every frozen snapshot is valid for at least %d more days\n", minDays)
				return nil
			}
			var what []string
			for _, p := range probs {
				what = append(what, fmt.Sprintf("%s %s: %s", p.Archive, p.Serial, p.What))
			}
			return fmt.Errorf("serials expiry: %s", strings.Join(what, "; "))
		}),
	}
	c.Flags().IntVar(&minDays, "min-days", 0, "days a frozen snapshot must stay valid")
	return c
}

func sourcesCmd(g *globals) *cobra.Command {
	var root string
	o := branch.SourcesOptions{}
	c := &cobra.Command{
		Use:   "sources",
		Short: "Print APT source lines (one-line, deb822) or lb config --mirror-* arguments for the branch's resolved serials",
		Long: `Prints the sources of the serials prepare-build resolved (tmp/APT_snapshots.resolved.json),
or, before that, of the tree's serials with latest resolved now.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, b, err := g.treeBackend(cmd, root)
			if err != nil {
				return err
			}
			defer b.Close()
			ctx := cmd.Context()
			set, err := t.Resolved(ctx, branchServer{b})
			if err != nil {
				return err
			}
			if err := branch.Check(ctx, branchServer{b}, set); err != nil {
				return fmt.Errorf("sources: %w", err)
			}
			archives, err := b.Archives(ctx)
			if err != nil {
				return err
			}
			return branch.Sources(cmd.OutOrStdout(), set, archives, o)
		},
	}
	c.Flags().StringVar(&root, "tree", ".", "the branch's source tree")
	c.Flags().StringVar(&o.Format, "format", branch.OneLine, "one-line, deb822 or live-build")
	c.Flags().StringVar(&o.SignedBy, "signed-by", "", "path of the server's key (/keys/aptsnap.asc) for Signed-By")
	c.Flags().StringVar(&o.LiveBuildArchive, "lb-archive", "debian", "live-build: the archive for --mirror-bootstrap/-chroot/-binary")
	c.Flags().StringVar(&o.LiveBuildSecurityArchive, "lb-security-archive", "debian-security", "live-build: the archive for --mirror-*-security")
	return c
}

func exceptionCmd(g *globals) *cobra.Command {
	var root string
	c := &cobra.Command{Use: "exception", Short: "Freeze exceptions: a newer package let into a frozen branch, and its pin"}
	c.PersistentFlags().StringVar(&root, "tree", ".", "the branch's source tree")
	var gr branch.Grant
	grant := &cobra.Command{
		Use:   "grant PACKAGE[=VERSION] --suite SUITE --from ARCHIVE[/SERIAL]",
		Short: "Copy a package from a snapshot into the custom archive's suite and pin it at 999 in " + branch.PreferencesPath,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if gr.Suite == "" || gr.From == "" {
				return errors.New("exception grant: --suite and --from are required")
			}
			t, b, err := g.treeBackend(cmd, root)
			if err != nil {
				return err
			}
			defer b.Close()
			gr.Package, gr.Version, _ = strings.Cut(args[0], "=")
			done, err := t.Grant(cmd.Context(), b, gr)
			for _, warn := range done.Warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", warn)
			}
			w := cmd.OutOrStdout()
			if done.Copied.Archive != "" {
				printRepoResult(w, done.Copied)
			}
			for _, msg := range done.Pins {
				fmt.Fprintln(w, msg)
			}
			if done.Wrote != "" {
				fmt.Fprintf(w, "wrote %s\n", done.Wrote)
			}
			return err
		},
	}
	grant.Flags().StringVar(&gr.Suite, "suite", "", "suite of the custom archive to copy into")
	grant.Flags().StringVar(&gr.From, "from", "", "ARCHIVE or ARCHIVE/SERIAL to copy from (its newest snapshot when no serial)")
	grant.Flags().StringVar(&gr.To, "to", "", "custom archive receiving exceptions (default: exceptions_archive in aptsnap.toml, or the server's only custom archive)")
	c.AddCommand(grant, &cobra.Command{
		Use:   "list",
		Short: "List the freeze-exception pins of " + branch.PreferencesPath,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := branch.ReadPreferences(root)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, e := range f.Exceptions() {
				fmt.Fprintf(w, "%s\t%s\t%d\n", e.Package, e.Pin, e.Priority)
			}
			return nil
		},
	})
	var pr branch.Prune
	var pruneToo bool
	prune := func(cmd *cobra.Command) error {
		t, b, err := g.treeBackend(cmd, root)
		if err != nil {
			return err
		}
		defer b.Close()
		done, err := t.Prune(cmd.Context(), b, pr)
		w := cmd.OutOrStdout()
		verb := "removed"
		if pr.DryRun {
			verb = "would remove"
		}
		for _, l := range done.Removed {
			fmt.Fprintf(w, "%s %s\n", verb, l)
		}
		for _, l := range done.Kept {
			fmt.Fprintf(w, "kept %s\n", l)
		}
		for _, r := range done.Results {
			printRepoResult(w, r)
		}
		if err == nil && len(done.Removed)+len(done.Kept) == 0 {
			fmt.Fprintln(w, "no thawed freeze exception in the custom archive")
		}
		return err
	}
	thaw := &cobra.Command{
		Use:   "thaw",
		Short: "Set every freeze-exception pin to Pin-Priority: -1 (--prune: then prune)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			wrote, err := branch.EditPreferences(root, func(f *aptprefs.File) (bool, error) {
				n := f.ThawExceptions()
				fmt.Fprintf(w, "%d freeze exception pin(s) set to -1\n", n)
				return n > 0, nil
			})
			if wrote != "" {
				fmt.Fprintf(w, "wrote %s\n", wrote)
			}
			if err != nil || !pruneToo {
				return err
			}
			return prune(cmd)
		},
	}
	thaw.Flags().BoolVar(&pruneToo, "prune", false, "then remove from the custom archive what the mirrored archives now carry (see prune)")
	thaw.Flags().StringVar(&pr.To, "to", "", "custom archive of the exceptions, with --prune (default as for grant)")
	pruneCmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove from the custom archive the thawed exceptions that a mirrored archive's newest snapshot now carries at a version at least as new",
		Long: `After a release, exception thaw sets the freeze-exception pins to -1. prune
then removes from the custom archive (every suite) the packages those pins
name, once the newest snapshot of an archive the server mirrors carries
each at a version at least as new: the exception is no longer needed.
Packages still needed are kept and listed. The pins stay, at -1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return prune(cmd) },
	}
	pruneCmd.Flags().StringVar(&pr.To, "to", "", "custom archive of the exceptions (default as for grant)")
	pruneCmd.Flags().BoolVar(&pr.DryRun, "dry-run", false, "say what would be removed, remove nothing")
	c.AddCommand(thaw, pruneCmd)
	return c
}
