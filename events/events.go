// Package events tells whoever listens what happened to an installation's
// snapshots, so that the engines that change them need not know who cares:
// the HTTP server drops cached answers, the web UI writes and prunes its
// package lists, the metrics count pulses and collections.
//
// A nil *Bus is valid and tells nobody. Listeners run in the caller's
// goroutine, in the order they subscribed; engines emit after releasing
// their locks.
package events

import (
	"context"
	"sync"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
)

// Pulse is the end of a pulse: a mirror run, or the re-snapshot of a
// custom archive.
type Pulse struct {
	Archive string
	// Reason is "" for a success, else the kind of failure (see mirror.Reason).
	Reason string
	Took   time.Duration
	Ended  time.Time
}

// GC is the end of a garbage collection.
type GC struct {
	Err     error
	Expired int   // snapshots collected
	Files   int   // stored files deleted
	Bytes   int64 // bytes deleted
	// Sweep is set for the end of a sweep run apart from its mark (a
	// server's background sweep): not a collection of its own.
	Sweep bool
}

// Bus delivers events to listeners.
type Bus struct {
	mu        sync.RWMutex
	created   []func(context.Context, catalog.Snapshot)
	changed   []func()
	collected []func(context.Context, func(blob.Digest) bool)
	pulsed    []func(Pulse)
	gc        []func(GC)
}

// OnCreated subscribes f to new snapshots (time-based and tagged).
func (b *Bus) OnCreated(f func(context.Context, catalog.Snapshot)) {
	b.mu.Lock()
	b.created = append(b.created, f)
	b.mu.Unlock()
}

// OnChanged subscribes f to every change of the catalog's snapshots:
// creations, bumps, untracking, tags deleted, collections.
func (b *Bus) OnChanged(f func()) {
	b.mu.Lock()
	b.changed = append(b.changed, f)
	b.mu.Unlock()
}

// OnCollected subscribes f to garbage collections, right after the catalog
// dropped what expired: live reports whether a stored file is still
// referenced.
func (b *Bus) OnCollected(f func(ctx context.Context, live func(blob.Digest) bool)) {
	b.mu.Lock()
	b.collected = append(b.collected, f)
	b.mu.Unlock()
}

// OnPulse subscribes f to the end of every pulse.
func (b *Bus) OnPulse(f func(Pulse)) {
	b.mu.Lock()
	b.pulsed = append(b.pulsed, f)
	b.mu.Unlock()
}

// OnGC subscribes f to the end of every garbage collection (not dry runs).
func (b *Bus) OnGC(f func(GC)) {
	b.mu.Lock()
	b.gc = append(b.gc, f)
	b.mu.Unlock()
}

// Created tells of a new snapshot (and so of a change).
func (b *Bus) Created(ctx context.Context, s catalog.Snapshot) {
	if b == nil {
		return
	}
	b.Changed()
	for _, f := range listeners(b, &b.created) {
		f(ctx, s)
	}
}

// Changed tells of a change to the catalog's snapshots.
func (b *Bus) Changed() {
	if b == nil {
		return
	}
	for _, f := range listeners(b, &b.changed) {
		f()
	}
}

// Collected tells of a collection (and so of a change).
func (b *Bus) Collected(ctx context.Context, live func(blob.Digest) bool) {
	if b == nil {
		return
	}
	b.Changed()
	for _, f := range listeners(b, &b.collected) {
		f(ctx, live)
	}
}

// Pulsed tells of the end of a pulse.
func (b *Bus) Pulsed(p Pulse) {
	if b == nil {
		return
	}
	for _, f := range listeners(b, &b.pulsed) {
		f(p)
	}
}

// GCDone tells of the end of a garbage collection.
func (b *Bus) GCDone(g GC) {
	if b == nil {
		return
	}
	for _, f := range listeners(b, &b.gc) {
		f(g)
	}
}

// listeners returns a copy of a list, so that listeners may subscribe.
func listeners[F any](b *Bus, list *[]F) []F {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return append([]F(nil), *list...)
}
