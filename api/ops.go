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
	// Stale marks an archive's newest snapshot once it has expired: kept
	// so that the archive still answers, while its pulses fail.
	Stale bool `json:"stale,omitempty"`
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
	// Background is set when the server sweeps after answering (Files,
	// Bytes and Kept are then zero): the snapshots are gone from the
	// catalog and from serving, their files go within minutes.
	Background bool `json:"background,omitempty"`
	// CatalogSeconds is how long the catalog's part took (to its commit),
	// SweepSeconds the sweep's.
	CatalogSeconds float64 `json:"catalog_seconds"`
	SweepSeconds   float64 `json:"sweep_seconds"`
}

// UntrackResult is the outcome of untracking suites (or what would be,
// dry).
type UntrackResult struct {
	DryRun    bool     `json:"dry_run,omitempty"`
	Archive   string   `json:"archive"`
	Suites    []string `json:"suites"`    // the suites untracked, patterns resolved
	Snapshots int      `json:"snapshots"` // snapshots they were removed from
}

// VerifyResult is what verify checked, and what it found wrong.
type VerifyResult struct {
	Problems []Problem `json:"problems"`
	// Snapshots, Files (distinct stored files, by content), Bytes and
	// Signatures are what was checked.
	Snapshots  int   `json:"snapshots"`
	Files      int   `json:"files"`
	Bytes      int64 `json:"bytes"`
	Signatures int   `json:"signatures"`
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
	// Bump sets a snapshot's Valid-Until to now + days and re-signs its
	// Release files; a bump that would shorten its life is refused unless
	// allowShorten is set.
	Bump(ctx context.Context, archive, serial string, days int, allowShorten bool) (BumpResult, error)
	// GC deletes expired snapshots, then every stored file no snapshot needs.
	GC(ctx context.Context, dryRun bool) (GCResult, error)
	// Untrack removes suites (names, or patterns such as "bullseye*")
	// from an archive and from all its snapshots, in one transaction.
	Untrack(ctx context.Context, archive string, suites []string, dryRun bool) (UntrackResult, error)
	// Expire withdraws a snapshot at once: no longer served, the
	// archive's newest moves back, GC collects its files later.
	Expire(ctx context.Context, archive, serial string) (Snapshot, error)
	// Verify checks stored files and signatures of live snapshots.
	Verify(ctx context.Context, archive, serial string) (VerifyResult, error)
	// TagCreate makes a tagged snapshot of each archive from a serial
	// (archive -> serial), cut to a manifest's packages when m is not nil.
	TagCreate(ctx context.Context, tag string, from map[string]string, m *manifest.Manifest) ([]Snapshot, error)
	// Tags lists tagged snapshots (Serial is "@" and the tag).
	Tags(ctx context.Context) ([]Snapshot, error)
	// TagDelete deletes a tag's snapshots (dry: deletes nothing) and
	// reports how many.
	TagDelete(ctx context.Context, tag string, dryRun bool) (int, error)

	Repos
	Updates
}

// Archive describes one archive served: mirrored from upstream ("mirror")
// or one of ours filled by imports ("custom").
type Archive struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// URL is where the archive's snapshots are served, without serial
	// ("http://host/debian"); APT source lines append "/<serial>/".
	URL           string   `json:"url"`
	Suites        []string `json:"suites"`
	Components    []string `json:"components"`
	Architectures []string `json:"architectures"`
}

// Package is one package of a custom archive's suite.
type Package struct {
	Package   string `json:"package"`
	Version   string `json:"version"`
	Arch      string `json:"arch"` // "source" for a source package
	Kind      string `json:"kind"` // deb, udeb or source
	Component string `json:"component"`
}

// RepoResult is the outcome of a change to a custom archive: the snapshot
// it made and the packages that went in and out.
type RepoResult struct {
	Archive string    `json:"archive"`
	Suite   string    `json:"suite"`
	Serial  string    `json:"serial"` // empty when nothing changed
	Added   []Package `json:"added"`
	Removed []Package `json:"removed"`
	// Unchanged are packages already there with the same content.
	Unchanged []Package `json:"unchanged"`
	// From is the suite a copy took (or, dry, would take) its package from.
	From *CopySource `json:"from,omitempty"`
	// Pending says the change waits in the archive's working state, to
	// be published by PublishBy (see Repos.RepoPublish).
	Pending   bool      `json:"pending,omitempty"`
	PublishBy time.Time `json:"publish_by,omitzero"`
}

// CopySource is the suite a copy takes its package from, with the fields
// of its Release APT pins by (apt_preferences(5): o=, l=, a=, n=, v=).
type CopySource struct {
	Archive      string `json:"archive"`
	Serial       string `json:"serial"`
	Suite        string `json:"suite"`
	Origin       string `json:"origin"`
	Label        string `json:"label"`
	ReleaseSuite string `json:"release_suite"`
	Codename     string `json:"codename"`
	Version      string `json:"version"`
}

// AddRequest imports package files into a custom archive's suite.
type AddRequest struct {
	Archive   string `json:"archive"`
	Suite     string `json:"suite"`
	Component string `json:"component"` // the archive's first when empty
	// Files are paths of .deb, .udeb, .dsc and .changes files and the
	// files a .dsc or .changes lists (on the machine doing the import).
	Files []string `json:"-"`
	// Publish publishes the change at once, whatever the day's serial
	// budget (see Repos.RepoPublish).
	Publish bool `json:"publish"`
}

// CopyRequest copies a package (binaries and source) into a custom
// archive's suite from a snapshot of any archive. Binaries of
// architectures the custom archive does not serve are left behind.
type CopyRequest struct {
	Archive string `json:"archive"`
	Suite   string `json:"suite"`
	// FromArchive and FromSerial name the source snapshot (the newest
	// when FromSerial is empty); FromSuite the suite in it (every suite
	// when empty, the first one that has the package wins).
	FromArchive string `json:"from_archive"`
	FromSerial  string `json:"from_serial"`
	FromSuite   string `json:"from_suite"`
	Package     string `json:"package"`
	Version     string `json:"version"` // the newest when empty
	// DryRun finds what the copy would bring and where from, changing nothing.
	DryRun bool `json:"dry_run"`
	// Publish publishes the change at once (a freeze exception a build
	// needs now), whatever the day's serial budget.
	Publish bool `json:"publish"`
}

// Repos are the operations on custom archives and on the list of archives.
type Repos interface {
	// Archives lists the archives served.
	Archives(ctx context.Context) ([]Archive, error)
	// Latest is the newest serial of an archive (what its trace file says).
	Latest(ctx context.Context, archive string) (string, error)
	// RepoAdd imports package files.
	RepoAdd(ctx context.Context, req AddRequest) (RepoResult, error)
	// RepoRemove removes packages ("name" or "name=version").
	RepoRemove(ctx context.Context, archive, suite string, packages []string) (RepoResult, error)
	// RepoCopy copies a package from a snapshot.
	RepoCopy(ctx context.Context, req CopyRequest) (RepoResult, error)
	// RepoList lists a suite's packages: the archive's working state,
	// published or not.
	RepoList(ctx context.Context, archive, suite string) ([]Package, error)
	// RepoPublish publishes the changes waiting in a custom archive's
	// working state as its next snapshot. A day has 99 serials per
	// archive: a change is published at once while the archive has used
	// fewer than its allowance (24 at midnight, growing evenly to 99 by
	// the end of the day); past it, changes wait and are published
	// together within twenty minutes, by the server's scheduler, or
	// at once by RepoPublish or a change asking to be (Publish).
	RepoPublish(ctx context.Context, archive string) (RepoResult, error)
}
