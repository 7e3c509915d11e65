// Package catalog is aptsnap's metadata store: archives, snapshots, the
// index files each snapshot serves and the pool files those indices list.
//
// A snapshot is references, not copies. Each distinct upstream index file
// (by SHA-256) is recorded once per archive with the set of that archive's
// pool files it lists (two archives may hold the same index bytes); each
// distinct state of a suite (its set of index files) is recorded once; a
// snapshot is a row per suite pointing at a suite state, plus the Release
// files we signed for it. Metadata therefore grows with the number of
// distinct index files, not with snapshots times packages.
//
// This package is the contract only: the interface, its types and its
// errors, with no database driver, so that clients of the API link none.
// catalog/sqlite is the embedded implementation, catalog/postgres the one
// several servers share. catalog/catalogtest is the conformance suite every
// implementation passes.
package catalog

import (
	"context"
	"errors"
	"time"

	"github.com/aptsnap/aptsnap/blob"
)

// ErrNotFound is returned (wrapped) when an archive, snapshot or suite does not exist.
var ErrNotFound = errors.New("not found")

// ErrExists is returned (wrapped) when a name is already taken.
var ErrExists = errors.New("already exists")

// PoolEntry is one file an index lists, relative to the archive root
// (for example "pool/main/h/hello/hello_2.10-3_amd64.deb").
type PoolEntry struct {
	Path   string
	SHA256 blob.Digest
	Size   int64
}

// PoolFile is a PoolEntry known to the catalog, with its ID (never reused,
// so that a cached set of IDs never means other files). An implementation
// may keep paths only as lookup keys: Path is set when the caller gave it.
type PoolFile struct {
	ID int64
	PoolEntry
}

// IndexFile is one file served under dists/<suite>/, with its path relative
// to that directory (for example "main/binary-amd64/Packages.xz").
type IndexFile struct {
	Path   string
	SHA256 blob.Digest
	Size   int64
}

// NewSuite is one suite of a snapshot being created.
type NewSuite struct {
	Name string
	// UpstreamDate is the Date of the upstream Release; a later pulse
	// refuses an older one.
	UpstreamDate time.Time
	// Upstream is the stored upstream InRelease (or Release), kept for audit.
	Upstream blob.Digest
	// Files are the index files served for the suite.
	Files []IndexFile
	// Indices are the digests of the uncompressed index files (Packages,
	// Sources) whose pool files the suite serves.
	Indices []blob.Digest
	// NewIndices holds the pool entries of the indices the catalog does not
	// know yet for the archive (see KnownIndices). Every file listed must
	// already be stored.
	NewIndices map[blob.Digest][]PoolEntry
	// Release, InRelease and ReleaseGPG are the files we signed.
	Release, InRelease, ReleaseGPG []byte
}

// NewSnapshot describes a snapshot to create.
type NewSnapshot struct {
	Archive string
	// Tag, when set, makes a tagged snapshot: named TagSerial(Tag) instead
	// of a serial, with no Valid-Until, never collected until deleted.
	Tag string
	// Replace, for a tagged snapshot, replaces the archive's snapshot of
	// that tag, if any, in the same transaction, instead of refusing it:
	// how a custom archive's working state (WorkingTag) moves.
	Replace bool
	// Created is when the snapshot is made, as its Release says. With a
	// Clock, the catalog records the later of it and the first whole second
	// after Clock's time once it holds its write lock, right before the
	// commit: no snapshot appears in the past, so a timestamp URL for an
	// instant already reached (timestamps name seconds) never changes its
	// answer, even while snapshots wait for the lock or come several a
	// second.
	Created    time.Time
	Clock      func() time.Time
	ValidUntil time.Time
	// Serial, when set (not for a tag), is the serial the snapshot takes
	// instead of the next one, with Created as given: a copy of a snapshot
	// of another installation (aptsnap migrate). A serial in use or
	// withdrawn is refused (ErrExists).
	Serial string
	Suites []NewSuite
	// Pulse, when set, is the pulse that made the snapshot: recorded in
	// the pulse log in the same transaction, as a success with the
	// snapshot's serial, finished when it was stamped. A pulse killed right
	// after its commit is then not missing from the log.
	Pulse *Pulse
}

// Snapshot is a created snapshot.
type Snapshot struct {
	ID         int64
	Archive    string
	Serial     string
	Created    time.Time
	ValidUntil time.Time
	Suites     []string
}

// Suite is one suite of a snapshot, everything needed to serve it.
type Suite struct {
	Name                           string
	StateID                        int64
	UpstreamDate                   time.Time
	Upstream                       blob.Digest
	Files                          []IndexFile
	Indices                        []blob.Digest
	Release, InRelease, ReleaseGPG []byte
	Signed                         time.Time
}

// Pulse is the record of one mirror run.
type Pulse struct {
	Archive  string
	Started  time.Time
	Finished time.Time
	OK       bool
	Serial   string // the snapshot created, when OK
	Error    string // one line, when not OK
}

// Catalog is the metadata store.
type Catalog interface {
	Tokens
	Lifecycle
	Requests

	// Close releases the store.
	Close() error

	// KnownIndices reports which of the given uncompressed index digests
	// the catalog already records, with their pool files, for archive.
	KnownIndices(ctx context.Context, archive string, ds []blob.Digest) (map[blob.Digest]bool, error)
	// LastUpstreamDate is the newest upstream Release Date a pulse of the
	// suite has accepted (zero if none).
	LastUpstreamDate(ctx context.Context, archive, suite string) (time.Time, error)
	// CreateSnapshot records a snapshot in one transaction, stamps its
	// creation time (see NewSnapshot.Created) and gives it the next serial
	// YYYYMMDDNN of its creation day (UTC; never before the archive's
	// newest snapshot, should the clock step back). Suites untracked
	// meanwhile are left out.
	CreateSnapshot(ctx context.Context, s NewSnapshot) (Snapshot, error)
	// CreateSnapshots records several snapshots (a tag across archives) in
	// one transaction: all or none.
	CreateSnapshots(ctx context.Context, ss []NewSnapshot) ([]Snapshot, error)

	// Archives lists the names of archives that have snapshots or pulses.
	Archives(ctx context.Context) ([]string, error)
	// Snapshots lists an archive's snapshots, oldest first.
	Snapshots(ctx context.Context, archive string) ([]Snapshot, error)
	// Snapshot returns one snapshot by serial.
	Snapshot(ctx context.Context, archive, serial string) (Snapshot, error)
	// SnapshotAt returns the newest snapshot created at or before t.
	SnapshotAt(ctx context.Context, archive string, t time.Time) (Snapshot, error)
	// Latest returns the newest snapshot of an archive.
	Latest(ctx context.Context, archive string) (Snapshot, error)
	// Suite returns what is needed to serve one suite of a snapshot.
	Suite(ctx context.Context, snapshotID int64, suite string) (Suite, error)
	// IndexMembers returns the IDs of the pool files of archive an index
	// lists, sorted.
	IndexMembers(ctx context.Context, archive string, index blob.Digest) ([]int64, error)
	// LookupPool returns the pool files of an archive stored under path
	// (usually one; more if upstream ever changed a file in place).
	LookupPool(ctx context.Context, archive, path string) ([]PoolFile, error)
	// PoolFiles returns pool files by ID.
	PoolFiles(ctx context.Context, ids []int64) ([]PoolFile, error)

	// RecordPulse appends a pulse result.
	RecordPulse(ctx context.Context, p Pulse) error
	// Pulses returns the last n pulses of an archive, newest first.
	Pulses(ctx context.Context, archive string, n int) ([]Pulse, error)

	// Usage reports, for each time-based snapshot of an archive, oldest
	// first (as Snapshots), the stored files it references and when it
	// was last bumped; none for an unknown archive.
	Usage(ctx context.Context, archive string) ([]Usage, error)
}

// Usage is what one time-based snapshot references in the store, for
// pictures of an archive's history (see Catalog.Usage).
type Usage struct {
	Serial string
	// Bumped is when the snapshot's Valid-Until was last moved (its
	// Release files signed again), zero if never. A bump in the second the
	// snapshot was made does not show.
	Bumped time.Time
	// Files and Bytes count the stored files the snapshot serves, its
	// index files (each content once) and the pool files its indices list
	// (each once), and their total size.
	Files int
	Bytes int64
	// NewFiles and NewBytes count those of them that no earlier
	// time-based snapshot of the archive the catalog holds references:
	// what the snapshot added to the archive's storage, about what the
	// pulse that made it had to download. For the oldest held snapshot,
	// all of it.
	NewFiles int
	NewBytes int64
}

// Role is what an API token may do.
type Role string

// Roles, from least to most powerful.
const (
	// RoleReleaseManager may bump, tag, import and grant exceptions, and
	// draft, submit and upload stable updates.
	RoleReleaseManager Role = "release-manager"
	// RoleReviewer may also accept, reject, verify, release and phase
	// stable updates (never one it submitted).
	RoleReviewer Role = "reviewer"
	// RoleAdmin may do everything, including GC, untrack and token management.
	RoleAdmin Role = "admin"
)

// Roles lists the roles, from least to most powerful.
var Roles = []Role{RoleReleaseManager, RoleReviewer, RoleAdmin}

// Allows reports whether r includes the rights of need.
func (r Role) Allows(need Role) bool {
	rank := map[Role]int{RoleReleaseManager: 1, RoleReviewer: 2, RoleAdmin: 3}
	return rank[r] > 0 && rank[r] >= rank[need]
}

// Token is an API token's record; the secret itself is never stored, only
// its SHA-256.
type Token struct {
	ID      int64
	Name    string
	Role    Role
	Created time.Time
	// SecretHash is the SHA-256 of its secret (what a migration copies).
	SecretHash blob.Digest
}

// Requests stores stable update requests (see package stable). The
// catalog keeps a request's series and state for lookups, and its record
// as a document the stable package owns.
type Requests interface {
	// CreateRequest records a new request and returns it with its ID and
	// Revision 1. A request given with an ID (a copy from another
	// installation) keeps it, or is refused with ErrExists if it is taken.
	CreateRequest(ctx context.Context, r Request) (Request, error)
	// Request returns one request (ErrNotFound if none).
	Request(ctx context.Context, id int64) (Request, error)
	// Requests lists the requests of a series ("" for all) in a state
	// ("" for all), oldest first.
	Requests(ctx context.Context, series, state string) ([]Request, error)
	// SaveRequest replaces a request whose stored Revision is still
	// r.Revision, and returns it with the next Revision: of two changes
	// made from one revision, the first wins and the second gets an
	// error wrapping errdefs.ErrExists, changing nothing.
	SaveRequest(ctx context.Context, r Request) (Request, error)
}

// Request is a stable update request's record.
type Request struct {
	ID       int64
	Revision int
	Series   string
	State    string
	Created  time.Time
	Updated  time.Time
	// Doc is the request's whole record (JSON, see package stable).
	Doc []byte
	// Files are stored files the request holds (uploads waiting to be
	// accepted): Collect counts them live while the request lists them.
	Files []blob.Digest
}

// KV is a small key-value store with leased locks, shared by every server
// on one catalog: where ACME certificates, keys, accounts and challenge
// tokens live when servers share a name (see package certs). Keys are
// slash-separated paths; values are small (at most MaxKV bytes).
type KV interface {
	// KVPut stores value under key.
	KVPut(ctx context.Context, key string, value []byte) error
	// KVGet returns key's value and when it was stored (ErrNotFound if none).
	KVGet(ctx context.Context, key string) ([]byte, time.Time, error)
	// KVDelete deletes key and every key under key + "/"; deleting
	// nothing is not an error.
	KVDelete(ctx context.Context, key string) error
	// KVList lists the keys starting with prefix, sorted.
	KVList(ctx context.Context, prefix string) ([]string, error)
	// KVLock takes the lock name for owner until ttl from now, if it is
	// free, expired or already owner's (which extends it); it reports
	// whether owner holds it.
	KVLock(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	// KVUnlock releases owner's lock name (another owner's is left).
	KVUnlock(ctx context.Context, name, owner string) error
}

// MaxKV bounds a KV value.
const MaxKV = 1 << 20

// Tokens stores API tokens.
type Tokens interface {
	// CreateToken records a token by the SHA-256 of its secret.
	CreateToken(ctx context.Context, name string, role Role, secretHash blob.Digest) (Token, error)
	// TokenByHash finds a live token by the SHA-256 of its secret (ErrNotFound if none).
	TokenByHash(ctx context.Context, secretHash blob.Digest) (Token, error)
	// ListTokens lists live tokens.
	ListTokens(ctx context.Context) ([]Token, error)
	// RevokeToken deletes a token by name.
	RevokeToken(ctx context.Context, name string) error
}

// SignedRelease is a suite's Release text with its two signatures.
type SignedRelease struct {
	Release, InRelease, ReleaseGPG []byte
}

// Collection is what a collection deleted (or, dry, would delete) from the catalog.
type Collection struct {
	Snapshots []Snapshot
	// Live is every stored file the remaining catalog references,
	// snapshots and requests (Request.Files).
	Live blob.Set
}

// Lifecycle is the part of the catalog that changes snapshots after they
// are made: bumps, expiry, untracking.
type Lifecycle interface {
	// UpdateReleases sets a snapshot's Valid-Until and replaces its suites'
	// signed Release files, in one transaction. The new files are made by
	// sign from each suite's current Release text.
	UpdateReleases(ctx context.Context, archive, serial string, validUntil time.Time,
		sign func(suite string, release []byte) (SignedRelease, error)) (Snapshot, error)
	// Collect deletes the snapshots whose Valid-Until is at or before now,
	// then every suite state, index and pool file record no remaining
	// snapshot references, and reports what it deleted and every file the
	// remaining catalog references. With dry set, it changes nothing.
	// The newest time-based snapshot of each archive is kept even when
	// expired (stale): an archive whose pulses fail longer than its
	// snapshots live keeps serving its latest, and a custom archive's
	// contents live there.
	Collect(ctx context.Context, now time.Time, dry bool) (Collection, error)
	// Untrack removes suites from every snapshot of an archive and records
	// them as untracked, so that pulses skip them, in one transaction. It
	// returns the number of snapshots changed.
	Untrack(ctx context.Context, archive string, suites ...string) (int, error)
	// Untracked lists an archive's untracked suites.
	Untracked(ctx context.Context, archive string) ([]string, error)
	// Track undoes Untrack for future pulses.
	Track(ctx context.Context, archive, suite string) error
	// Tags lists the tagged snapshots (one per tag and archive).
	Tags(ctx context.Context) ([]Snapshot, error)
	// DeleteTag deletes a tag's snapshots; the next collection removes
	// what only they referenced. It returns how many were deleted.
	DeleteTag(ctx context.Context, tag string) (int, error)
	// Expire withdraws a time-based snapshot at once: it is deleted, so
	// that it is no longer served and the archive's newest is the one
	// before; the next collection removes what only it referenced. An
	// archive's only snapshot is not withdrawn (an error wrapping
	// errdefs.ErrInvalid).
	Expire(ctx context.Context, archive, serial string) (Snapshot, error)
}

// TagSerial is how a tagged snapshot is named among an archive's
// snapshots: "@" and the tag, which no serial can be.
func TagSerial(tag string) string { return "@" + tag }

// WorkingTag names a custom archive's working state: its contents with
// the changes not published yet, kept as a tagged snapshot (so that GC
// keeps every file it needs) that no user tag can name, replaced at each
// change, neither served nor listed by Tags.
const WorkingTag = "~working"

// MaxSerialsPerDay is the most snapshots an archive can have in one UTC day.
const MaxSerialsPerDay = 99
