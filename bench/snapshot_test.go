// Package bench holds aptsnap's Go benchmarks; the shell scripts beside
// them run aptsnap and its peers (aptly, reprepro, nginx) on the same
// workload. See BENCHMARKS.md.
package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aptsnap/aptsnap/app"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/pgp"
	"github.com/aptsnap/aptsnap/repogen"
)

// BenchmarkSnapshot measures snapshot + sign of an already-downloaded
// state: a pulse whose upstream did not change, so that it fetches and
// verifies the InRelease files, finds every index known, signs a Release
// per suite and commits the snapshot. It should stay flat as the package
// count grows.
func BenchmarkSnapshot(b *testing.B) {
	for _, n := range []int{1000, 10000, 60000} {
		b.Run(fmt.Sprintf("packages=%d", n), func(b *testing.B) {
			a := setup(b, n)
			now := time.Now()
			a.Now = func() time.Time { return now }
			b.ResetTimer()
			for b.Loop() {
				now = now.Add(time.Hour) // at most 99 serials a day
				if _, err := a.Pulse(context.Background(), "debian"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// setup writes a sample upstream with n packages, serves it and pulses it once.
func setup(b *testing.B, n int) *app.App {
	b.Helper()
	dir := b.TempDir()
	key, err := pgp.GenerateKey("bench", "bench@example.invalid", "ed25519")
	if err != nil {
		b.Fatal(err)
	}
	signer, _ := pgp.ParseSigner(key)
	pkgs := make([]repogen.Package, n)
	for i := range pkgs {
		pkgs[i] = repogen.Package{Name: fmt.Sprintf("pkg%06d", i), Version: "1.0-1", Arch: "amd64"}
	}
	r := &repogen.Repo{Dir: filepath.Join(dir, "up"), Origin: "Debian", Label: "Debian", Signer: signer, ByHash: true,
		Suites: []repogen.Suite{{Name: "bookworm", Components: map[string][]repogen.Package{"main": pkgs}, Architectures: []string{"amd64"}}}}
	if err := r.Write(); err != nil {
		b.Fatal(err)
	}
	kr := filepath.Join(dir, "keyring.asc")
	os.WriteFile(kr, signer.PublicKey(), 0o644)
	up := httptest.NewServer(http.FileServer(http.Dir(filepath.Join(dir, "up"))))
	b.Cleanup(up.Close)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`data_dir = %q
[[archive]]
name = "debian"
url = %q
keyring = %q
suites = ["bookworm"]
components = ["main"]
architectures = ["amd64"]
`, filepath.Join(dir, "data"), up.URL, kr)))
	if err != nil {
		b.Fatal(err)
	}
	a, err := app.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	if _, err := a.Pulse(context.Background(), "debian"); err != nil {
		b.Fatal(err)
	}
	return a
}
