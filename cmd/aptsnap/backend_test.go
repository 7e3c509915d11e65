package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/api"
	"github.com/aptsnap/aptsnap/catalog/sqlite"
)

// listOnly answers Snapshots; the other Ops are not called here.
type listOnly struct{ api.Ops }

func (listOnly) Snapshots(context.Context, string) ([]api.Snapshot, error) {
	t := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	return []api.Snapshot{{Archive: "debian", Serial: "2026112301", Created: t, ValidUntil: t, Suites: []string{"bookworm"}}}, nil
}

// TestBackendChoice: --server (or APTSNAP_SERVER) sends verbs to the API,
// an explicit --config keeps them local, and both at once is an error.
func TestBackendChoice(t *testing.T) {
	cat, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	srv := httptest.NewServer(api.NewServer(api.ServerOptions{Ops: listOnly{}, Tokens: cat}))
	defer srv.Close()
	missing := filepath.Join(t.TempDir(), "none.toml")
	remoteOut := "ARCHIVE  SERIAL      CREATED               VALID UNTIL           SUITES\n" +
		"debian   2026112301  2026-11-23T00:00:00Z  2026-11-23T00:00:00Z  bookworm\n"
	for _, tc := range []struct {
		name    string
		env     string // APTSNAP_SERVER
		args    []string
		want    string
		wantErr string
	}{
		{"--server", "", []string{"--server", srv.URL, "snapshot", "list"}, remoteOut, ""},
		{"APTSNAP_SERVER", srv.URL, []string{"snapshot", "list"}, remoteOut, ""},
		{"--config beats APTSNAP_SERVER", srv.URL, []string{"--config", missing, "snapshot", "list"}, "", "none.toml"},
		{"both flags", "", []string{"--config", missing, "--server", srv.URL, "snapshot", "list"}, "", "not both"},
		{"local-only verb with --server", "", []string{"--server", srv.URL, "pulse", "debian"}, "", "works on a configuration"},
		{"bad days", "", []string{"--server", srv.URL, "bump", "debian", "2026112301", "0"}, "", "DAYS must be a positive number"},
		{"unknown role", "", []string{"--server", srv.URL, "token", "create", "--name", "x", "--role", "root"}, "", "unknown role"},
		{"needs a token", "", []string{"--server", srv.URL, "gc"}, "", "this needs an API token of role admin: set APTSNAP_TOKEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("APTSNAP_SERVER", tc.env)
			t.Setenv("APTSNAP_TOKEN", "")
			root := newRoot()
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&out)
			root.SetArgs(tc.args)
			err := root.ExecuteContext(context.Background())
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if out.String() != tc.want {
				t.Errorf("output\n%s\nwant\n%s", out.String(), tc.want)
			}
		})
	}
}
