package branch

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/aptsnap/aptsnap/api"
	"github.com/aptsnap/aptsnap/aptprefs"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/debver"
)

// PreferencesPath is where a tree keeps its APT pins, relative to its root.
const PreferencesPath = "config/chroot_apt/preferences"

// Copier is what granting a freeze exception needs from the server.
type Copier interface {
	// Archives lists the archives served.
	Archives(ctx context.Context) ([]api.Archive, error)
	// RepoCopy copies a package into a custom archive's suite.
	RepoCopy(ctx context.Context, req api.CopyRequest) (api.RepoResult, error)
}

// Grant is a freeze exception to grant: a package (and version, the newest
// when empty) from a snapshot, into a suite of the custom archive that
// receives exceptions.
type Grant struct {
	Package, Version string
	// From is ARCHIVE or ARCHIVE/SERIAL (the archive's newest snapshot
	// when no serial).
	From string
	// Suite is the custom archive's suite to copy into.
	Suite string
	// To names the custom archive; when empty, the tree's
	// exceptions_archive, else the server's only custom archive.
	To string
}

// Granted is what a grant did.
type Granted struct {
	// Warnings are about the pin, printed before anything is done.
	Warnings []string
	// Copied is the copy into the custom archive.
	Copied api.RepoResult
	// Pins say, one line per binary package, what happened to its pin.
	Pins []string
	// Wrote is the preferences file written ("" when unchanged).
	Wrote string
}

// Grant copies a package from a snapshot into the custom archive's suite
// and, unless the distribution it comes from is pinned at 990 or more in
// the tree's preferences (it wins there already: no pin is needed),
// pins it from the custom archive's origin at 999 (as Explanation: freeze
// exception). APT pins binary packages: a source package's grant decides
// for each binary copied with it. Everything is decided before anything
// is copied (a dry run of the copy says what it brings and from which
// suite): a grant whose pin APT would not use, or whose preferences
// cannot be read, copies nothing.
func (t *Tree) Grant(ctx context.Context, srv Copier, g Grant) (Granted, error) {
	var out Granted
	archives, err := srv.Archives(ctx)
	if err != nil {
		return out, err
	}
	dest, err := ExceptionsArchive(g.To, t.Settings.ExceptionsArchive, archives)
	if err != nil {
		return out, err
	}
	host, err := hostOf(dest)
	if err != nil {
		return out, fmt.Errorf("exception grant: %w", err)
	}
	for _, a := range archives {
		if h, err := hostOf(a); err == nil && a.Kind != "custom" && h == host {
			out.Warnings = append(out.Warnings, fmt.Sprintf("%s is served from %s too: \"Pin: origin %s\" also pins it "+
				"(give %s its own public_url host)", a.Name, host, host, dest.Name))
		}
	}
	if err := aptprefs.ValidateException(g.Package, host); err != nil {
		return out, err
	}
	prefs, err := ReadPreferences(t.Root)
	if err != nil {
		return out, err
	}
	fromArc, fromSerial, _ := strings.Cut(g.From, "/")
	req := api.CopyRequest{Archive: dest.Name, Suite: g.Suite, FromArchive: fromArc, FromSerial: fromSerial,
		Package: g.Package, Version: g.Version, DryRun: true}
	dry, err := srv.RepoCopy(ctx, req)
	if err != nil {
		return out, err
	}
	src := aptprefs.Source{}
	if dry.From != nil {
		src = aptprefs.Source{Origin: dry.From.Origin, Label: dry.From.Label, Suite: dry.From.ReleaseSuite,
			Codename: dry.From.Codename, Version: dry.From.Version}
	}
	for _, a := range archives {
		if a.Name == fromArc {
			src.Host, _ = hostOf(a)
		}
	}
	// Which binaries need a pin: those whose distribution does not win.
	var need []string
	var notes []string
	for _, p := range dry.Added {
		if p.Kind == "source" || slices.Contains(need, p.Package) || slices.ContainsFunc(notes, func(n string) bool { return strings.HasPrefix(n, p.Package+" ") }) {
			continue
		}
		s := src
		s.Component, s.Architecture = p.Component, p.Arch
		if prio := prefs.Priority(p.Package, s); prio >= 990 {
			notes = append(notes, fmt.Sprintf("%s comes from %s, pinned at %d in %s: no pin needed", p.Package, describe(dry.From), prio, PreferencesPath))
			continue
		}
		need = append(need, p.Package)
	}
	if len(dry.Added) == 0 {
		need = []string{g.Package}
	}
	slices.Sort(need)
	for _, pkg := range need {
		if _, _, err := GrantPin(prefs, pkg, host); err != nil {
			return out, err
		}
	}
	// Published at once: a build needs the exception now. From the very
	// snapshot the pins were decided on, not whatever is newest by now.
	req.DryRun, req.Publish = false, true
	if dry.From != nil && dry.From.Serial != "" && req.FromSerial == "" && dry.From.Archive != dest.Name {
		req.FromSerial = dry.From.Serial
	}
	if out.Copied, err = srv.RepoCopy(ctx, req); err != nil {
		return out, err
	}
	out.Pins = notes
	out.Wrote, err = EditPreferences(t.Root, func(f *aptprefs.File) (bool, error) {
		changedAny := false
		for _, pkg := range need {
			msg, changed, err := GrantPin(f, pkg, host)
			if err != nil {
				return false, err
			}
			out.Pins = append(out.Pins, msg)
			changedAny = changedAny || changed
		}
		return changedAny, nil
	})
	return out, err
}

// hostOf is the host name of an archive's URL: what "Pin: origin" names.
func hostOf(a api.Archive) (string, error) {
	u, err := url.Parse(a.URL)
	if err != nil {
		return "", fmt.Errorf("%s's URL: %w", a.Name, err)
	}
	return u.Hostname(), nil
}

// describe names the suite a copy comes from, with what pins select it.
func describe(s *api.CopySource) string {
	if s == nil {
		return "its distribution"
	}
	var sel []string
	for _, kv := range []struct{ k, v string }{{"o", s.Origin}, {"a", s.ReleaseSuite}, {"n", s.Codename}} {
		if kv.v != "" {
			sel = append(sel, kv.k+"="+kv.v)
		}
	}
	return fmt.Sprintf("%s/%s %s (%s)", s.Archive, s.Serial, s.Suite, strings.Join(sel, ","))
}

// ExceptionsArchive picks the custom archive receiving freeze exceptions:
// the one named by flag, else by setting, else the server's only one.
func ExceptionsArchive(flag, setting string, archives []api.Archive) (api.Archive, error) {
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

// ReadPreferences reads the preferences of the tree at root (empty when
// the file does not exist).
func ReadPreferences(root string) (*aptprefs.File, error) {
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

// GrantPin pins pkg from origin host at 999 as a freeze exception in f
// and says what it did. It fails when APT would not use the pin: an
// earlier entry naming pkg from host (exactly or by a pattern) wins over
// an appended one.
func GrantPin(f *aptprefs.File, pkg, host string) (msg string, changed bool, err error) {
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

// EditPreferences applies edit to the preferences of the tree at root
// and, when it reports a change, writes the file back atomically,
// returning its path ("" when unchanged). Everything edit does not touch
// stays byte for byte.
func EditPreferences(root string, edit func(*aptprefs.File) (bool, error)) (string, error) {
	f, err := ReadPreferences(root)
	if err != nil {
		return "", err
	}
	if changed, err := edit(f); err != nil || !changed {
		return "", err
	}
	p := filepath.Join(root, filepath.FromSlash(PreferencesPath))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	if err := writeAtomic(p, f.Bytes()); err != nil {
		return "", err
	}
	return p, nil
}

// Pruner is what pruning thawed freeze exceptions needs from the server.
type Pruner interface {
	Copier
	// RepoList lists a suite's packages in the archive's newest snapshot.
	RepoList(ctx context.Context, archive, suite string) ([]api.Package, error)
	// RepoRemove removes packages ("name=version") from a suite.
	RepoRemove(ctx context.Context, archive, suite string, packages []string) (api.RepoResult, error)
}

// Prune says what to prune.
type Prune struct {
	// To names the custom archive, as for Grant.
	To string
	// DryRun says what would be removed, removing nothing.
	DryRun bool
}

// Pruned is what a prune did (or would do).
type Pruned struct {
	// Removed are the packages removed, one line each with what carries
	// them now; Kept those still needed from the custom archive.
	Removed, Kept []string
	// Results are the custom archive's changes, one per suite changed.
	Results []api.RepoResult
}

// Prune removes from the custom archive the packages whose freeze
// exception pins were thawed (Pin-Priority -1 from its origin), once the
// newest snapshot of an archive the server mirrors carries them at a
// version at least as new: the exception is no longer needed there. The
// pins stay, at -1. Packages still needed are kept and said so.
func (t *Tree) Prune(ctx context.Context, srv Pruner, p Prune) (Pruned, error) {
	var out Pruned
	archives, err := srv.Archives(ctx)
	if err != nil {
		return out, err
	}
	dest, err := ExceptionsArchive(p.To, t.Settings.ExceptionsArchive, archives)
	if err != nil {
		return out, err
	}
	host, err := hostOf(dest)
	if err != nil {
		return out, fmt.Errorf("exception prune: %w", err)
	}
	prefs, err := ReadPreferences(t.Root)
	if err != nil {
		return out, err
	}
	thawed := map[string]bool{}
	for _, e := range prefs.Exceptions() {
		if o, ok := aptprefs.PinOrigin(e.Pin); ok && strings.EqualFold(o, host) && e.Priority == -1 {
			for _, name := range strings.Fields(e.Package) {
				thawed[name] = true
			}
		}
	}
	if len(thawed) == 0 {
		return out, nil
	}
	for _, suite := range dest.Suites {
		pkgs, err := srv.RepoList(ctx, dest.Name, suite)
		if err != nil {
			return out, err
		}
		var remove []string
		for _, pkg := range pkgs {
			if pkg.Kind == "source" || !thawed[pkg.Package] {
				continue
			}
			where, err := carriedBy(ctx, srv, archives, dest.Name, suite, pkg)
			if err != nil {
				return out, err
			}
			spec := pkg.Package + "=" + pkg.Version
			if where == "" {
				out.Kept = append(out.Kept, fmt.Sprintf("%s %s in %s/%s: no mirrored archive carries it at that version or newer yet", pkg.Package, pkg.Version, dest.Name, suite))
				continue
			}
			if !slices.Contains(remove, spec) {
				remove = append(remove, spec)
				out.Removed = append(out.Removed, fmt.Sprintf("%s %s from %s/%s: %s", pkg.Package, pkg.Version, dest.Name, suite, where))
			}
		}
		if len(remove) == 0 || p.DryRun {
			continue
		}
		res, err := srv.RepoRemove(ctx, dest.Name, suite, remove)
		if err != nil {
			return out, err
		}
		out.Results = append(out.Results, res)
	}
	return out, nil
}

// carriedBy says which mirrored archive's newest snapshot carries pkg at
// its version or newer ("" if none), asking the server what copying it
// would bring (a dry run).
func carriedBy(ctx context.Context, srv Copier, archives []api.Archive, dest, suite string, pkg api.Package) (string, error) {
	for _, a := range archives {
		if a.Kind == "custom" {
			continue
		}
		dry, err := srv.RepoCopy(ctx, api.CopyRequest{Archive: dest, Suite: suite, FromArchive: a.Name, Package: pkg.Package, DryRun: true})
		if errors.Is(err, catalog.ErrNotFound) {
			continue
		}
		if err != nil {
			return "", err
		}
		for _, got := range dry.Added {
			if got.Kind != "source" && got.Package == pkg.Package && debver.Compare(got.Version, pkg.Version) >= 0 {
				return fmt.Sprintf("%s carries %s", describe(dry.From), got.Version), nil
			}
		}
	}
	return "", nil
}
