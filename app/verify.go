package app

import (
	"context"

	"github.com/aptsnap/aptsnap/api"
	"github.com/aptsnap/aptsnap/verify"
)

// Verify implements api.Ops.
func (a *App) Verify(ctx context.Context, archive, serial string) ([]api.Problem, error) {
	probs, err := verify.New(verify.Options{Catalog: a.Catalog, Store: a.Store, Keyring: a.Signer.Keyring()}).Run(ctx, archive, serial)
	out := []api.Problem{}
	for _, p := range probs {
		out = append(out, api.Problem(p))
	}
	return out, err
}
