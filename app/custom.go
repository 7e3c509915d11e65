package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aptsnap/aptsnap/api"
	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/debver"
	"github.com/aptsnap/aptsnap/index"
	"github.com/aptsnap/aptsnap/publish"
	"github.com/aptsnap/aptsnap/release"
	"github.com/aptsnap/aptsnap/repo"
)

// Archives implements api.Repos.
func (a *App) Archives(ctx context.Context) ([]api.Archive, error) {
	var out []api.Archive
	for _, arc := range a.Config.Archives {
		untracked, err := a.Catalog.Untracked(ctx, arc.Name)
		if err != nil {
			return nil, err
		}
		suites := slices.DeleteFunc(slices.Clone(arc.Suites), func(s string) bool { return slices.Contains(untracked, s) })
		out = append(out, api.Archive{Name: arc.Name, Kind: "mirror", URL: a.Config.PublicURL + "/" + arc.Name,
			Suites: suites, Components: arc.Components, Architectures: arc.Architectures})
	}
	for _, cu := range a.Config.Customs {
		out = append(out, api.Archive{Name: cu.Name, Kind: "custom", URL: cu.PublicURL + "/" + cu.Name,
			Suites: cu.Suites, Components: cu.Components, Architectures: cu.Architectures})
	}
	return out, nil
}

// Latest implements api.Repos.
func (a *App) Latest(ctx context.Context, archive string) (string, error) {
	s, err := a.Catalog.Latest(ctx, archive)
	if err != nil {
		return "", fmt.Errorf("latest %s: %w", archive, err)
	}
	return s.Serial, nil
}

// RepoList implements api.Repos.
func (a *App) RepoList(ctx context.Context, archive, suite string) ([]api.Package, error) {
	cu, err := a.custom(archive)
	if err != nil {
		return nil, err
	}
	suites, _, err := a.customSuites(ctx, cu)
	if err != nil {
		return nil, err
	}
	s, ok := suites[suite]
	if !ok {
		return nil, fmt.Errorf("repo list: %w: %s has no suite %q", catalog.ErrNotFound, archive, suite)
	}
	out := []api.Package{}
	for _, e := range s.Entries {
		out = append(out, apiPackage(e))
	}
	slices.SortFunc(out, func(x, y api.Package) int {
		return strings.Compare(x.Package+"\x00"+x.Arch+"\x00"+x.Version, y.Package+"\x00"+y.Arch+"\x00"+y.Version)
	})
	return out, nil
}

// RepoRemove implements api.Repos.
func (a *App) RepoRemove(ctx context.Context, archive, suite string, packages []string) (api.RepoResult, error) {
	res := api.RepoResult{Archive: archive, Suite: suite}
	if len(packages) == 0 {
		return res, fmt.Errorf("repo remove: %w: no package named", api.ErrInvalid)
	}
	err := a.editCustom(ctx, archive, &res, func(suites map[string]*repo.Suite) error {
		s, err := suiteOf(suites, archive, suite)
		if err != nil {
			return err
		}
		for _, p := range packages {
			name, ver, _ := strings.Cut(p, "=")
			gone := s.Remove(name, ver)
			if len(gone) == 0 {
				return fmt.Errorf("repo remove: %w: %s is not in %s/%s", catalog.ErrNotFound, p, archive, suite)
			}
			for _, e := range gone {
				res.Removed = append(res.Removed, apiPackage(e))
			}
		}
		return nil
	})
	return res, err
}

// RepoCopy implements api.Repos.
func (a *App) RepoCopy(ctx context.Context, req api.CopyRequest) (api.RepoResult, error) {
	res := api.RepoResult{Archive: req.Archive, Suite: req.Suite}
	if req.Package == "" || req.FromArchive == "" {
		return res, fmt.Errorf("repo copy: %w: a package and a source archive are needed", api.ErrInvalid)
	}
	cu, err := a.custom(req.Archive)
	if err != nil {
		return res, err
	}
	var copiedFrom string
	err = a.editCustom(ctx, req.Archive, &res, func(suites map[string]*repo.Suite) error {
		dst, err := suiteOf(suites, req.Archive, req.Suite)
		if err != nil {
			return err
		}
		var from []repo.Entry
		var fromWhere string
		if req.FromArchive == req.Archive && req.FromSerial == "" {
			src, err := suiteOf(suites, req.Archive, req.FromSuite)
			if err != nil {
				return err
			}
			from, fromWhere = src.Find(req.Package, req.Version), req.Archive+"/"+req.FromSuite
		} else if from, fromWhere, err = a.findInSnapshot(ctx, req); err != nil {
			// Under editCustom's shared sweep lock: the files found stored
			// stay until the commit references them.
			return err
		}
		// Binaries of architectures the archive does not serve stay behind.
		served := slices.DeleteFunc(slices.Clone(from), func(e repo.Entry) bool {
			return e.Kind != repo.Source && e.Arch != "all" && !slices.Contains(dst.Architectures, e.Arch)
		})
		if len(from) == 0 || (len(served) < len(from) && !slices.ContainsFunc(served, func(e repo.Entry) bool { return e.Kind != repo.Source })) {
			what := ""
			if len(from) > 0 {
				what = " for " + strings.Join(dst.Architectures, ", ")
			}
			return fmt.Errorf("repo copy: %w: %s%s in %s", catalog.ErrNotFound, pkgSpec(req.Package, req.Version), what, fromWhere)
		}
		for _, e := range served {
			if !slices.Contains(dst.Components, e.Component) {
				e.Component = dst.Components[0]
			}
			if err := a.addEntry(dst, e, cu.MultipleVersions, &res); err != nil {
				return err
			}
		}
		copiedFrom = fromWhere
		return nil
	})
	if err == nil {
		a.Log.Info("copied", "package", pkgSpec(req.Package, req.Version), "from", copiedFrom, "to", req.Archive+"/"+req.Suite, "serial", res.Serial)
	}
	return res, err
}

// findInSnapshot finds what copying req.Package brings from a snapshot of
// any archive, checking that the files it lists are stored.
func (a *App) findInSnapshot(ctx context.Context, req api.CopyRequest) ([]repo.Entry, string, error) {
	var snap catalog.Snapshot
	var err error
	if req.FromSerial == "" {
		snap, err = a.Catalog.Latest(ctx, req.FromArchive)
	} else {
		snap, err = a.Catalog.Snapshot(ctx, req.FromArchive, req.FromSerial)
	}
	if err != nil {
		return nil, "", fmt.Errorf("repo copy: %w", err)
	}
	where := req.FromArchive + "/" + snap.Serial
	// Without a suite, the newest version across the snapshot's suites
	// (bookworm-updates over bookworm).
	var best []repo.Entry
	var bestWhere string
	for _, name := range snap.Suites {
		if req.FromSuite != "" && name != req.FromSuite {
			continue
		}
		su, err := a.Catalog.Suite(ctx, snap.ID, name)
		if err != nil {
			return nil, "", err
		}
		s, err := a.loadSuite(ctx, name, nil, nil, su)
		if err != nil {
			return nil, "", err
		}
		if found := s.Find(req.Package, req.Version); len(found) > 0 {
			for _, e := range found {
				entries, err := index.PoolFiles(indexKind(e.Kind), e.Raw)
				if err != nil {
					return nil, "", err
				}
				for _, pe := range entries {
					if _, err := a.Store.Stat(ctx, pe.SHA256); err != nil {
						return nil, "", fmt.Errorf("repo copy: %s: %w", pe.Path, err)
					}
				}
			}
			if best == nil || debver.Compare(entriesVersion(found), entriesVersion(best)) > 0 {
				best, bestWhere = found, where+"/"+name
			}
		}
	}
	if best != nil {
		return best, bestWhere, nil
	}
	return nil, where, fmt.Errorf("repo copy: %w: %s in %s", catalog.ErrNotFound, pkgSpec(req.Package, req.Version), where)
}

// entriesVersion is the version a Find result copies: its binaries', else
// its source's.
func entriesVersion(es []repo.Entry) string {
	for _, e := range es {
		if e.Kind != repo.Source {
			return e.Version
		}
	}
	return es[0].Version
}

// Resnapshot makes a fresh snapshot of a custom archive's newest contents
// (a new serial, Date and Valid-Until): the pulse of an archive we own.
func (a *App) Resnapshot(ctx context.Context, archive string) (catalog.Snapshot, error) {
	var res api.RepoResult
	err := a.editCustom(ctx, archive, &res, nil)
	if err != nil {
		return catalog.Snapshot{}, err
	}
	return a.Catalog.Snapshot(ctx, archive, res.Serial)
}

// pulseCustom is Resnapshot, recorded as a pulse.
func (a *App) pulseCustom(ctx context.Context, archive string) (catalog.Snapshot, error) {
	started := a.Now()
	snap, err := a.Resnapshot(ctx, archive)
	p := catalog.Pulse{Archive: archive, Started: started, Finished: a.Now(), OK: err == nil, Serial: snap.Serial}
	if err != nil {
		p.Error = err.Error()
		a.Log.Error("resnapshot failed", "archive", archive, "err", err)
	}
	if rerr := a.Catalog.RecordPulse(ctx, p); rerr != nil && err == nil {
		err = rerr
	}
	if a.Metrics != nil {
		reason := ""
		if err != nil {
			reason = "other"
		}
		a.Metrics.Pulse(archive, reason, p.Finished.Sub(started), p.Finished)
	}
	return snap, err
}

func (a *App) custom(name string) (*config.Custom, error) {
	cu, err := a.Config.Custom(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not a custom archive", catalog.ErrNotFound, name)
	}
	return cu, nil
}

func suiteOf(suites map[string]*repo.Suite, archive, suite string) (*repo.Suite, error) {
	s, ok := suites[suite]
	if !ok {
		return nil, fmt.Errorf("%w: %s has no suite %q", catalog.ErrNotFound, archive, suite)
	}
	return s, nil
}

func (a *App) addEntry(s *repo.Suite, e repo.Entry, multi bool, res *api.RepoResult) error {
	replaced, added, err := s.Add(e, multi)
	if errors.Is(err, repo.ErrConflict) {
		return fmt.Errorf("%w: %v", api.ErrExists, err)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", api.ErrInvalid, err)
	}
	for _, r := range replaced {
		res.Removed = append(res.Removed, apiPackage(r))
	}
	if added {
		res.Added = append(res.Added, apiPackage(e))
	} else {
		res.Unchanged = append(res.Unchanged, apiPackage(e))
	}
	return nil
}

func apiPackage(e repo.Entry) api.Package {
	return api.Package{Package: e.Package, Version: e.Version, Arch: e.Arch, Kind: e.Kind, Component: e.Component}
}

func pkgSpec(name, version string) string {
	if version == "" {
		return name
	}
	return name + "=" + version
}

func indexKind(kind string) string {
	if kind == repo.Source {
		return "Sources"
	}
	return "Packages"
}

// editCustom changes a custom archive: under its lock, it loads the
// suites from the newest snapshot, lets edit change them (nil: no change,
// a fresh snapshot of the same contents), and commits them as the next
// snapshot. When edit changes nothing (no package added or removed), no
// snapshot is made and res.Serial stays empty.
func (a *App) editCustom(ctx context.Context, archive string, res *api.RepoResult, edit func(map[string]*repo.Suite) error) error {
	cu, err := a.custom(archive)
	if err != nil {
		return err
	}
	// As a writer of the archive: GC keeps files newer than a running
	// writer's start, and the ones written below are not referenced
	// until the commit.
	wl, err := a.locker().Writer(ctx, archive, true)
	if err != nil {
		return fmt.Errorf("%s: %w", archive, err)
	}
	defer wl.Release()
	sl, err := a.locker().Sweep(ctx, false)
	if err != nil {
		return err
	}
	defer sl.Release()
	suites, exists, err := a.customSuites(ctx, cu)
	if err != nil {
		return err
	}
	if edit != nil {
		clashed, err := poolClashes(suites)
		if err != nil {
			return fmt.Errorf("%s: %w", archive, err)
		}
		if err := edit(suites); err != nil {
			return err
		}
		if exists && len(res.Added) == 0 && len(res.Removed) == 0 {
			return nil
		}
		clashes, err := poolClashes(suites)
		if err != nil {
			return fmt.Errorf("%s: %w", archive, err)
		}
		var added []string
		for p, what := range clashes {
			if _, old := clashed[p]; !old {
				added = append(added, what)
			}
		}
		if len(added) > 0 {
			slices.Sort(added)
			return fmt.Errorf("%w: %s: %s", api.ErrExists, archive, strings.Join(added, "; "))
		}
	}
	snap, err := a.commitCustom(ctx, cu, suites)
	if err != nil {
		return fmt.Errorf("%s: %w", archive, err)
	}
	res.Serial = snap.Serial
	a.invalidate()
	a.Log.Info("custom archive snapshot", "archive", archive, "serial", snap.Serial,
		"added", len(res.Added), "removed", len(res.Removed))
	return nil
}

// poolClashes returns the pool paths that the entries of the suites (which
// share one pool) list with two different contents, each with what lists
// them. Such a path would be two files in one snapshot, and clients of one
// suite would be served the other's.
func poolClashes(suites map[string]*repo.Suite) (map[string]string, error) {
	type lister struct {
		sha blob.Digest
		who string
	}
	names := make([]string, 0, len(suites))
	for name := range suites {
		names = append(names, name)
	}
	slices.Sort(names)
	seen := map[string]lister{}
	clashes := map[string]string{}
	for _, name := range names {
		for _, e := range suites[name].Entries {
			files, err := index.PoolFiles(indexKind(e.Kind), e.Raw)
			if err != nil {
				return nil, fmt.Errorf("%s %s in %s: %w", e.Kind, e, name, err)
			}
			for _, f := range files {
				who := fmt.Sprintf("%s %s in %s", e.Kind, e, name)
				o, ok := seen[f.Path]
				if !ok {
					seen[f.Path] = lister{f.SHA256, who}
				} else if o.sha != f.SHA256 && clashes[f.Path] == "" {
					clashes[f.Path] = fmt.Sprintf("%s of %s and of %s differ (same name and version, different content)", f.Path, o.who, who)
				}
			}
		}
	}
	return clashes, nil
}

// customSuites loads every configured suite of a custom archive from its
// newest snapshot (empty suites when there is none, or for a suite added
// to the configuration since).
func (a *App) customSuites(ctx context.Context, cu *config.Custom) (map[string]*repo.Suite, bool, error) {
	suites := map[string]*repo.Suite{}
	for _, name := range cu.Suites {
		suites[name] = &repo.Suite{Name: name, Components: cu.Components, Architectures: cu.Architectures}
	}
	snap, err := a.Catalog.Latest(ctx, cu.Name)
	if errors.Is(err, catalog.ErrNotFound) {
		return suites, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	for _, name := range snap.Suites {
		if suites[name] == nil {
			continue // no longer configured
		}
		su, err := a.Catalog.Suite(ctx, snap.ID, name)
		if err != nil {
			return nil, false, err
		}
		s, err := a.loadSuite(ctx, name, cu.Components, cu.Architectures, su)
		if err != nil {
			return nil, false, fmt.Errorf("%s/%s %s: %w", cu.Name, snap.Serial, name, err)
		}
		suites[name] = s
	}
	return suites, true, nil
}

// loadSuite reads a served suite's Packages and Sources indices.
func (a *App) loadSuite(ctx context.Context, name string, comps, archs []string, su catalog.Suite) (*repo.Suite, error) {
	byPath := map[string]catalog.IndexFile{}
	bases := map[string]bool{}
	for _, f := range su.Files {
		byPath[f.Path] = f
		base := strings.TrimSuffix(strings.TrimSuffix(f.Path, ".gz"), ".xz")
		if !strings.Contains(f.Path, "/by-hash/") && repo.IndexKind(base) != "" {
			bases[base] = true
		}
	}
	files := map[string][]byte{}
	for base := range bases {
		data, err := index.ReadSuite(ctx, a.Store, byPath, base)
		if err != nil {
			return nil, err
		}
		files[base] = data
	}
	return repo.Load(name, comps, archs, files)
}

// commitCustom writes every suite's indices (plain, .gz, .xz) to the
// store, and publishes them with a Release per suite as the next snapshot.
func (a *App) commitCustom(ctx context.Context, cu *config.Custom, suites map[string]*repo.Suite) (catalog.Snapshot, error) {
	pub := a.publisher()
	created := a.Now().UTC()
	ps := publish.Snapshot{Archive: cu.Name, Created: created, ValidDays: cu.ValidDays, URL: cu.PublicURL}
	for _, name := range cu.Suites {
		su := publish.Suite{Name: name, UpstreamDate: created}
		idx := suites[name].Indices()
		paths := make([]string, 0, len(idx))
		for p := range idx {
			paths = append(paths, p)
		}
		slices.Sort(paths)
		for _, p := range paths {
			files, ix, err := pub.WriteIndex(ctx, p, idx[p])
			if err != nil {
				return catalog.Snapshot{}, fmt.Errorf("%s %w", name, err)
			}
			su.Files = append(su.Files, files...)
			su.Indices = append(su.Indices, ix)
		}
		head := fmt.Sprintf("Origin: %s\nLabel: %s\nSuite: %s\nCodename: %s\nDate: %s\nAcquire-By-Hash: yes\nArchitectures: %s\nComponents: %s\nDescription: %s %s (aptsnap custom archive)\n",
			cu.Origin, cu.Label, name, name, release.FormatTime(created), strings.Join(cu.Architectures, " "),
			strings.Join(cu.Components, " "), cu.Name, name)
		up, err := release.Parse([]byte(head))
		if err != nil {
			return catalog.Snapshot{}, err
		}
		info, err := a.Store.Put(ctx, strings.NewReader(head), blob.Digest{}, -1)
		if err != nil {
			return catalog.Snapshot{}, err
		}
		su.Fields, su.Upstream = up, info.Digest
		ps.Suites = append(ps.Suites, su)
	}
	snaps, err := pub.Publish(ctx, ps)
	if err != nil {
		return catalog.Snapshot{}, err
	}
	return snaps[0], nil
}
