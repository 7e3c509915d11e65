// Package lock is the protocol that keeps the processes writing one
// installation out of each other's way, and garbage collection from
// deleting what they are about to reference:
//
//   - A writer of an archive (a pulse, a change of a custom archive) holds
//     the archive's writer lock from its start to its commit. The lock
//     records when the writer started: GC never deletes a stored file
//     written since the oldest running writer started, since that writer
//     may be about to reference it.
//   - Writers hold the sweep lock shared from the moment they check that
//     every file they reference is stored until their commit is in the
//     catalog; GC holds it exclusively for its catalog transaction, and
//     for each round of its sweep from before it reads what the catalog
//     references until it has deleted that round's files. A file a writer
//     found stored is therefore still stored when it commits, and a commit
//     a round did not see happens only after that round.
//   - One garbage collection (or sweep) runs at a time.
//
// Locker is that protocol. Flock implements it for processes on one host
// with flock(2) on files in the data directory; lock/pglock across hosts
// with PostgreSQL advisory locks; lock/locktest is the conformance suite
// each passes.
package lock

import (
	"context"
	"errors"
	"time"
)

// ErrBusy is returned when a lock that is not waited for is held elsewhere.
var ErrBusy = errors.New("lock: busy")

// Lock is a held lock.
type Lock interface {
	// Release drops the lock; releasing twice does nothing.
	Release()
}

// Lease is a held lock that may be lost without being released: the
// leadership of several servers (see package pglock), lost when its
// session ends.
type Lease interface {
	Lock
	// Lost is closed when the lease is lost (not when it is released).
	Lost() <-chan struct{}
}

// Locker takes the locks of one installation.
type Locker interface {
	// Writer takes the writer lock of an archive: it returns ErrBusy when
	// another writer of the archive runs, or, with wait set, waits for it
	// to finish. The writer's start, reported by Writers, is when the lock
	// was taken.
	Writer(ctx context.Context, archive string, wait bool) (Lock, error)
	// Sweep waits for the sweep lock, shared (a writer checking and
	// committing what it references) or exclusive (GC deleting files).
	Sweep(ctx context.Context, exclusive bool) (Lock, error)
	// GC takes the lock that keeps garbage collections apart, or returns
	// ErrBusy.
	GC(ctx context.Context) (Lock, error)
	// Writers returns when each running writer started. A writer whose
	// start is not known yet is reported with the zero time, which
	// protects every file.
	Writers(ctx context.Context) ([]time.Time, error)
}
