package app

import (
	"context"

	"github.com/aptsnap/aptsnap/api"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/manifest"
	"github.com/aptsnap/aptsnap/tag"
)

// tagger makes tags in the App's catalog.
func (a *App) tagger() *tag.Tagger {
	return tag.New(tag.Options{Catalog: a.Catalog, Store: a.Store, Publisher: a.publisher(), Locker: a.locker(),
		Now: a.Now, Log: a.Log, Events: a.Events})
}

// TagCreate implements api.Ops.
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
func (a *App) TagDelete(ctx context.Context, name string) (int, error) {
	return a.tagger().Delete(ctx, name)
}

// apiSnapshots converts snapshots for the API (an empty list, not nil).
func apiSnapshots(snaps []catalog.Snapshot) []api.Snapshot {
	out := []api.Snapshot{}
	for _, s := range snaps {
		out = append(out, apiSnapshot(s))
	}
	return out
}
