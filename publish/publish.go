// Package publish is the one step that turns a suite's index files and
// Release fields into a snapshot that APT can use: it writes the Release
// we serve (upstream's fields or ours, our Valid-Until, the Snapshots:
// field, the SHA256 of every index file served, by-hash included through
// Acquire-By-Hash), signs it both ways (InRelease and Release.gpg), makes
// the stored files durable and records the snapshot in the catalog in one
// transaction. Mirrored pulses, custom archive changes, tags and bumps all
// go through it, so a Release is written, signed and expired one way.
package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/errdefs"
	"github.com/aptsnap/aptsnap/events"
	"github.com/aptsnap/aptsnap/index"
	"github.com/aptsnap/aptsnap/names"
	"github.com/aptsnap/aptsnap/pgp"
	"github.com/aptsnap/aptsnap/release"
)

// ValidUntil is aptsnap's Valid-Until rule: a snapshot made, or bumped, at
// t for days days is valid until t plus days times 24 hours.
func ValidUntil(t time.Time, days int) time.Time {
	return t.Add(time.Duration(days) * 24 * time.Hour)
}

// MaxBumpDays is the longest a bump may extend a snapshot: a hundred years.
const MaxBumpDays = 36500

// SnapshotsURL is the Snapshots: field of an archive served under base
// (APT 2.7's `apt update --snapshot ID` puts a serial or a timestamp in
// place of @SNAPSHOTID@).
func SnapshotsURL(base, archive string) string {
	return strings.TrimRight(base, "/") + "/" + archive + "/@SNAPSHOTID@/"
}

// Options configure a Publisher.
type Options struct {
	Catalog catalog.Catalog
	Store   blob.Store
	Signer  *pgp.Signer
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// Events hears of bumps. Publish does not tell of the snapshots it
	// makes: its callers do, once they have released their locks.
	Events *events.Bus
}

// Publisher publishes snapshots.
type Publisher struct {
	cat    catalog.Catalog
	store  blob.Store
	signer *pgp.Signer
	now    func() time.Time
	events *events.Bus
}

// New returns a Publisher.
func New(o Options) *Publisher {
	p := &Publisher{cat: o.Catalog, store: o.Store, signer: o.Signer, now: o.Now, events: o.Events}
	if p.now == nil {
		p.now = time.Now
	}
	return p
}

// Index is an uncompressed index (Packages or Sources) whose pool files a
// suite serves.
type Index struct {
	// Key is the SHA256 of the uncompressed content.
	Key blob.Digest
	// Entries are the pool files it lists; only needed when the catalog
	// does not know the index yet (Known false).
	Entries []catalog.PoolEntry
	Known   bool
}

// Suite is one suite of a snapshot to publish.
type Suite struct {
	Name string
	// Fields are the Release fields carried into ours: upstream's for a
	// mirrored suite, ours for a custom archive or a tag. Checksums,
	// Valid-Until, Snapshots and Signed-By are never carried (release.Dropped).
	Fields *release.Release
	// Components and Architectures replace the lists of Fields when not
	// nil: a snapshot serves only what is tracked.
	Components, Architectures []string
	// UpstreamDate is the Date of the upstream Release (a later pulse
	// refuses an older one); Upstream is that Release as stored.
	UpstreamDate time.Time
	Upstream     blob.Digest
	// Files are the index files served under dists/<suite>/, all stored.
	Files []release.File
	// Indices are the indices whose pool files the suite serves.
	Indices []Index
}

// Snapshot is a snapshot to publish.
type Snapshot struct {
	Archive string
	// Tag, when set, makes a tagged snapshot: no Valid-Until, no
	// Snapshots: field, never expiring.
	Tag string
	// Replace replaces the archive's snapshot of Tag (see
	// catalog.NewSnapshot.Replace).
	Replace bool
	// Created is the snapshot's time (zero: now, once its files are durable).
	Created time.Time
	// ValidDays is how long a time-based snapshot stays valid (see ValidUntil).
	ValidDays int
	// URL is where the archive is served, for the Snapshots: field.
	URL    string
	Suites []Suite
	// Pulse is the pulse making the snapshot, recorded with it (see
	// catalog.NewSnapshot.Pulse).
	Pulse *catalog.Pulse
}

// Publish signs every suite's Release, makes the store durable and
// records the snapshots in one catalog transaction: all of them or none.
func (p *Publisher) Publish(ctx context.Context, ss ...Snapshot) ([]catalog.Snapshot, error) {
	if err := p.store.Sync(ctx); err != nil {
		return nil, err
	}
	news := make([]catalog.NewSnapshot, 0, len(ss))
	for _, s := range ss {
		ns, err := p.build(s)
		if err != nil {
			return nil, err
		}
		news = append(news, ns)
	}
	return p.cat.CreateSnapshots(ctx, news)
}

func (p *Publisher) build(s Snapshot) (catalog.NewSnapshot, error) {
	ns := catalog.NewSnapshot{Archive: s.Archive, Tag: s.Tag, Replace: s.Replace, Created: s.Created, Clock: p.now, Pulse: s.Pulse}
	if ns.Created.IsZero() {
		ns.Created = p.now()
	}
	snapshots := ""
	if s.Tag == "" {
		ns.ValidUntil = ValidUntil(ns.Created, s.ValidDays)
		snapshots = SnapshotsURL(s.URL, s.Archive)
	}
	for _, su := range s.Suites {
		files := slices.Clone(su.Files)
		slices.SortFunc(files, func(x, y release.File) int { return strings.Compare(x.Path, y.Path) })
		text := release.Snapshot{
			Upstream: su.Fields, Components: su.Components, Architectures: su.Architectures,
			ValidUntil: ns.ValidUntil, SnapshotsURL: snapshots, Files: files,
		}.Build()
		signed, err := p.sign(text)
		if err != nil {
			return ns, fmt.Errorf("%s: sign: %w", su.Name, err)
		}
		nsu := catalog.NewSuite{Name: su.Name, UpstreamDate: su.UpstreamDate, Upstream: su.Upstream,
			Release: signed.Release, InRelease: signed.InRelease, ReleaseGPG: signed.ReleaseGPG,
			NewIndices: map[blob.Digest][]catalog.PoolEntry{}}
		for _, f := range files {
			nsu.Files = append(nsu.Files, catalog.IndexFile{Path: f.Path, SHA256: f.SHA256, Size: f.Size})
		}
		for _, idx := range su.Indices {
			nsu.Indices = append(nsu.Indices, idx.Key)
			if !idx.Known {
				nsu.NewIndices[idx.Key] = idx.Entries
			}
		}
		ns.Suites = append(ns.Suites, nsu)
	}
	return ns, nil
}

// sign signs a Release text both ways.
func (p *Publisher) sign(text []byte) (catalog.SignedRelease, error) {
	in, err := p.signer.ClearSign(text)
	if err != nil {
		return catalog.SignedRelease{}, err
	}
	det, err := p.signer.DetachSign(text)
	if err != nil {
		return catalog.SignedRelease{}, err
	}
	return catalog.SignedRelease{Release: text, InRelease: in, ReleaseGPG: det}, nil
}

// WriteIndex stores an index we generated the way Debian's archive
// software publishes one, plain, .gz and .xz, and returns the files to
// list under dists/<suite>/ and the index to record. name is its path
// there ("main/binary-amd64/Packages", "main/source/Sources").
func (p *Publisher) WriteIndex(ctx context.Context, name string, plain []byte) ([]release.File, Index, error) {
	return p.writeIndex(ctx, name, plain, true)
}

// WritePlainIndex is WriteIndex without the compressed variants: for a
// state no client fetches (a custom archive's working state), where
// compressing at every change would be work for nothing.
func (p *Publisher) WritePlainIndex(ctx context.Context, name string, plain []byte) ([]release.File, Index, error) {
	return p.writeIndex(ctx, name, plain, false)
}

func (p *Publisher) writeIndex(ctx context.Context, name string, plain []byte, compressed bool) ([]release.File, Index, error) {
	kind := path.Base(name)
	if kind != "Packages" && kind != "Sources" {
		return nil, Index{}, fmt.Errorf("publish: %s is neither a Packages nor a Sources index", name)
	}
	entries, err := index.PoolFiles(kind, plain)
	if err != nil {
		return nil, Index{}, fmt.Errorf("%s: %w", name, err)
	}
	variants := []struct {
		ext  string
		data []byte
	}{{"", plain}}
	if compressed {
		gz, xz, err := index.Compress(plain)
		if err != nil {
			return nil, Index{}, err
		}
		variants = append(variants, variants[0], variants[0])
		variants[1].ext, variants[1].data = ".gz", gz
		variants[2].ext, variants[2].data = ".xz", xz
	}
	var files []release.File
	for _, v := range variants {
		info, err := p.store.Put(ctx, bytes.NewReader(v.data), blob.Digest{}, -1)
		if err != nil {
			return nil, Index{}, err
		}
		files = append(files, release.File{Path: name + v.ext, Size: info.Size, SHA256: info.Digest})
	}
	return files, Index{Key: blob.Sum(plain), Entries: entries}, nil
}

// Bump sets a snapshot's Valid-Until to now + days and signs its Release
// files again; their Date, and everything else, stays byte for byte. It
// returns the snapshot before and after. An expired snapshot not yet
// collected comes back. A bump that would shorten the snapshot's life is
// refused unless allowShorten is set.
func (p *Publisher) Bump(ctx context.Context, archive, serial string, days int, allowShorten bool) (prev, snap catalog.Snapshot, err error) {
	if days <= 0 || days > MaxBumpDays {
		return prev, snap, errdefs.Errorf(errdefs.ErrInvalid, "bump %s/%s: days must be between 1 and %d, not %d", archive, serial, MaxBumpDays, days)
	}
	if strings.HasPrefix(serial, "@") {
		return prev, snap, errdefs.Errorf(errdefs.ErrInvalid, "bump %s/%s: a tagged snapshot never expires: there is nothing to bump", archive, serial)
	}
	if !names.Serial(serial) {
		return prev, snap, errdefs.Errorf(errdefs.ErrInvalid, "bump %s/%s: %q is not a serial (YYYYMMDDNN)", archive, serial, serial)
	}
	prev, err = p.cat.Snapshot(ctx, archive, serial)
	if errors.Is(err, catalog.ErrNotFound) {
		return prev, snap, fmt.Errorf("bump %s/%s: %w (collected, or never made)", archive, serial, err)
	}
	if err != nil {
		return prev, snap, fmt.Errorf("bump %s/%s: %w", archive, serial, err)
	}
	until := ValidUntil(p.now(), days)
	if until.Before(prev.ValidUntil) && !allowShorten {
		return prev, snap, errdefs.Errorf(errdefs.ErrInvalid, "bump %s/%s: %d days from now (%s) is before its Valid-Until (%s): a bump would shorten it (allow it with --allow-shorten)",
			archive, serial, days, release.FormatTime(until), release.FormatTime(prev.ValidUntil))
	}
	snap, err = p.cat.UpdateReleases(ctx, archive, serial, until, func(suite string, rel []byte) (catalog.SignedRelease, error) {
		text, err := release.SetValidUntil(rel, until)
		if err != nil {
			return catalog.SignedRelease{}, err
		}
		return p.sign(text)
	})
	if err != nil {
		return prev, snap, fmt.Errorf("bump %s/%s: %w", archive, serial, err)
	}
	p.events.Changed()
	return prev, snap, nil
}
