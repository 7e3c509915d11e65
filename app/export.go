package app

import (
	"context"

	"github.com/aptsnap/aptsnap/export"
)

// OpenExport opens the export directory dir for this installation's
// snapshots (see package export), waiting while another exporter writes it.
func (a *App) OpenExport(ctx context.Context, dir string) (*export.Exporter, error) {
	return export.Open(ctx, export.Options{Catalog: a.Catalog, Store: a.Store, Dir: dir, Archives: a.Config.Names(),
		PublicKey: a.Signer.PublicKey(), MaxIndexSize: a.Config.MaxIndexSize(), Log: a.Log})
}

// followExport keeps [export] dir in step until ctx ends: at once on
// every change this server makes, and every export.DefaultEvery for those
// made elsewhere (another process, another server).
func (a *App) followExport(ctx context.Context) {
	x, err := a.OpenExport(ctx, a.Config.Export.Dir)
	if err != nil {
		if ctx.Err() == nil {
			a.Log.Error("export: not kept in step", "dir", a.Config.Export.Dir, "err", err)
		}
		return
	}
	defer x.Close()
	wake := make(chan struct{}, 1)
	a.Events.OnChanged(func() {
		select {
		case wake <- struct{}{}:
		default: // a sync is due already
		}
	})
	x.Follow(ctx, export.DefaultEvery, wake)
}
