package app

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aptsnap/aptsnap/api"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/custom"
	"github.com/aptsnap/aptsnap/errdefs"
	"github.com/aptsnap/aptsnap/manifest"
	"github.com/aptsnap/aptsnap/names"
	"github.com/aptsnap/aptsnap/repo"
)

// App implements the admin API's operations on its engines, for the API
// server and for the CLI working on a configuration directly.
var _ api.Ops = (*App)(nil)

// Snapshots implements api.Ops.
func (a *App) Snapshots(ctx context.Context, archive string) ([]api.Snapshot, error) {
	if err := a.known("snapshot list", archive); err != nil {
		return nil, err
	}
	names := []string{archive}
	if archive == "" {
		names = a.Config.Names()
	}
	out := []api.Snapshot{}
	for _, n := range names {
		snaps, err := a.Catalog.Snapshots(ctx, n)
		if err != nil {
			return nil, err
		}
		list := apiSnapshots(snaps)
		if k := len(list) - 1; k >= 0 && !list[k].ValidUntil.IsZero() && !a.Now().Before(list[k].ValidUntil) {
			list[k].Stale = true
		}
		out = append(out, list...)
	}
	return out, nil
}

// Bump implements api.Ops: Valid-Until becomes now + days and the
// snapshot's Release files are signed again; their Date stays.
func (a *App) Bump(ctx context.Context, archive, serial string, days int, allowShorten bool) (api.BumpResult, error) {
	prev, snap, err := a.publisher().Bump(ctx, archive, serial, days, allowShorten)
	if err != nil {
		return api.BumpResult{}, err
	}
	a.Log.Info("bumped", "archive", archive, "serial", serial, "valid_until", snap.ValidUntil, "previous", prev.ValidUntil)
	return api.BumpResult{Snapshot: apiSnapshot(snap), Previous: prev.ValidUntil}, nil
}

// Untrack implements api.Ops.
func (a *App) Untrack(ctx context.Context, archive string, suites []string, dryRun bool) (api.UntrackResult, error) {
	arc, err := a.Config.Archive(archive)
	if err != nil {
		return api.UntrackResult{}, errdefs.Errorf(catalog.ErrNotFound, "untrack: %w", err) // only mirrored archives track suites
	}
	untrack := a.mirror().Untrack
	if dryRun {
		untrack = a.mirror().Resolve
	}
	names, n, err := untrack(ctx, arc, suites...)
	if err != nil {
		return api.UntrackResult{}, err
	}
	return api.UntrackResult{DryRun: dryRun, Archive: archive, Suites: names, Snapshots: n}, nil
}

// Expire implements api.Ops: the snapshot is withdrawn at once.
func (a *App) Expire(ctx context.Context, archive, serial string) (api.Snapshot, error) {
	if err := a.known("snapshot expire", archive); err != nil {
		return api.Snapshot{}, err
	}
	if !names.Serial(serial) {
		return api.Snapshot{}, errdefs.Errorf(errdefs.ErrInvalid, "snapshot expire %s/%s: %q is not a serial (YYYYMMDDNN)", archive, serial, serial)
	}
	if _, err := a.Config.Custom(archive); err == nil {
		// A custom archive's newest holds its contents: withdrawn, the
		// next publish would bring them back.
		if latest, err := a.Catalog.Latest(ctx, archive); err == nil && latest.Serial == serial {
			return api.Snapshot{}, errdefs.Errorf(errdefs.ErrInvalid, "snapshot expire %s/%s: it is the newest snapshot of %s, whose contents are the archive's: "+
				"remove the bad packages first (repo remove, which publishes a fixed snapshot), then withdraw it", archive, serial, archive)
		}
	}
	snap, err := a.Catalog.Expire(ctx, archive, serial)
	if err != nil {
		return api.Snapshot{}, fmt.Errorf("snapshot expire: %w", err)
	}
	a.Events.Changed()
	a.Log.Warn("snapshot withdrawn", "archive", archive, "serial", serial)
	return apiSnapshot(snap), nil
}

// Verify implements api.Ops (see package verify).
func (a *App) Verify(ctx context.Context, archive, serial string) (api.VerifyResult, error) {
	if err := a.known("verify", archive); err != nil {
		return api.VerifyResult{}, err
	}
	if serial != "" && !names.Serial(serial) && !(strings.HasPrefix(serial, "@") && names.Tag(serial[1:])) {
		return api.VerifyResult{}, errdefs.Errorf(errdefs.ErrInvalid, "verify %s/%s: %q is not a serial (YYYYMMDDNN) nor @TAG", archive, serial, serial)
	}
	rep, err := a.verifier().Run(ctx, archive, serial)
	out := api.VerifyResult{Problems: []api.Problem{}, Snapshots: rep.Snapshots, Files: rep.Files, Bytes: rep.Bytes, Signatures: rep.Signatures}
	for _, p := range rep.Problems {
		out.Problems = append(out.Problems, api.Problem(p))
	}
	return out, err
}

// known checks that archive (if not empty) is one the configuration names.
func (a *App) known(verb, archive string) error {
	if archive == "" || slices.Contains(a.Config.Names(), archive) {
		return nil
	}
	return errdefs.Errorf(catalog.ErrNotFound, "%s: no archive %q in the configuration (archives: %s)", verb, archive, strings.Join(a.Config.Names(), ", "))
}

// TagCreate implements api.Ops (see package tag).
func (a *App) TagCreate(ctx context.Context, name string, from map[string]string, m *manifest.Manifest) ([]api.Snapshot, error) {
	snaps, err := a.tagger().Create(ctx, name, from, m)
	return apiSnapshots(snaps), err
}

// Tags implements api.Ops.
func (a *App) Tags(ctx context.Context) ([]api.Snapshot, error) {
	tags, err := a.tagger().List(ctx)
	return apiSnapshots(tags), err
}

// TagDelete implements api.Ops.
func (a *App) TagDelete(ctx context.Context, name string, dryRun bool) (int, error) {
	if !dryRun {
		return a.tagger().Delete(ctx, name)
	}
	tags, err := a.Catalog.Tags(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range tags {
		if t.Serial == catalog.TagSerial(name) {
			n++
		}
	}
	if n == 0 {
		return 0, errdefs.Errorf(catalog.ErrNotFound, "tag delete: no tag %s", name)
	}
	return n, nil
}

// Archives implements api.Repos: the mirrored archives (their suites
// still tracked), then the custom ones.
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

// RepoList implements api.Repos (see package custom).
func (a *App) RepoList(ctx context.Context, archive, suite string) ([]api.Package, error) {
	entries, err := a.customs().List(ctx, archive, suite)
	if err != nil {
		return nil, err
	}
	return append([]api.Package{}, apiPackages(entries)...), nil
}

// RepoRemove implements api.Repos.
func (a *App) RepoRemove(ctx context.Context, archive, suite string, packages []string) (api.RepoResult, error) {
	res, err := a.customs().Remove(ctx, archive, suite, packages)
	return apiRepoResult(res), err
}

// RepoCopy implements api.Repos.
func (a *App) RepoCopy(ctx context.Context, req api.CopyRequest) (api.RepoResult, error) {
	res, err := a.customs().Copy(ctx, custom.CopyRequest(req))
	return apiRepoResult(res), err
}

// RepoPublish implements api.Repos.
func (a *App) RepoPublish(ctx context.Context, archive string) (api.RepoResult, error) {
	res, err := a.customs().Publish(ctx, archive)
	return apiRepoResult(res), err
}

// RepoAdd implements api.Repos.
func (a *App) RepoAdd(ctx context.Context, req api.AddRequest) (api.RepoResult, error) {
	res, err := a.customs().Add(ctx, custom.AddRequest{Archive: req.Archive, Suite: req.Suite, Component: req.Component, Files: req.Files, Publish: req.Publish})
	return apiRepoResult(res), err
}

func apiSnapshot(s catalog.Snapshot) api.Snapshot {
	return api.Snapshot{Archive: s.Archive, Serial: s.Serial, Created: s.Created, ValidUntil: s.ValidUntil, Suites: s.Suites}
}

// apiSnapshots converts snapshots for the API (an empty list, not nil).
func apiSnapshots(snaps []catalog.Snapshot) []api.Snapshot {
	out := []api.Snapshot{}
	for _, s := range snaps {
		out = append(out, apiSnapshot(s))
	}
	return out
}

func apiRepoResult(r custom.Result) api.RepoResult {
	out := api.RepoResult{Archive: r.Archive, Suite: r.Suite, Serial: r.Serial,
		Added: apiPackages(r.Added), Removed: apiPackages(r.Removed), Unchanged: apiPackages(r.Unchanged),
		Pending: r.Pending, PublishBy: r.PublishBy}
	if r.From != nil {
		from := api.CopySource(*r.From)
		out.From = &from
	}
	return out
}

// apiPackages converts packages for the API (nil stays nil).
func apiPackages(es []repo.Entry) []api.Package {
	if es == nil {
		return nil
	}
	out := make([]api.Package, len(es))
	for i, e := range es {
		out[i] = api.Package{Package: e.Package, Version: e.Version, Arch: e.Arch, Kind: e.Kind, Component: e.Component}
	}
	return out
}
