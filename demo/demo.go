// Package demo runs aptsnap on its embedded defaults (SQLite and a local
// directory) against a signed sample upstream it generates and serves on
// loopback itself, so that a first run needs no network and no setup.
package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/aptsnap/aptsnap/app"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/pgp"
	"github.com/aptsnap/aptsnap/repogen"
	"github.com/aptsnap/aptsnap/storage"
)

// Archive is the demo archive's name.
const Archive = "demo"

// Upstream writes generation gen of the sample upstream under dir, signed
// by the key in keyFile (created if missing), and returns the signer.
// Each generation moves one package to a new version.
func Upstream(dir, keyFile string, gen int) (*pgp.Signer, error) {
	signer, _, err := pgp.LoadOrCreateSigner(keyFile, "aptsnap demo upstream")
	if err != nil {
		return nil, err
	}
	pkgs := []repogen.Package{
		{Name: "hello", Version: fmt.Sprintf("2.10-%d", gen+1), Arch: "amd64", Description: "example package based on GNU hello"},
		{Name: "libdemo1", Version: "1.4-2", Arch: "amd64", Description: "demo shared library"},
		{Name: "demo-data", Version: "2026.1", Arch: "all", Description: "architecture-independent demo data",
			Files: map[string][]byte{"usr/share/demo-data/README": []byte("demo data\n")}},
	}
	r := &repogen.Repo{Dir: dir, Origin: "aptsnap-demo", Label: "aptsnap demo", Signer: signer, ByHash: true,
		Suites: []repogen.Suite{{Name: "stable", Components: map[string][]repogen.Package{"main": pkgs},
			Architectures: []string{"amd64"}, Date: time.Now().UTC().Truncate(time.Second), Sources: true}}}
	if err := r.Write(); err != nil {
		return nil, fmt.Errorf("demo upstream: %w", err)
	}
	return signer, nil
}

// Run writes the sample upstream into dir, serves it on a loopback port,
// writes dir/aptsnap.toml, pulses once and serves snapshots on listen
// until ctx ends.
func Run(ctx context.Context, dir, listen string, log *slog.Logger) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	upDir := filepath.Join(dir, "upstream")
	dataDir := filepath.Join(dir, "data")
	gen := 0
	if st, err := storage.Open(ctx, &config.Config{DataDir: dataDir}); err == nil {
		snaps, _ := st.Catalog.Snapshots(ctx, Archive)
		gen = len(snaps)
		st.Close()
	}
	signer, err := Upstream(filepath.Join(upDir, "repo"), filepath.Join(upDir, "signing-key.asc"), gen)
	if err != nil {
		return err
	}
	keyring := filepath.Join(upDir, "keyring.asc")
	if err := os.WriteFile(keyring, signer.PublicKey(), 0o644); err != nil {
		return err
	}
	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	upSrv := &http.Server{Handler: http.FileServer(http.Dir(filepath.Join(upDir, "repo"))), ReadHeaderTimeout: 10 * time.Second}
	go upSrv.Serve(upLn)
	defer upSrv.Close()

	cfgText := fmt.Sprintf(`# Written by "aptsnap demo"; usable with any aptsnap command: aptsnap --config %[1]s snapshot list
data_dir = %[2]q
listen = %[3]q
public_url = "http://%[3]s"

[[archive]]
name = %[4]q
url = "http://%[5]s"
keyring = %[6]q
suites = ["stable"]
components = ["main"]
architectures = ["amd64"]
sources = true
pulses_per_day = 24
valid_days = 10
`, filepath.Join(dir, "aptsnap.toml"), dataDir, listen, Archive, upLn.Addr(), keyring)
	cfgPath := filepath.Join(dir, "aptsnap.toml")
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o644); err != nil {
		return err
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	a, err := app.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	snap, err := a.Pulse(ctx, Archive)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	keyPath := filepath.Join(dir, "aptsnap.asc")
	if err := os.WriteFile(keyPath, a.Signer.PublicKey(), 0o644); err != nil {
		return err
	}
	fmt.Printf(`
aptsnap demo: snapshot %[2]s of the sample upstream is served on http://%[1]s/

  curl http://%[1]s/%[3]s/project/trace/%[3]s
  curl http://%[1]s/%[3]s/%[2]s/dists/stable/InRelease

APT source line (key also at http://%[1]s/keys/aptsnap.asc):
  deb [signed-by=%[4]s] http://%[1]s/%[3]s/%[2]s/ stable main

Configuration: %[5]s   (Ctrl-C stops; run again for a new upstream generation and snapshot)
`, ln.Addr(), snap.Serial, Archive, keyPath, cfgPath)
	err = a.ServeListener(ctx, ln, true)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
