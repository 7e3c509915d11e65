// Package storage opens an installation's storage from its configuration:
// the catalog, the file store and the locks between the processes sharing
// them. It is the one place that chooses their implementations: the
// embedded ones, SQLite, a local directory and flock, all in data_dir; or
// S3-compatible object storage for the files ([store]), PostgreSQL for the
// catalog and the locks ([catalog]).
package storage

import (
	"context"
	"fmt"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/blob/local"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/catalog/postgres"
	"github.com/aptsnap/aptsnap/catalog/sqlite"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/datadir"
	"github.com/aptsnap/aptsnap/lock"
	"github.com/aptsnap/aptsnap/lock/pglock"
)

// Storage is an opened installation's storage.
type Storage struct {
	Catalog catalog.Catalog
	Store   blob.Store
	Locker  lock.Locker
	// Leader, when several servers may share the storage (PostgreSQL),
	// waits until this server is the one that runs the schedule and GC;
	// nil when one server has the storage to itself.
	Leader func(ctx context.Context) (lock.Lease, error)
	// Shared says servers on several hosts may share the storage.
	Shared bool

	closers []func()
}

// Open opens the storage cfg describes, creating what is missing: the
// catalog in SQLite (data_dir) or PostgreSQL ([catalog] postgres), the
// files in data_dir or S3 ([store]), and the locks with flock (data_dir)
// or, with PostgreSQL, in the database, across hosts.
func Open(ctx context.Context, cfg *config.Config) (_ *Storage, err error) {
	dir := datadir.Dir(cfg.DataDir)
	s := &Storage{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if dsn := cfg.Catalog.Postgres; dsn != "" {
		cat, err := postgres.Open(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("[catalog] postgres: %w", err)
		}
		s.Catalog = cat
		s.closers = append(s.closers, func() { cat.Close() })
		locker, err := pglock.New(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("[catalog] postgres: locks: %w", err)
		}
		s.Locker, s.Shared = locker, true
		s.closers = append(s.closers, locker.Close)
		s.Leader = func(ctx context.Context) (lock.Lease, error) { return locker.Leader(ctx) }
	} else {
		cat, err := sqlite.Open(ctx, dir.Catalog())
		if err != nil {
			return nil, err
		}
		s.Catalog = cat
		s.closers = append(s.closers, func() { cat.Close() })
		s.Locker = lock.NewFlock(dir.Locks())
	}
	if cfg.Store.S3() {
		s.Store, err = openS3(ctx, cfg.Store)
	} else {
		s.Store, err = local.Open(dir.Blobs())
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Close releases the storage.
func (s *Storage) Close() error {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
	return nil
}
