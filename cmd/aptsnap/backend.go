package main

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/aptsnap/aptsnap/api"
)

// backend is where verbs run: an opened configuration, or a server's API.
// Both give the same answers, printed by the same code.
type backend struct {
	api.Ops
	api.TokenOps
	close func() error
}

// Close releases the backend.
func (b *backend) Close() error { return b.close() }

// backend returns the API client when a server is named (--server or
// APTSNAP_SERVER, with the token in APTSNAP_TOKEN), else the configuration
// opened locally. An explicit --config wins over APTSNAP_SERVER.
func (g *globals) backend(ctx context.Context) (*backend, error) {
	if g.configSet && g.serverSet {
		return nil, errors.New("give --config or --server, not both")
	}
	if g.server != "" && !g.configSet {
		c := &api.Client{BaseURL: g.server, Token: os.Getenv("APTSNAP_TOKEN")}
		return &backend{Ops: c, TokenOps: c, close: func() error { return nil }}, nil
	}
	a, err := g.open(ctx)
	if err != nil {
		return nil, err
	}
	return &backend{Ops: a, TokenOps: api.LocalTokens{Tokens: a.Catalog}, close: a.Close}, nil
}

// withBackend runs f with the verb's backend and output, closing the
// backend after.
func (g *globals) withBackend(cmd *cobra.Command, f func(ctx context.Context, b *backend, w io.Writer) error) error {
	b, err := g.backend(cmd.Context())
	if err != nil {
		return err
	}
	defer b.Close()
	return f(cmd.Context(), b, cmd.OutOrStdout())
}
