package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/aptsnap/aptsnap/app"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/migrate"
	"github.com/aptsnap/aptsnap/storage"
)

func migrateCmd(g *globals) *cobra.Command {
	var from, to string
	var parallel int
	c := &cobra.Command{
		Use:   "migrate --from OLD.toml --to NEW.toml",
		Short: "Copy an installation's storage into another's (SQLite + directory <-> PostgreSQL + S3), then verify it",
		Long: `Copies the stored files, then every snapshot (same serials, same Release
files and signatures), tagged snapshots, the pulse log, tokens, stable update
requests and the ACME storage, from the installation OLD.toml describes into
the one NEW.toml describes, and runs verify on the target. Stop the source's
servers first. A run that is interrupted is finished by running it again:
what the target holds already is skipped. The target signs with the
source's key (copied there when it has none).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || to == "" {
				return usageError{errors.New("give --from and --to (configuration files)")}
			}
			ctx := cmd.Context()
			src, err := config.Load(from)
			if err != nil {
				return err
			}
			dst, err := config.Load(to)
			if err != nil {
				return err
			}
			if sameStorage(src, dst) {
				return fmt.Errorf("migrate: %s and %s describe the same storage", from, to)
			}
			a, err := storage.Open(ctx, src)
			if err != nil {
				return fmt.Errorf("migrate: the source: %w", err)
			}
			defer a.Close()
			b, err := storage.Open(ctx, dst)
			if err != nil {
				return fmt.Errorf("migrate: the target: %w", err)
			}
			if err := shareSigningKey(ctx, src, a, dst, b); err != nil {
				b.Close()
				return err
			}
			res, err := migrate.Run(ctx, migrate.Side{Catalog: a.Catalog, Store: a.Store}, migrate.Side{Catalog: b.Catalog, Store: b.Store},
				migrate.Options{Parallel: parallel, Log: g.logger()})
			b.Close()
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "files: %d copied (%d bytes), %d already there\n", res.Files, res.Bytes, res.FilesThere)
			fmt.Fprintf(w, "snapshots: %d copied, %d already there; pulses %d, tokens %d, requests %d, keys %d\n",
				res.Snapshots, res.SnapshotsThere, res.Pulses, res.Tokens, res.Requests, res.Keys)
			if err != nil {
				return fmt.Errorf("%w (run migrate again to finish)", err)
			}
			t, err := app.Open(ctx, dst, g.logger())
			if err != nil {
				return err
			}
			defer t.Close()
			vr, err := t.Verify(ctx, "", "")
			if err != nil {
				return err
			}
			return printVerify(w, vr)
		},
	}
	c.Flags().StringVar(&from, "from", "", "configuration of the installation to copy")
	c.Flags().StringVar(&to, "to", "", "configuration of the installation to copy into")
	c.Flags().IntVar(&parallel, "parallel", 8, "files copied at once")
	return c
}

// sameStorage reports whether two configurations share their catalog or
// their file store: a copy into itself.
func sameStorage(a, b *config.Config) bool {
	sameDir := filepath.Clean(a.DataDir) == filepath.Clean(b.DataDir)
	catalog := a.Catalog.Postgres == b.Catalog.Postgres && (a.Catalog.Postgres != "" || sameDir)
	store := a.Store.S3() == b.Store.S3() && (a.Store.S3() && a.Store.S3Endpoint == b.Store.S3Endpoint &&
		a.Store.S3Bucket == b.Store.S3Bucket && a.Store.S3Prefix == b.Store.S3Prefix || !a.Store.S3() && sameDir)
	return catalog || store
}

// signingKeyIn says where an installation keeps its signing key: in its
// shared catalog (PostgreSQL, no signing_key set), else in a file.
func signingKeyIn(cfg *config.Config, st *storage.Storage) (kv catalog.KV, file string) {
	if st.Shared && cfg.SigningKey == "" {
		kv, _ = st.Catalog.(catalog.KV)
		return kv, ""
	}
	return nil, cfg.SigningKeyPath()
}

// shareSigningKey makes the target sign with the source's key: copies it
// where the target keeps its key when it has none, and refuses another key
// (the copied snapshots' signatures would not verify).
func shareSigningKey(ctx context.Context, src *config.Config, a *storage.Storage, dst *config.Config, b *storage.Storage) error {
	read := func(kv catalog.KV, file string) ([]byte, error) {
		if kv != nil {
			v, _, err := kv.KVGet(ctx, app.SigningKeyKV)
			if errors.Is(err, catalog.ErrNotFound) {
				return nil, os.ErrNotExist
			}
			return v, err
		}
		return os.ReadFile(file)
	}
	skv, sfile := signingKeyIn(src, a)
	key, err := read(skv, sfile)
	if err != nil {
		return fmt.Errorf("migrate: the source's signing key: %w", err)
	}
	dkv, dfile := signingKeyIn(dst, b)
	where := dfile
	if dkv != nil {
		where = "the target's catalog"
	}
	have, err := read(dkv, dfile)
	switch {
	case err == nil && !bytes.Equal(have, key):
		return fmt.Errorf("migrate: %s holds another signing key than the source's: the copied snapshots would not verify; remove it, or set signing_key to the source's key", where)
	case err == nil:
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	if dkv != nil {
		return dkv.KVPut(ctx, app.SigningKeyKV, key)
	}
	if err := os.MkdirAll(filepath.Dir(dfile), 0o700); err != nil {
		return err
	}
	return os.WriteFile(dfile, key, 0o600)
}
