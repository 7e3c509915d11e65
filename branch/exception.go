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
// and pins it from that archive's origin at 999 in the tree's preferences
// (as Explanation: freeze exception), unless it is pinned at 990 or more
// already. APT pins binary packages: a source package's grant pins each
// binary copied with it. The pin is decided before anything is copied: a
// grant whose pin APT would not use, or whose preferences cannot be read,
// copies nothing.
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
	u, err := url.Parse(dest.URL)
	if err != nil {
		return out, fmt.Errorf("exception grant: %s's URL: %w", dest.Name, err)
	}
	host := u.Hostname()
	for _, a := range archives {
		if au, err := url.Parse(a.URL); err == nil && a.Kind != "custom" && au.Hostname() == host {
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
	if _, _, err := GrantPin(prefs, g.Package, host); err != nil {
		return out, err
	}
	fromArc, fromSerial, _ := strings.Cut(g.From, "/")
	out.Copied, err = srv.RepoCopy(ctx, api.CopyRequest{Archive: dest.Name, Suite: g.Suite,
		FromArchive: fromArc, FromSerial: fromSerial, Package: g.Package, Version: g.Version})
	if err != nil {
		return out, err
	}
	var pins []string
	for _, p := range append(out.Copied.Added, out.Copied.Unchanged...) {
		if p.Kind != "source" && !slices.Contains(pins, p.Package) {
			pins = append(pins, p.Package)
		}
	}
	if len(pins) == 0 {
		pins = []string{g.Package}
	}
	slices.Sort(pins)
	out.Wrote, err = EditPreferences(t.Root, func(f *aptprefs.File) (bool, error) {
		changedAny := false
		for _, pkg := range pins {
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
// (unless an entry already gives it 990 or more) and says what it did. It
// fails when APT would not use the pin: an earlier entry naming pkg from
// host (exactly or by a pattern) wins over an appended one.
func GrantPin(f *aptprefs.File, pkg, host string) (msg string, changed bool, err error) {
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
