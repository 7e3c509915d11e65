// Package api is aptsnap's admin API: JSON over HTTP under /api/v1/, with
// bearer tokens and roles, and a client for it. The same Ops interface is
// implemented locally (by app.App, on a configuration) and remotely (by
// Client, against a server), so that every CLI verb works both ways with
// the same output.
package api

import (
	"context"
	"time"

	"github.com/aptsnap/aptsnap/manifest"
)

// Snapshot describes one snapshot.
type Snapshot struct {
	Archive    string    `json:"archive"`
	Serial     string    `json:"serial"`
	Created    time.Time `json:"created"`
	ValidUntil time.Time `json:"valid_until"`
	Suites     []string  `json:"suites"`
}

// BumpResult is the outcome of a bump.
type BumpResult struct {
	Snapshot Snapshot  `json:"snapshot"`
	Previous time.Time `json:"previous_valid_until"`
}

// GCResult is the outcome of a garbage collection (or what one would do).
type GCResult struct {
	DryRun bool `json:"dry_run"`
	// Expired are the snapshots deleted (or to be deleted).
	Expired []Snapshot `json:"expired"`
	// Files and Bytes are the stored files deleted (or to be deleted).
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
	// Kept is the number of stored files still referenced.
	Kept int `json:"kept"`
}

// UntrackResult is the outcome of untracking a suite.
type UntrackResult struct {
	Archive   string `json:"archive"`
	Suite     string `json:"suite"`
	Snapshots int    `json:"snapshots"` // snapshots the suite was removed from
}

// Problem is one thing verify found wrong.
type Problem struct {
	Archive string `json:"archive"`
	Serial  string `json:"serial"`
	What    string `json:"what"`
}

// Ops are the operations the admin API exposes.
type Ops interface {
	// Snapshots lists an archive's snapshots (all archives if empty), oldest first.
	Snapshots(ctx context.Context, archive string) ([]Snapshot, error)
	// Bump sets a snapshot's Valid-Until to now + days and re-signs its Release files.
	Bump(ctx context.Context, archive, serial string, days int) (BumpResult, error)
	// GC deletes expired snapshots, then every stored file no snapshot needs.
	GC(ctx context.Context, dryRun bool) (GCResult, error)
	// Untrack removes a suite from an archive and from all its snapshots.
	Untrack(ctx context.Context, archive, suite string) (UntrackResult, error)
	// Verify checks stored files and signatures of live snapshots.
	Verify(ctx context.Context, archive, serial string) ([]Problem, error)
	// TagCreate makes a tagged snapshot of each archive from a serial
	// (archive -> serial), cut to a manifest's packages when m is not nil.
	TagCreate(ctx context.Context, tag string, from map[string]string, m *manifest.Manifest) ([]Snapshot, error)
	// Tags lists tagged snapshots (Serial is "@" and the tag).
	Tags(ctx context.Context) ([]Snapshot, error)
	// TagDelete deletes a tag's snapshots and reports how many.
	TagDelete(ctx context.Context, tag string) (int, error)
}
