package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aptsnap/aptsnap/api"
	"github.com/aptsnap/aptsnap/aptprefs"
	"github.com/aptsnap/aptsnap/branch"
	"github.com/aptsnap/aptsnap/catalog"
)

// The consumer verbs run in a release team's source tree (--tree, default
// the current directory): serials, sources and exception.

// PreferencesPath is where a branch keeps its APT pins, under its tree.
const PreferencesPath = "config/chroot_apt/preferences"

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
type branchServer struct{ b *backend }

func (s branchServer) Latest(ctx context.Context, archive string) (string, error) {
	return s.b.Latest(ctx, archive)
}

func (s branchServer) Snapshot(ctx context.Context, archive, serial string) (api.Snapshot, error) {
	snaps, err := s.b.Snapshots(ctx, archive)
	if err != nil {
		return api.Snapshot{}, err
	}
	for _, sn := range snaps {
		if sn.Serial == serial {
			return sn, nil
		}
	}
	return api.Snapshot{}, fmt.Errorf("%w: snapshot %s of %s", catalog.ErrNotFound, serial, archive)
}

func (s branchServer) Bump(ctx context.Context, archive, serial string, days int) (api.BumpResult, error) {
	return s.b.Bump(ctx, archive, serial, days)
}

func serialsCmd(g *globals) *cobra.Command {
	var root string
	var onlySerials bool
	c := &cobra.Command{
		Use:   "serials",
		Short: "A branch's snapshot serials (config/APT_snapshots.d/<archive>/serial): freeze, thaw, resolve",
	}
	c.PersistentFlags().StringVar(&root, "tree", ".", "the branch's source tree")
	c.PersistentFlags().BoolVar(&onlySerials, "print-serials-only", false, "print only the serials, one per line")
	printMap := func(w io.Writer, m map[string]string) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if onlySerials {
				fmt.Fprintln(w, m[k])
			} else {
				fmt.Fprintf(w, "%s: %s\n", k, m[k])
			}
		}
	}
	printChanges := func(w io.Writer, chs []branch.Change) {
		for _, ch := range chs {
			switch {
			case onlySerials:
				fmt.Fprintln(w, ch.New)
			case ch.Changed():
				fmt.Fprintf(w, "%s: %s -> %s\n", ch.Archive, ch.Old, ch.New)
			default:
				fmt.Fprintf(w, "%s: %s (unchanged)\n", ch.Archive, ch.New)
			}
		}
	}
	// local runs f on the tree alone (no server).
	local := func(f func(t *branch.Tree, w io.Writer) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, _ []string) error {
			t, err := branch.Open(root)
			if err != nil {
				return err
			}
			return f(t, cmd.OutOrStdout())
		}
	}
	// remote runs f on the tree and its server.
	remote := func(f func(ctx context.Context, t *branch.Tree, srv branchServer, args []string, w io.Writer) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			t, b, err := g.treeBackend(cmd, root)
			if err != nil {
				return err
			}
			defer b.Close()
			return f(cmd.Context(), t, branchServer{b}, args, cmd.OutOrStdout())
		}
	}
	var exceptionsToo bool
	freeze := &cobra.Command{
		Use:   "freeze [ARCHIVE...]",
		Short: "Write the latest serials (freeze exceptions stay latest unless --freeze-exceptions-too)",
		RunE: remote(func(ctx context.Context, t *branch.Tree, srv branchServer, args []string, w io.Writer) error {
			chs, err := t.Freeze(ctx, srv, args, exceptionsToo)
			if err != nil {
				return err
			}
			printChanges(w, chs)
			return nil
		}),
	}
	freeze.Flags().BoolVar(&exceptionsToo, "freeze-exceptions-too", false, "freeze the archives listed as freeze exceptions too")
	var days, minDays int
	bump := &cobra.Command{
		Use:   "bump --days N",
		Short: "Bump the Valid-Until of every frozen serial to now + N days",
		Args:  cobra.NoArgs,
		RunE: remote(func(ctx context.Context, t *branch.Tree, srv branchServer, _ []string, w io.Writer) error {
			if days <= 0 {
				return errors.New("serials bump: --days must be positive")
			}
			res, err := t.Bump(ctx, srv, days)
			for _, r := range res {
				printBump(w, r)
			}
			return err
		}),
	}
	bump.Flags().IntVar(&days, "days", 0, "days from now")
	expiry := &cobra.Command{
		Use:   "expiry --min-days N",
		Short: "Fail, naming them, if a frozen snapshot expires within N days or is gone",
		Args:  cobra.NoArgs,
		RunE: remote(func(ctx context.Context, t *branch.Tree, srv branchServer, _ []string, w io.Writer) error {
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
	expiry.Flags().IntVar(&minDays, "min-days", 0, "days a frozen snapshot must stay valid")
	c.AddCommand(&cobra.Command{
		Use:   "cat",
		Short: "Print archive: serial-or-latest",
		Args:  cobra.NoArgs,
		RunE: local(func(t *branch.Tree, w io.Writer) error {
			if onlySerials {
				printMap(w, t.Serials())
				return nil
			}
			return t.Cat(w)
		}),
	}, &cobra.Command{
		Use:   "cat-json",
		Short: `Print {"archive":"serial-or-latest",...}`,
		Args:  cobra.NoArgs,
		RunE:  local(func(t *branch.Tree, w io.Writer) error { return t.CatJSON(w) }),
	}, &cobra.Command{
		Use:   "get-latest [ARCHIVE...]",
		Short: "Print the server's latest serials (from its trace files)",
		RunE: remote(func(ctx context.Context, t *branch.Tree, srv branchServer, args []string, w io.Writer) error {
			m, err := t.GetLatest(ctx, srv, args...)
			if err != nil {
				return err
			}
			printMap(w, m)
			return nil
		}),
	}, freeze, &cobra.Command{
		Use:   "thaw [ARCHIVE...]",
		Short: "Write latest",
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := branch.Open(root)
			if err != nil {
				return err
			}
			chs, err := t.Thaw(args)
			if err != nil {
				return err
			}
			printChanges(cmd.OutOrStdout(), chs)
			return nil
		},
	}, &cobra.Command{
		Use:   "prepare-build [JSON]",
		Short: "Resolve latest to concrete serials (or take them from a JSON object) and write them for the build",
		Args:  cobra.MaximumNArgs(1),
		RunE: remote(func(ctx context.Context, t *branch.Tree, srv branchServer, args []string, w io.Writer) error {
			var from []byte
			if len(args) == 1 {
				from = []byte(args[0])
			}
			m, err := t.PrepareBuild(ctx, srv, from)
			if err != nil {
				return err
			}
			printMap(w, m)
			return nil
		}),
	}, bump, expiry)
	return c
}

func sourcesCmd(g *globals) *cobra.Command {
	var root, format, signedBy, lbMain, lbSecurity string
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
			set, err := branch.LoadResolved(root)
			if errors.Is(err, os.ErrNotExist) {
				set, err = resolveNow(ctx, t, branchServer{b})
			}
			if err != nil {
				return err
			}
			archives, err := b.Archives(ctx)
			if err != nil {
				return err
			}
			return printSources(cmd.OutOrStdout(), format, signedBy, lbMain, lbSecurity, set, archives)
		},
	}
	c.Flags().StringVar(&root, "tree", ".", "the branch's source tree")
	c.Flags().StringVar(&format, "format", "one-line", "one-line, deb822 or live-build")
	c.Flags().StringVar(&signedBy, "signed-by", "", "path of the server's key (/keys/aptsnap.asc) for Signed-By")
	c.Flags().StringVar(&lbMain, "lb-archive", "debian", "live-build: the archive for --mirror-bootstrap/-chroot/-binary")
	c.Flags().StringVar(&lbSecurity, "lb-security-archive", "debian-security", "live-build: the archive for --mirror-*-security")
	return c
}

// resolveNow is the tree's serials with latest replaced by the server's.
func resolveNow(ctx context.Context, t *branch.Tree, srv branch.Server) (map[string]string, error) {
	set := t.Serials()
	for arc, s := range set {
		if s == "latest" {
			l, err := srv.Latest(ctx, arc)
			if err != nil {
				return nil, err
			}
			set[arc] = l
		}
	}
	return set, nil
}

func printSources(w io.Writer, format, signedBy, lbMain, lbSecurity string, set map[string]string, archives []api.Archive) error {
	byName := map[string]api.Archive{}
	for _, a := range archives {
		byName[a.Name] = a
	}
	names := make([]string, 0, len(set))
	for n := range set {
		if _, ok := byName[n]; !ok {
			return fmt.Errorf("sources: the server has no archive %q", n)
		}
		names = append(names, n)
	}
	slices.Sort(names)
	uri := func(n string) string { return byName[n].URL + "/" + set[n] + "/" }
	switch format {
	case "one-line":
		opt := ""
		if signedBy != "" {
			opt = "[signed-by=" + signedBy + "] "
		}
		for _, n := range names {
			for _, s := range byName[n].Suites {
				fmt.Fprintf(w, "deb %s%s %s %s\n", opt, uri(n), s, strings.Join(byName[n].Components, " "))
			}
		}
	case "deb822":
		for i, n := range names {
			if i > 0 {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "Types: deb\nURIs: %s\nSuites: %s\nComponents: %s\n", uri(n),
				strings.Join(byName[n].Suites, " "), strings.Join(byName[n].Components, " "))
			if signedBy != "" {
				fmt.Fprintf(w, "Signed-By: %s\n", signedBy)
			}
		}
	case "live-build":
		var args []string
		if _, ok := set[lbMain]; ok {
			for _, f := range []string{"bootstrap", "chroot", "binary"} {
				args = append(args, "--mirror-"+f, uri(lbMain))
			}
		}
		if _, ok := set[lbSecurity]; ok {
			for _, f := range []string{"chroot-security", "binary-security"} {
				args = append(args, "--mirror-"+f, uri(lbSecurity))
			}
		}
		if len(args) == 0 {
			return fmt.Errorf("sources: the branch has neither %s nor %s", lbMain, lbSecurity)
		}
		fmt.Fprintln(w, strings.Join(args, " "))
	default:
		return fmt.Errorf("sources: --format must be one-line, deb822 or live-build, not %q", format)
	}
	return nil
}

func exceptionCmd(g *globals) *cobra.Command {
	var root, suite, from, to string
	c := &cobra.Command{Use: "exception", Short: "Freeze exceptions: a newer package let into a frozen branch, and its pin"}
	c.PersistentFlags().StringVar(&root, "tree", ".", "the branch's source tree")
	grant := &cobra.Command{
		Use:   "grant PACKAGE[=VERSION] --suite SUITE --from ARCHIVE[/SERIAL]",
		Short: "Copy a package from a snapshot into the custom archive's suite and pin it at 999 in " + PreferencesPath,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if suite == "" || from == "" {
				return errors.New("exception grant: --suite and --from are required")
			}
			t, b, err := g.treeBackend(cmd, root)
			if err != nil {
				return err
			}
			defer b.Close()
			ctx, w := cmd.Context(), cmd.OutOrStdout()
			archives, err := b.Archives(ctx)
			if err != nil {
				return err
			}
			dest, err := exceptionsArchive(to, t.Settings.ExceptionsArchive, archives)
			if err != nil {
				return err
			}
			u, err := url.Parse(dest.URL)
			if err != nil {
				return fmt.Errorf("exception grant: %s's URL: %w", dest.Name, err)
			}
			host := u.Hostname()
			for _, a := range archives {
				if au, err := url.Parse(a.URL); err == nil && a.Kind != "custom" && au.Hostname() == host {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s is served from %s too: \"Pin: origin %s\" also pins it "+
						"(give %s its own public_url host)\n", a.Name, host, host, dest.Name)
				}
			}
			name, ver, _ := strings.Cut(args[0], "=")
			if err := aptprefs.ValidateException(name, host); err != nil {
				return err
			}
			// Decide the pin first: a grant whose pin APT would not use,
			// or a preferences file that cannot be read, copies nothing.
			prefs, err := readPreferences(root)
			if err != nil {
				return err
			}
			if _, _, err := grantPin(prefs, name, host); err != nil {
				return err
			}
			fromArc, fromSerial, _ := strings.Cut(from, "/")
			res, err := b.RepoCopy(ctx, api.CopyRequest{Archive: dest.Name, Suite: suite,
				FromArchive: fromArc, FromSerial: fromSerial, Package: name, Version: ver})
			if err != nil {
				return err
			}
			printRepoResult(w, res)
			// APT pins binary packages: granting a source package pins
			// each binary copied with it.
			var pins []string
			for _, p := range append(res.Added, res.Unchanged...) {
				if p.Kind != "source" && !slices.Contains(pins, p.Package) {
					pins = append(pins, p.Package)
				}
			}
			if len(pins) == 0 {
				pins = []string{name}
			}
			slices.Sort(pins)
			return editPreferences(root, w, func(f *aptprefs.File) (bool, error) {
				changedAny := false
				for _, pkg := range pins {
					msg, changed, err := grantPin(f, pkg, host)
					if err != nil {
						return false, err
					}
					fmt.Fprintln(w, msg)
					changedAny = changedAny || changed
				}
				return changedAny, nil
			})
		},
	}
	grant.Flags().StringVar(&suite, "suite", "", "suite of the custom archive to copy into")
	grant.Flags().StringVar(&from, "from", "", "ARCHIVE or ARCHIVE/SERIAL to copy from (its newest snapshot when no serial)")
	grant.Flags().StringVar(&to, "to", "", "custom archive receiving exceptions (default: exceptions_archive in aptsnap.toml, or the server's only custom archive)")
	c.AddCommand(grant, &cobra.Command{
		Use:   "list",
		Short: "List the freeze-exception pins of " + PreferencesPath,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := readPreferences(root)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, e := range f.Exceptions() {
				fmt.Fprintf(w, "%s\t%s\t%d\n", e.Package, e.Pin, e.Priority)
			}
			return nil
		},
	}, &cobra.Command{
		Use:   "thaw",
		Short: "Set every freeze-exception pin to Pin-Priority: -1",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			return editPreferences(root, w, func(f *aptprefs.File) (bool, error) {
				n := f.ThawExceptions()
				fmt.Fprintf(w, "%d freeze exception pin(s) set to -1\n", n)
				return n > 0, nil
			})
		},
	})
	return c
}

// exceptionsArchive picks the custom archive receiving freeze exceptions.
func exceptionsArchive(flag, setting string, archives []api.Archive) (api.Archive, error) {
	want := flag
	if want == "" {
		want = setting
	}
	var customs []api.Archive
	for _, a := range archives {
		if a.Kind == "custom" {
			if a.Name == want {
				return a, nil
			}
			customs = append(customs, a)
		}
	}
	switch {
	case want != "":
		return api.Archive{}, fmt.Errorf("exception: the server has no custom archive %q", want)
	case len(customs) == 1:
		return customs[0], nil
	case len(customs) == 0:
		return api.Archive{}, errors.New("exception: the server has no custom archive ([[custom]] in its configuration)")
	}
	return api.Archive{}, errors.New("exception: the server has several custom archives: give --to or exceptions_archive in aptsnap.toml")
}

func readPreferences(root string) (*aptprefs.File, error) {
	p := filepath.Join(root, filepath.FromSlash(PreferencesPath))
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		data, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	f, err := aptprefs.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return f, nil
}

// grantPin pins pkg from origin host at 999 as a freeze exception in f
// (unless an entry already gives it 990 or more) and says what it did. It
// fails when APT would not use the pin: an earlier entry naming pkg from
// host (exactly or by a pattern) wins over an appended one.
func grantPin(f *aptprefs.File, pkg, host string) (msg string, changed bool, err error) {
	prio := f.OriginPriority(pkg, host)
	if prio == 0 {
		prio = 500 // no pin: APT's default
	}
	if prio >= 990 && !slices.ContainsFunc(f.Exceptions(), func(e aptprefs.Entry) bool {
		return aptprefs.NamesPackage(e.Package, pkg)
	}) {
		return fmt.Sprintf("%s from %s is already pinned at %d: preferences unchanged", pkg, host, prio), false, nil
	}
	changed = f.GrantException(pkg, host)
	if got := f.OriginPriority(pkg, host); got != 999 {
		return "", false, fmt.Errorf("exception grant: an earlier entry of %s pins %s from origin %s at %d and APT would use it, not a freeze exception at 999: change that entry, then grant again",
			PreferencesPath, pkg, host, got)
	}
	if changed {
		return fmt.Sprintf("pinned %s from origin %s at 999 (freeze exception)", pkg, host), true, nil
	}
	return fmt.Sprintf("%s from origin %s: pin already in place", pkg, host), false, nil
}

// editPreferences applies edit to the branch's preferences and, when it
// reports a change, writes the file back atomically.
func editPreferences(root string, w io.Writer, edit func(*aptprefs.File) (bool, error)) error {
	f, err := readPreferences(root)
	if err != nil {
		return err
	}
	if changed, err := edit(f); err != nil || !changed {
		return err
	}
	p := filepath.Join(root, filepath.FromSlash(PreferencesPath))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, f.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s\n", p)
	return nil
}
