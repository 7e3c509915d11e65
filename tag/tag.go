// Package tag makes tagged snapshots: an immutable, named copy of a set of
// snapshots for a release (one serial per archive), served at
// /tagged/<tag>/<archive>/ and never expiring. Made from a build
// manifest, a tag holds only the packages the manifest lists, in indices
// written afresh and signed.
package tag

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/errdefs"
	"github.com/aptsnap/aptsnap/events"
	"github.com/aptsnap/aptsnap/index"
	"github.com/aptsnap/aptsnap/lock"
	"github.com/aptsnap/aptsnap/manifest"
	"github.com/aptsnap/aptsnap/names"
	"github.com/aptsnap/aptsnap/publish"
	"github.com/aptsnap/aptsnap/release"
)

// Options configure a Tagger.
type Options struct {
	Catalog   catalog.Catalog
	Store     blob.Store
	Publisher *publish.Publisher
	Locker    lock.Locker
	// MaxIndexSize bounds reading an index (index.DefaultMaxSize when zero).
	MaxIndexSize int64
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// Log receives a line per tag made or deleted (slog.Default() if nil).
	Log    *slog.Logger
	Events *events.Bus
}

// Tagger makes, lists and deletes tags.
type Tagger struct{ o Options }

// New returns a Tagger.
func New(o Options) *Tagger {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Tagger{o: o}
}

// Create makes an immutable snapshot named tag of each archive from the
// given serial (archive -> serial). With a manifest, only the packages it
// lists go in, with freshly written and signed indices; an entry found in
// none of the source snapshots is an error naming it, and nothing is
// created. So is a tag that exists.
func (tg *Tagger) Create(ctx context.Context, tag string, from map[string]string, m *manifest.Manifest) ([]catalog.Snapshot, error) {
	if len(tag) > names.MaxTag {
		return nil, errdefs.Errorf(errdefs.ErrInvalid, "tag create: a tag name is at most %d characters, not %d", names.MaxTag, len(tag))
	}
	if !names.Tag(tag) {
		return nil, errdefs.Errorf(errdefs.ErrInvalid, "tag create: invalid name %q: letters, digits, . + _ ~ -, starting with a letter or digit", tag)
	}
	if len(from) == 0 {
		return nil, errdefs.Errorf(errdefs.ErrInvalid, "tag create: name the snapshots to tag (--from ARCHIVE=SERIAL)")
	}
	snaps, err := tg.create(ctx, tag, from, m)
	if err != nil {
		return nil, err
	}
	for _, s := range snaps {
		tg.o.Events.Created(ctx, s)
	}
	tg.o.Log.Info("tagged", "tag", tag, "from", from, "manifest", m != nil)
	return snaps, nil
}

func (tg *Tagger) create(ctx context.Context, tag string, from map[string]string, m *manifest.Manifest) ([]catalog.Snapshot, error) {
	archives := make([]string, 0, len(from))
	for arc := range from {
		archives = append(archives, arc)
	}
	slices.Sort(archives)
	// Hold off GC sweeps from reading the sources until the tag is in
	// the catalog: the indices written meanwhile are not referenced yet.
	sl, err := tg.o.Locker.Sweep(ctx, false)
	if err != nil {
		return nil, err
	}
	defer sl.Release()
	t := &tagging{store: tg.o.Store, pub: tg.o.Publisher, maxIndex: tg.o.MaxIndexSize, m: m, found: map[string]bool{}}
	var news []publish.Snapshot
	created := tg.o.Now()
	for _, arc := range archives {
		src, err := tg.o.Catalog.Snapshot(ctx, arc, from[arc])
		if err != nil {
			return nil, fmt.Errorf("tag %s: %w", tag, err)
		}
		ps := publish.Snapshot{Archive: arc, Tag: tag, Created: created}
		for _, name := range src.Suites {
			su, err := tg.o.Catalog.Suite(ctx, src.ID, name)
			if err != nil {
				return nil, fmt.Errorf("tag %s: %w", tag, err)
			}
			psu, err := t.suite(ctx, su)
			if err != nil {
				return nil, fmt.Errorf("tag %s: %s/%s %s: %w", tag, arc, src.Serial, name, err)
			}
			ps.Suites = append(ps.Suites, psu)
		}
		news = append(news, ps)
	}
	if missing := t.missing(); len(missing) > 0 {
		return nil, fmt.Errorf("tag %s: %w: not in the source snapshots: %s", tag, errdefs.ErrInvalid, strings.Join(missing, ", "))
	}
	snaps, err := tg.o.Publisher.Publish(ctx, news...)
	if errors.Is(err, catalog.ErrExists) {
		err = errdefs.Errorf(errdefs.ErrExists, "%w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("tag %s: %w", tag, err)
	}
	return snaps, nil
}

// List lists tagged snapshots, by tag then archive; their Serial is "@"
// and the tag's name.
func (tg *Tagger) List(ctx context.Context) ([]catalog.Snapshot, error) {
	return tg.o.Catalog.Tags(ctx)
}

// Delete deletes a tag's snapshots and reports how many; the next GC
// removes what only they referenced.
func (tg *Tagger) Delete(ctx context.Context, tag string) (int, error) {
	if !names.Tag(tag) {
		return 0, errdefs.Errorf(catalog.ErrNotFound, "tag delete: no tag %s", tag)
	}
	n, err := tg.o.Catalog.DeleteTag(ctx, tag)
	if err != nil {
		return 0, fmt.Errorf("tag delete: %w", err)
	}
	tg.o.Events.Changed()
	tg.o.Log.Info("tag deleted", "tag", tag, "snapshots", n)
	return n, nil
}

// tagging builds the suites of a tag.
type tagging struct {
	store    blob.Store
	pub      *publish.Publisher
	maxIndex int64
	m        *manifest.Manifest
	found    map[string]bool // manifest entries seen, by String()
}

func (t *tagging) missing() []string {
	if t.m == nil {
		return nil
	}
	var out []string
	for _, b := range t.m.Packages.Binary {
		if !t.found[b.String()] {
			out = append(out, b.String())
		}
	}
	for _, s := range t.m.Packages.Source {
		if !t.found[s.String()] {
			out = append(out, s.String())
		}
	}
	return out
}

// suite returns the tagged copy of one suite: the same files without a
// manifest, else indices cut down to the manifest's packages.
func (t *tagging) suite(ctx context.Context, su catalog.Suite) (publish.Suite, error) {
	ours, err := release.Parse(su.Release)
	if err != nil {
		return publish.Suite{}, err
	}
	ps := publish.Suite{Name: su.Name, Fields: ours, UpstreamDate: su.UpstreamDate, Upstream: su.Upstream}
	if t.m != nil {
		return ps, t.filter(ctx, su, &ps)
	}
	for _, f := range su.Files {
		ps.Files = append(ps.Files, release.File{Path: f.Path, Size: f.Size, SHA256: f.SHA256})
	}
	for _, d := range su.Indices {
		ps.Indices = append(ps.Indices, publish.Index{Key: d, Known: true})
	}
	return ps, nil
}

// filter rewrites every Packages and Sources index of the suite to the
// manifest's packages.
func (t *tagging) filter(ctx context.Context, su catalog.Suite, ps *publish.Suite) error {
	type dirIndex struct{ dir, kind string }
	var dirs []dirIndex
	byPath := map[string]catalog.IndexFile{}
	for _, f := range su.Files {
		byPath[f.Path] = f
		base := path.Base(f.Path)
		for _, kind := range []string{"Packages", "Sources"} {
			if (base == kind || strings.HasPrefix(base, kind+".")) && !slices.Contains(dirs, dirIndex{path.Dir(f.Path), kind}) {
				dirs = append(dirs, dirIndex{path.Dir(f.Path), kind})
			}
		}
	}
	for _, f := range su.Files { // keep what is not an index (binary-*/Release)
		if !slices.ContainsFunc(dirs, func(d dirIndex) bool {
			return path.Dir(f.Path) == d.dir && strings.HasPrefix(path.Base(f.Path), d.kind)
		}) {
			ps.Files = append(ps.Files, release.File{Path: f.Path, Size: f.Size, SHA256: f.SHA256})
		}
	}
	for _, d := range dirs {
		data, err := index.ReadSuite(ctx, t.store, byPath, d.dir+"/"+d.kind, t.maxIndex)
		if err != nil {
			return err
		}
		stanzas, err := index.Filter(data, func(pkg, ver, arch string) bool { return t.keep(d.kind, pkg, ver, arch) })
		if err != nil {
			return err
		}
		files, ix, err := t.pub.WriteIndex(ctx, d.dir+"/"+d.kind, index.Write(stanzas))
		if err != nil {
			return err
		}
		ps.Files = append(ps.Files, files...)
		ps.Indices = append(ps.Indices, ix)
	}
	return nil
}

// keep matches a stanza against the manifest and records what it found.
func (t *tagging) keep(kind, pkg, ver, arch string) bool {
	if kind == "Sources" {
		for _, s := range t.m.Packages.Source {
			if s.Package == pkg && s.Version == ver {
				t.found[s.String()] = true
				return true
			}
		}
		return false
	}
	for _, b := range t.m.Packages.Binary {
		if b.Package == pkg && b.Version == ver && (b.Arch == "" || b.Arch == arch) {
			t.found[b.String()] = true
			return true
		}
	}
	return false
}
