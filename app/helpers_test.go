package app

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/internal/testenv"
)

// openOneArchive opens an App in a temporary data directory mirroring
// up's suite "stable" (main, amd64) as archive "debian"; the test closes
// it.
func openOneArchive(t *testing.T, ctx context.Context, up *testenv.Upstream, extra string) *App {
	t.Helper()
	cfg, err := config.Parse(fmt.Appendf(nil, `
data_dir = %q
%s
[[archive]]
name = "debian"
url = %q
keyring = %q
suites = ["stable"]
components = ["main"]
architectures = ["amd64"]
`, t.TempDir(), extra, up.URL(), up.Keyring))
	if err != nil {
		t.Fatal(err)
	}
	a, err := Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}
