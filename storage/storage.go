// Package storage opens an installation's storage from its configuration:
// the catalog, the file store and the locks between the processes sharing
// them. It is the one place that chooses their implementations: the
// embedded ones, SQLite, a local directory and flock, all in data_dir; or
// S3-compatible object storage for the files ([store]).
package storage

import (
	"context"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/blob/local"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/catalog/sqlite"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/datadir"
	"github.com/aptsnap/aptsnap/lock"
)

// Storage is an opened installation's storage.
type Storage struct {
	Catalog catalog.Catalog
	Store   blob.Store
	Locker  lock.Locker
}

// Open opens the storage cfg describes, creating what is missing.
func Open(ctx context.Context, cfg *config.Config) (*Storage, error) {
	dir := datadir.Dir(cfg.DataDir)
	cat, err := sqlite.Open(ctx, dir.Catalog())
	if err != nil {
		return nil, err
	}
	var store blob.Store
	if cfg.Store.S3() {
		store, err = openS3(ctx, cfg.Store)
	} else {
		store, err = local.Open(dir.Blobs())
	}
	if err != nil {
		cat.Close()
		return nil, err
	}
	return &Storage{Catalog: cat, Store: store, Locker: lock.NewFlock(dir.Locks())}, nil
}

// Close releases the storage.
func (s *Storage) Close() error {
	return s.Catalog.Close()
}
