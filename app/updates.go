package app

import (
	"context"
	"os/user"

	"github.com/aptsnap/aptsnap/api"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/datadir"
	"github.com/aptsnap/aptsnap/errdefs"
	"github.com/aptsnap/aptsnap/stable"
)

func (a *App) updates() *stable.Engine {
	return stable.New(stable.Options{Catalog: a.Catalog, Store: a.Store, Locker: a.Locker, Customs: a.Config.Customs,
		Archives: a.customs(), TempDir: datadir.Dir(a.Config.DataDir).Uploads(), Now: a.Now, Log: a.Log})
}

// actor is who makes a change: the API's caller, else the local user
// (who holds the configuration, and so every right).
func actor(ctx context.Context) stable.Actor {
	if a, ok := api.ActorFrom(ctx); ok {
		return a
	}
	name := "local"
	if u, err := user.Current(); err == nil {
		name = "local:" + u.Username
	}
	return stable.Actor{Name: name, Role: catalog.RoleAdmin}
}

// UpdateNew implements api.Updates.
func (a *App) UpdateNew(ctx context.Context, req stable.NewRequest) (*stable.Request, error) {
	return a.updates().New(ctx, actor(ctx), req)
}

// UpdateList implements api.Updates.
func (a *App) UpdateList(ctx context.Context, series string, state stable.State) ([]*stable.Request, error) {
	return a.updates().List(ctx, series, state)
}

// UpdateShow implements api.Updates.
func (a *App) UpdateShow(ctx context.Context, id int64) (*stable.Request, error) {
	return a.updates().Get(ctx, id)
}

// UpdateEdit implements api.Updates.
func (a *App) UpdateEdit(ctx context.Context, id int64, section, text string) (*stable.Request, error) {
	return a.updates().Edit(ctx, actor(ctx), id, section, text)
}

// UpdateUpload implements api.Updates.
func (a *App) UpdateUpload(ctx context.Context, id int64, files []string) (*stable.Request, error) {
	return a.updates().Upload(ctx, actor(ctx), id, files)
}

// UpdateDo implements api.Updates.
func (a *App) UpdateDo(ctx context.Context, id int64, action string, arg api.UpdateArg) (*stable.Request, error) {
	e, by := a.updates(), actor(ctx)
	switch action {
	case "submit":
		return e.Submit(ctx, by, id)
	case "accept":
		return e.Accept(ctx, by, id)
	case "reject":
		return e.Reject(ctx, by, id, arg.Reason)
	case "release":
		phase := -1
		if arg.Phase != nil {
			phase = *arg.Phase
		}
		return e.Release(ctx, by, id, phase)
	case "phase":
		if arg.Phase == nil {
			return nil, errdefs.Errorf(errdefs.ErrInvalid, "update phase %d: give the percentage (0 to 100)", id)
		}
		return e.Phase(ctx, by, id, *arg.Phase)
	case "halt":
		return e.Halt(ctx, by, id)
	}
	return nil, errdefs.Errorf(errdefs.ErrInvalid, "no update action %q", action)
}

// UpdateVerify implements api.Updates.
func (a *App) UpdateVerify(ctx context.Context, id int64, rep stable.Report) (*stable.Request, error) {
	return a.updates().Verify(ctx, actor(ctx), id, rep)
}

// PhaseUpdates raises the phasing of released stable updates that are due
// (what the schedule runs every minute while serving).
func (a *App) PhaseUpdates(ctx context.Context) error { return a.updates().PhaseDue(ctx) }
