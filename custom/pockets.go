package custom

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/deb822"
	"github.com/aptsnap/aptsnap/debpkg"
	"github.com/aptsnap/aptsnap/errdefs"
	"github.com/aptsnap/aptsnap/pgp"
	"github.com/aptsnap/aptsnap/repo"
)

// The pockets of a series (S-proposed, S-updates) take packages only
// through stable update requests (package stable): the changes below, and
// Add with AddRequest.Update set. Plain imports, copies and removals there
// are refused.

// PhaseField is the Packages field APT phases an update by (a percentage
// of machines that take it; absent: all).
const PhaseField = "Phased-Update-Percentage"

// guard refuses a change of a series' pocket that no stable update
// request makes.
func guard(cu *config.Custom, verb, suite, update string) error {
	if update != "" {
		return nil
	}
	if series, pocket, ok := cu.SeriesOf(suite); ok && pocket != "" {
		return errdefs.Errorf(errdefs.ErrInvalid, "%s: %s/%s is the %s pocket of the series %s/%s: packages go there only through a stable update request (aptsnap update new %s/%s --source ...)",
			verb, cu.Name, suite, strings.TrimPrefix(pocket, "-"), cu.Name, series, cu.Name, series)
	}
	return nil
}

// Uploaded describes an upload for a stable update request, checked but
// not imported (see Inspect).
type Uploaded struct {
	// Changes are the .changes files, by base name, with the fingerprint
	// of the key that signed each.
	Changes map[string]string
	// Sources are the source packages uploaded, name to version.
	Sources map[string]string
	// Binaries are the binary packages uploaded, with their control files.
	Binaries []UploadedBinary
	// Unlisted are packages given but listed by no .changes.
	Unlisted []string
}

// UploadedBinary is one binary package of an upload.
type UploadedBinary struct {
	Package, Version, Arch string
	// Source and SourceVersion name the source it was built from.
	Source, SourceVersion string
	Control               []byte
	// Path is the file's path.
	Path string
}

// Inspect checks an upload as Add would (every listed file given, with its
// size and checksums; each .changes signed by a key of the archive's
// keyring, which a stable update needs) and describes it, importing
// nothing.
func (x *Archives) Inspect(archive string, files []string) (*Uploaded, error) {
	cu, err := x.custom(archive)
	if err != nil {
		return nil, err
	}
	if cu.Keyring == "" {
		return nil, errdefs.Errorf(errdefs.ErrInvalid, "%s has no keyring: stable updates take .changes signed by a known key; set keyring in its [[custom]] section", archive)
	}
	up, err := planUpload(cu, files)
	if err != nil {
		return nil, err
	}
	kr, err := pgp.LoadKeyring(cu.Keyring)
	if err != nil {
		return nil, err
	}
	out := &Uploaded{Changes: map[string]string{}, Sources: map[string]string{}}
	listed := map[string]bool{}
	for _, p := range files {
		if filepath.Ext(p) != ".changes" {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		ch, err := debpkg.ParseChanges(data, kr) // checked by planUpload already
		if err != nil {
			return nil, errdefs.Errorf(errdefs.ErrInvalid, "%s: %w", filepath.Base(p), err)
		}
		out.Changes[filepath.Base(p)] = ch.Signer
		for _, f := range ch.Files {
			listed[f.Name] = true
		}
	}
	for _, src := range up.srcs {
		out.Sources[src.dsc.Source] = src.dsc.Version
		if !listed[src.name] {
			out.Unlisted = append(out.Unlisted, src.name)
		}
	}
	for _, p := range up.debs {
		if !listed[filepath.Base(p)] {
			out.Unlisted = append(out.Unlisted, filepath.Base(p))
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		control, err := debpkg.ReadControl(f, st.Size())
		f.Close()
		if err != nil {
			return nil, errdefs.Errorf(errdefs.ErrInvalid, "%s: %w", filepath.Base(p), err)
		}
		e, err := repo.NewEntry(repo.Deb, "", control)
		if err != nil {
			return nil, errdefs.Errorf(errdefs.ErrInvalid, "%s: %w", filepath.Base(p), err)
		}
		out.Binaries = append(out.Binaries, UploadedBinary{Package: e.Package, Version: e.Version, Arch: e.Arch,
			Source: e.SourceName, SourceVersion: e.SourceVersion, Control: control, Path: p})
	}
	return out, nil
}

// PromoteRequest copies a family of source packages, at given versions,
// with every binary built from them, from one suite of a custom archive
// into another, as one snapshot (a stable update's release from
// S-proposed into S-updates).
type PromoteRequest struct {
	Archive  string
	From, To string
	// Sources are the source packages, name to version.
	Sources map[string]string
	// Phase, from 0 to 99, sets PhaseField on the binaries copied; 100
	// (or more) leaves it out.
	Phase int
	// Update names the stable update request that makes the change.
	Update string
}

// Promote copies req.Sources from req.From to req.To (see PromoteRequest).
// A source or version missing from req.From is refused, changing nothing.
func (x *Archives) Promote(ctx context.Context, req PromoteRequest) (Result, error) {
	res := Result{Archive: req.Archive, Suite: req.To}
	cu, err := x.custom(req.Archive)
	if err != nil {
		return res, err
	}
	if req.Update == "" {
		return res, errdefs.Errorf(errdefs.ErrInvalid, "promote: only a stable update request promotes packages")
	}
	snap, err := x.edit(ctx, req.Archive, &res, func(suites map[string]*repo.Suite) error {
		from, err := suiteOf(suites, req.Archive, req.From)
		if err != nil {
			return err
		}
		to, err := suiteOf(suites, req.Archive, req.To)
		if err != nil {
			return err
		}
		for _, name := range slices.Sorted(maps.Keys(req.Sources)) {
			es := built(from, name, req.Sources[name])
			if len(es) == 0 {
				return errdefs.Errorf(catalog.ErrNotFound, "promote: %s=%s is not in %s/%s", name, req.Sources[name], req.Archive, req.From)
			}
			for _, e := range es {
				if e.Kind != repo.Source && req.Phase < 100 {
					if e, err = withField(e, PhaseField, strconv.Itoa(max(req.Phase, 0))); err != nil {
						return err
					}
				}
				if err := addEntry(to, e, cu.MultipleVersions, &res); err != nil {
					return err
				}
			}
		}
		return nil
	}, nil, true)
	x.created(ctx, snap)
	return res, err
}

// SetPhase sets PhaseField of the binaries built from sources (name to
// version) in a suite to pct (100 or more: removes it, every machine takes
// them), as one snapshot. Nothing to change makes no snapshot.
func (x *Archives) SetPhase(ctx context.Context, archive, suite string, sources map[string]string, pct int, update string) (Result, error) {
	res := Result{Archive: archive, Suite: suite}
	if update == "" {
		return res, errdefs.Errorf(errdefs.ErrInvalid, "phase: only a stable update request phases packages")
	}
	snap, err := x.edit(ctx, archive, &res, func(suites map[string]*repo.Suite) error {
		s, err := suiteOf(suites, archive, suite)
		if err != nil {
			return err
		}
		found := map[string]bool{}
		for i, e := range s.Entries {
			if e.Kind == repo.Source || sources[e.SourceName] != e.SourceVersion {
				continue
			}
			found[e.SourceName] = true
			ne := e
			if pct >= 100 {
				ne, err = withoutField(e, PhaseField)
			} else {
				ne, err = withField(e, PhaseField, strconv.Itoa(max(pct, 0)))
			}
			if err != nil {
				return err
			}
			if !bytes.Equal(ne.Raw, e.Raw) {
				s.Entries[i] = ne
				res.Removed, res.Added = append(res.Removed, e), append(res.Added, ne)
			}
		}
		for name, ver := range sources {
			if !found[name] {
				return errdefs.Errorf(catalog.ErrNotFound, "phase: no binary of %s=%s in %s/%s", name, ver, archive, suite)
			}
		}
		return nil
	}, nil, true)
	x.created(ctx, snap)
	return res, err
}

// RemoveSources removes source packages at given versions (name to
// version) and every binary built from them from a suite, as one snapshot:
// what a rejected stable update takes out of S-proposed. Versions no
// longer there are skipped.
func (x *Archives) RemoveSources(ctx context.Context, archive, suite string, sources map[string]string, update string) (Result, error) {
	res := Result{Archive: archive, Suite: suite}
	if update == "" {
		return res, errdefs.Errorf(errdefs.ErrInvalid, "remove: only a stable update request removes a family")
	}
	snap, err := x.edit(ctx, archive, &res, func(suites map[string]*repo.Suite) error {
		s, err := suiteOf(suites, archive, suite)
		if err != nil {
			return err
		}
		s.Entries = slices.DeleteFunc(s.Entries, func(e repo.Entry) bool {
			if v, ok := sources[e.SourceName]; ok && v == e.SourceVersion {
				res.Removed = append(res.Removed, e)
				return true
			}
			return false
		})
		return nil
	}, nil, true)
	x.created(ctx, snap)
	return res, err
}

// built returns the entries of a suite built from source name at version:
// the source and its binaries.
func built(s *repo.Suite, name, version string) []repo.Entry {
	var out []repo.Entry
	for _, e := range s.Entries {
		if e.SourceName == name && e.SourceVersion == version {
			out = append(out, e)
		}
	}
	return out
}

// withField returns e with field set to value in its stanza.
func withField(e repo.Entry, field, value string) (repo.Entry, error) {
	return editStanza(e, func(p *deb822.Paragraph) { p.Set(field, value) })
}

// withoutField returns e without field in its stanza.
func withoutField(e repo.Entry, field string) (repo.Entry, error) {
	return editStanza(e, func(p *deb822.Paragraph) { p.Del(field) })
}

func editStanza(e repo.Entry, edit func(*deb822.Paragraph)) (repo.Entry, error) {
	p, err := deb822.NewReader(bytes.NewReader(e.Raw)).Next()
	if err != nil {
		return e, fmt.Errorf("%s: %w", e, err)
	}
	edit(p)
	var b bytes.Buffer
	if err := deb822.NewWriter(&b).Write(p); err != nil {
		return e, fmt.Errorf("%s: %w", e, err)
	}
	ne, err := repo.NewEntry(e.Kind, e.Component, bytes.TrimRight(b.Bytes(), "\n"))
	if err != nil {
		return e, fmt.Errorf("%s: %w", e, err)
	}
	return ne, nil
}
