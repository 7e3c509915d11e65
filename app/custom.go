package app

import (
	"context"
	"fmt"
	"slices"

	"github.com/aptsnap/aptsnap/api"
	"github.com/aptsnap/aptsnap/custom"
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

// customs are the App's custom archives.
func (a *App) customs() *custom.Archives {
	return custom.New(custom.Options{Archives: a.Config.Customs, Catalog: a.Catalog, Store: a.Store, Publisher: a.publisher(),
		Locker: a.locker(), Now: a.Now, Log: a.Log, Events: a.Events})
}

// RepoList implements api.Repos.
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

// RepoAdd implements api.Repos.
func (a *App) RepoAdd(ctx context.Context, req api.AddRequest) (api.RepoResult, error) {
	res, err := a.customs().Add(ctx, custom.AddRequest(req))
	return apiRepoResult(res), err
}

func apiRepoResult(r custom.Result) api.RepoResult {
	return api.RepoResult{Archive: r.Archive, Suite: r.Suite, Serial: r.Serial,
		Added: apiPackages(r.Added), Removed: apiPackages(r.Removed), Unchanged: apiPackages(r.Unchanged)}
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
