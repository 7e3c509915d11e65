// Package export writes an installation's snapshots as a file tree that a
// web server (nginx, Apache) serves without aptsnap in the request path,
// at the URLs aptsnap serves them (see package serve):
//
//	DIR/<archive>/<serial>/dists/<suite>/{InRelease,Release,Release.gpg}
//	DIR/<archive>/<serial>/dists/<suite>/<every index file, its by-hash paths>
//	DIR/<archive>/<serial>/pool/...        the pool files that snapshot's indices list
//	DIR/<archive>/project/trace/<archive>  "Archive serial: <latest>" and a Date line
//	DIR/tagged/<tag>/<archive>/...         tagged snapshots
//	DIR/keys/aptsnap.asc                   the public signing key
//	DIR/.aptsnap/                          the export's own: never served
//	  export                               the marker: this directory is an export
//	  by-sha256/ab/<hex>                   each file once, by content
//	  state.json                           what is exported, to sync incrementally
//	  lock, tmp/, trash/
//
// Each content file is stored once in DIR/.aptsnap/by-sha256 (a hard link
// to the store's file when the store is a local directory on the same file
// system, else a copy, checked against its SHA-256) and hard-linked from
// every path that serves it. The plain indices aptsnap serves decompressed
// on the fly are written out (checked against the checksum the Release
// lists).
//
// Readers never see a half-made snapshot: a snapshot's tree is built under
// DIR/.aptsnap/tmp, Release files written last, made durable, and renamed
// into place in one step; a tree that changes (a bump re-signs its Release
// files, an untrack removes suites) is rebuilt beside it and exchanged
// with the old one atomically (renameat2 RENAME_EXCHANGE); trace files and
// the key are replaced by rename. A trace file is written only once the
// tree of the serial it names is in place, and a snapshot gone from the
// catalog leaves the export after the trace file moved off it.
//
// The store's garbage collection never takes a file from the export: a
// hard link keeps the content alive after the store deletes its own name
// for it (a copy is independent anyway). The export deletes a content file
// once no exported tree links it any more.
package export

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/index"
	"github.com/aptsnap/aptsnap/names"
	"github.com/aptsnap/aptsnap/release"
)

// Names inside the export directory.
const (
	// MetaDir holds the export's own files; a web server must not serve it.
	MetaDir    = ".aptsnap"
	markerName = "export"
	marker     = "aptsnap export, format 1: written by `aptsnap export`; do not edit\n"
	stateName  = "state.json"
	// KeyPath is where the public signing key is written, as aptsnap serves it.
	KeyPath = "keys/aptsnap.asc"
)

// DefaultEvery is how often Follow polls the catalog for changes made
// elsewhere (another process, another server).
const DefaultEvery = 5 * time.Second

// Options configure an Exporter.
type Options struct {
	Catalog catalog.Catalog
	Store   blob.Store
	// Dir is the export directory: created if missing; refused if it is
	// not empty and not an export.
	Dir string
	// Archives are the archives exported (those the server serves).
	Archives []string
	// PublicKey is the armored public signing key, written to KeyPath.
	PublicKey []byte
	// MaxIndexSize bounds an index read for its pool files
	// (index.DefaultMaxSize when zero).
	MaxIndexSize int64
	// Log receives warnings and a line per change (slog.Default() if nil).
	Log *slog.Logger
}

// Exporter keeps an export directory in step with the catalog. It holds
// the directory's lock from Open to Close: one exporter writes a
// directory at a time.
type Exporter struct {
	o        Options
	dir      string
	meta     string
	lock     *os.File
	st       state
	scanned  bool
	have     map[blob.Digest]bool
	entries  map[blob.Digest][]catalog.PoolEntry
	used     map[blob.Digest]bool
	failed   map[string]failure
	storeAt  func(blob.Digest) string // the store's file of a digest; nil: copy
	copying  bool
	noSwap   bool
	counters counters
}

type failure struct {
	fingerprint string
	next        time.Time
	wait        time.Duration
}

type counters struct{ linked, copied, derived int }

// state is what the export holds, saved in DIR/.aptsnap/state.json.
type state struct {
	Format int                  `json:"format"`
	Trees  map[string]treeState `json:"trees"`
}

// treeState is one exported snapshot tree.
type treeState struct {
	ID int64 `json:"id"`
	// Fingerprint is what a change of the snapshot changes: its ID (a tag
	// made again), Valid-Until (a bump) and suites (an untrack).
	Fingerprint string `json:"fingerprint"`
	// InRelease is the SHA-256 of each suite's InRelease exported.
	InRelease map[string]string `json:"inrelease"`
}

// Result is what a Sync did.
type Result struct {
	// Trees is the number of snapshot trees the export holds after it.
	Trees int
	// Added, Replaced and Removed name the trees ("debian/2026010101",
	// "tagged/6.1/debian") put in place, exchanged, and taken away.
	Added, Replaced, Removed []string
	// Linked, Copied and Derived count the content files added to the
	// export: hard links to the store's files, copies of them, and plain
	// indices decompressed; Pruned those deleted, no tree linking them.
	Linked, Copied, Derived, Pruned int
	// Failed says, for each tree that could not be exported this time,
	// why (tried again later).
	Failed []string
	Took   time.Duration
}

// Changed reports whether the sync changed the export.
func (r Result) Changed() bool {
	return len(r.Added)+len(r.Replaced)+len(r.Removed)+r.Pruned > 0
}

// Open prepares the export directory o.Dir and takes its lock, waiting
// while another exporter holds it.
func Open(ctx context.Context, o Options) (*Exporter, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.MaxIndexSize <= 0 {
		o.MaxIndexSize = index.DefaultMaxSize
	}
	if o.Dir == "" {
		return nil, errors.New("export: no directory given")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	x := &Exporter{o: o, dir: dir, meta: filepath.Join(dir, MetaDir), have: map[blob.Digest]bool{},
		entries: map[blob.Digest][]catalog.PoolEntry{}, failed: map[string]failure{}}
	if err := x.claim(); err != nil {
		return nil, err
	}
	if err := x.takeLock(ctx); err != nil {
		return nil, err
	}
	for _, d := range []string{"tmp", "trash"} {
		os.RemoveAll(filepath.Join(x.meta, d)) // left by a killed exporter: ours alone, we hold the lock
		if err := mkdir(filepath.Join(x.meta, d)); err != nil {
			x.Close()
			return nil, err
		}
	}
	if err := mkdir(filepath.Join(x.meta, "by-sha256")); err != nil {
		x.Close()
		return nil, err
	}
	if err := x.loadState(); err != nil {
		x.Close()
		return nil, err
	}
	x.chooseLinking()
	return x, nil
}

// Dir returns the export directory (absolute).
func (x *Exporter) Dir() string { return x.dir }

// Copying reports whether content files are copied rather than
// hard-linked from the store.
func (x *Exporter) Copying() bool { return x.copying }

// Close releases the directory's lock.
func (x *Exporter) Close() error {
	if x.lock == nil {
		return nil
	}
	err := x.lock.Close() // releases the flock
	x.lock = nil
	return err
}

// claim makes dir an export, or checks that it is one: a directory that
// is not empty and holds no marker is someone else's.
func (x *Exporter) claim() error {
	markerPath := filepath.Join(x.meta, markerName)
	if _, err := os.Stat(markerPath); err == nil {
		return nil
	}
	ents, err := os.ReadDir(x.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(x.dir, 0o755); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	case err != nil:
		return fmt.Errorf("export: %w", err)
	case len(ents) > 0:
		return fmt.Errorf("export: %s is not empty and is not an aptsnap export (no %s in it): refusing to write into it; give a new or empty directory",
			x.dir, filepath.Join(MetaDir, markerName))
	}
	if err := mkdir(x.dir); err != nil {
		return err
	}
	if err := mkdir(x.meta); err != nil {
		return err
	}
	return writeAtomic(x.meta, markerPath, []byte(marker))
}

// takeLock takes DIR/.aptsnap/lock, waiting for another exporter (a
// `serve` following the directory, an `export --follow`) to let go.
func (x *Exporter) takeLock(ctx context.Context) error {
	f, err := os.OpenFile(filepath.Join(x.meta, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	said := false
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return fmt.Errorf("export: lock %s: %w", f.Name(), err)
		}
		if !said {
			x.o.Log.Info("export: waiting for another exporter of the directory to finish", "dir", x.dir)
			said = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	x.lock = f
	return nil
}

// chooseLinking decides between hard links and copies: links when the
// store is a local directory on the export's file system.
func (x *Exporter) chooseLinking() {
	ls, ok := x.o.Store.(interface {
		Root() string
		Path(blob.Digest) string
	})
	if !ok {
		x.copying = true
		x.o.Log.Warn("export: the store is not a local directory: files are copied into the export (it takes their space once more)", "dir", x.dir)
		return
	}
	var a, b unix.Stat_t
	if unix.Stat(ls.Root(), &a) == nil && unix.Stat(x.meta, &b) == nil && a.Dev != b.Dev {
		x.copying = true
		x.o.Log.Warn("export: the export is on another file system than the store: files are copied, not hard-linked (it takes their space once more)",
			"dir", x.dir, "store", ls.Root())
		return
	}
	x.storeAt = ls.Path
}

func (x *Exporter) loadState() error {
	x.st = state{Format: 1, Trees: map[string]treeState{}}
	data, err := os.ReadFile(filepath.Join(x.meta, stateName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil {
		err = json.Unmarshal(data, &x.st)
	}
	if err != nil || x.st.Format != 1 || x.st.Trees == nil {
		// Rebuilt from the catalog: every tree is exchanged once.
		x.o.Log.Warn("export: state unreadable: every snapshot is exported again", "err", err)
		x.st = state{Format: 1, Trees: map[string]treeState{}}
	}
	return nil
}

func (x *Exporter) saveState() error {
	data, err := json.MarshalIndent(x.st, "", " ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(x.meta, "tmp"), filepath.Join(x.meta, stateName), append(data, '\n'))
}

// wanted is a snapshot the export should hold.
type wanted struct {
	snap catalog.Snapshot
	fp   string
}

func fingerprint(s catalog.Snapshot) string {
	vu := int64(0)
	if !s.ValidUntil.IsZero() {
		vu = s.ValidUntil.Unix()
	}
	return fmt.Sprintf("id=%d valid_until=%d suites=%s", s.ID, vu, strings.Join(s.Suites, ","))
}

// desired lists what the catalog serves now: each archive's time-based
// snapshots and the tags, by tree name, and each archive's newest.
func (x *Exporter) desired(ctx context.Context) (map[string]wanted, map[string]catalog.Snapshot, error) {
	want := map[string]wanted{}
	latest := map[string]catalog.Snapshot{}
	served := map[string]bool{}
	for _, a := range x.o.Archives {
		served[a] = true
		snaps, err := x.o.Catalog.Snapshots(ctx, a)
		if err != nil {
			return nil, nil, err
		}
		for _, s := range snaps {
			if !names.Serial(s.Serial) {
				continue
			}
			want[a+"/"+s.Serial] = wanted{s, fingerprint(s)}
			if l, ok := latest[a]; !ok || s.Serial > l.Serial {
				latest[a] = s
			}
		}
	}
	tags, err := x.o.Catalog.Tags(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range tags {
		tag, ok := strings.CutPrefix(s.Serial, "@")
		if !ok || !names.Tag(tag) || !served[s.Archive] {
			continue
		}
		want["tagged/"+tag+"/"+s.Archive] = wanted{s, fingerprint(s)}
	}
	return want, latest, nil
}

// Sync brings the export in step with the catalog: trees of new and
// changed snapshots built and put in place, trace files and the key
// written, trees of snapshots gone removed, content no tree links any
// more deleted. Only snapshots that changed are touched. A tree that
// cannot be made is left as it was (or out) and named in Result.Failed
// and the error; the rest is done.
func (x *Exporter) Sync(ctx context.Context) (Result, error) {
	start := time.Now()
	x.counters = counters{}
	x.used = map[blob.Digest]bool{}
	res := Result{}
	want, latest, err := x.desired(ctx)
	if err != nil {
		return res, fmt.Errorf("export: %w", err)
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	type built struct {
		key, tmp string
		ts       treeState
	}
	var todo []built
	defer func() {
		for _, b := range todo {
			if b.tmp != "" {
				os.RemoveAll(b.tmp)
			}
		}
	}()
	for _, key := range keys {
		w := want[key]
		if ts, ok := x.st.Trees[key]; ok && ts.Fingerprint == w.fp {
			if _, err := os.Lstat(filepath.Join(x.dir, filepath.FromSlash(key))); err == nil {
				continue
			}
		}
		if f, ok := x.failed[key]; ok && f.fingerprint == w.fp && time.Now().Before(f.next) {
			continue // said when it failed; tried again later
		}
		tmp, ts, err := x.build(ctx, w.snap)
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			if x.gone(ctx, w.snap) {
				x.o.Log.Debug("export: snapshot gone while exported", "tree", key, "err", err)
				continue
			}
			f := x.failed[key]
			if f.fingerprint != w.fp {
				f = failure{fingerprint: w.fp}
			}
			f.wait = min(max(2*f.wait, 10*time.Second), 10*time.Minute)
			f.next = time.Now().Add(f.wait)
			x.failed[key] = f
			res.Failed = append(res.Failed, key+": "+err.Error())
			continue
		}
		delete(x.failed, key)
		ts.Fingerprint = w.fp
		todo = append(todo, built{key, tmp, ts})
	}
	changed := false
	if len(todo) > 0 {
		// What is renamed into place is on disk first.
		if err := syncfs(x.meta); err != nil {
			return res, err
		}
		for i, b := range todo {
			replaced, err := x.install(b.key, b.tmp)
			if err != nil {
				return res, err
			}
			todo[i].tmp = ""
			x.st.Trees[b.key] = b.ts
			changed = true
			if replaced {
				res.Replaced = append(res.Replaced, b.key)
			} else {
				res.Added = append(res.Added, b.key)
			}
		}
	}
	// Trace files name a serial once its tree is in place, and move off a
	// serial before its tree goes.
	for _, a := range x.o.Archives {
		if err := x.writeTrace(a, latest); err != nil {
			return res, err
		}
	}
	if err := x.writeKey(); err != nil {
		return res, err
	}
	for _, key := range slices.Sorted(maps.Keys(x.st.Trees)) {
		if _, ok := want[key]; ok {
			continue
		}
		if err := x.remove(key); err != nil {
			return res, err
		}
		delete(x.st.Trees, key)
		changed = true
		res.Removed = append(res.Removed, key)
	}
	if !x.scanned || changed {
		removed, err := x.sweepStrays(want)
		if err != nil {
			return res, err
		}
		res.Removed = append(res.Removed, removed...)
		changed = changed || len(removed) > 0
	}
	if changed {
		if err := x.saveState(); err != nil {
			return res, err
		}
	}
	if !x.scanned || len(res.Replaced)+len(res.Removed) > 0 {
		n, err := x.prune()
		res.Pruned = n
		if err != nil {
			return res, err
		}
	}
	x.scanned = true
	if len(todo) > 0 {
		// Parsed pool lists of indices no tree built now used go.
		for d := range x.entries {
			if !x.used[d] {
				delete(x.entries, d)
			}
		}
	}
	res.Linked, res.Copied, res.Derived = x.counters.linked, x.counters.copied, x.counters.derived
	res.Trees = len(x.st.Trees)
	res.Took = time.Since(start)
	if len(res.Failed) > 0 {
		return res, fmt.Errorf("export: %d snapshot(s) not exported: %s", len(res.Failed), strings.Join(res.Failed, "; "))
	}
	return res, nil
}

// gone reports whether a snapshot left the catalog (collected, withdrawn,
// a tag deleted) or changed: then failing to export it is no failure.
func (x *Exporter) gone(ctx context.Context, s catalog.Snapshot) bool {
	now, err := x.o.Catalog.Snapshot(ctx, s.Archive, s.Serial)
	if errors.Is(err, catalog.ErrNotFound) {
		return true
	}
	return err == nil && fingerprint(now) != fingerprint(s)
}

// Follow syncs, then syncs again every every (DefaultEvery if zero) and
// whenever wake says so, until ctx ends. Failures are logged; the next
// round tries again.
func (x *Exporter) Follow(ctx context.Context, every time.Duration, wake <-chan struct{}) error {
	if every <= 0 {
		every = DefaultEvery
	}
	for {
		res, err := x.Sync(ctx)
		if ctx.Err() != nil {
			return nil
		}
		x.logResult(res, err)
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-wake:
			t.Stop()
		}
	}
}

func (x *Exporter) logResult(res Result, err error) {
	if err != nil {
		x.o.Log.Error("export", "dir", x.dir, "err", err)
	}
	if res.Changed() {
		x.o.Log.Info("export: synced", "dir", x.dir, "trees", res.Trees, "added", res.Added, "replaced", res.Replaced,
			"removed", res.Removed, "linked", res.Linked, "copied", res.Copied, "derived", res.Derived, "pruned", res.Pruned,
			"took", res.Took.Round(time.Millisecond))
	}
}

// tree is a snapshot's tree being built under DIR/.aptsnap/tmp.
type tree struct {
	root  string
	dirs  map[string]bool
	files map[string]bool
}

func (t *tree) mkdirs(rel string) error {
	if rel == "." || t.dirs[rel] {
		return nil
	}
	if err := t.mkdirs(path.Dir(rel)); err != nil {
		return err
	}
	if err := mkdir(filepath.Join(t.root, filepath.FromSlash(rel))); err != nil {
		return err
	}
	t.dirs[rel] = true
	return nil
}

// link puts content file src at rel (once: the first one given wins).
func (t *tree) link(src, rel string) error {
	if t.files[rel] {
		return nil
	}
	if err := t.mkdirs(path.Dir(rel)); err != nil {
		return err
	}
	dst := filepath.Join(t.root, filepath.FromSlash(rel))
	err := os.Link(src, dst)
	if errors.Is(err, unix.EMLINK) {
		// The file system's most links per file (65,000 on ext4): a copy.
		err = copyFile(src, dst)
	}
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	t.files[rel] = true
	return nil
}

func (t *tree) write(rel string, data []byte) error {
	if err := t.mkdirs(path.Dir(rel)); err != nil {
		return err
	}
	dst := filepath.Join(t.root, filepath.FromSlash(rel))
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	t.files[rel] = true
	return os.Chmod(dst, 0o644)
}

// build makes the tree of a snapshot in a temporary directory and returns
// it: every index file of every suite with its by-hash paths, the pool
// files its indices list, and, last, the Release files.
func (x *Exporter) build(ctx context.Context, s catalog.Snapshot) (string, treeState, error) {
	ts := treeState{ID: s.ID, InRelease: map[string]string{}}
	tmp, err := os.MkdirTemp(filepath.Join(x.meta, "tmp"), "tree-")
	if err != nil {
		return "", ts, fmt.Errorf("export: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", ts, err
	}
	t := &tree{root: tmp, dirs: map[string]bool{}, files: map[string]bool{}}
	type signed struct {
		rel  string
		data []byte
	}
	var releases []signed
	for _, name := range s.Suites {
		if err := ctx.Err(); err != nil {
			return "", ts, err
		}
		su, err := x.o.Catalog.Suite(ctx, s.ID, name)
		if err != nil {
			return "", ts, fmt.Errorf("suite %s: %w", name, err)
		}
		byPath := make(map[string]catalog.IndexFile, len(su.Files))
		for _, f := range su.Files {
			byPath[f.Path] = f
		}
		base := "dists/" + name + "/"
		for _, f := range su.Files {
			src, err := x.indexContent(ctx, byPath, f)
			if err != nil {
				return "", ts, fmt.Errorf("suite %s: %s: %w", name, f.Path, err)
			}
			if err := t.link(src, base+f.Path); err != nil {
				return "", ts, err
			}
			// As the server answers <dir>/by-hash/SHA256/<hex> for the
			// files of <dir>.
			if dir := path.Dir(f.Path); dir != "." {
				if err := t.link(src, base+dir+"/by-hash/SHA256/"+f.SHA256.String()); err != nil {
					return "", ts, err
				}
			}
		}
		entries, err := x.poolEntries(ctx, su, byPath)
		if err != nil {
			return "", ts, fmt.Errorf("suite %s: %w", name, err)
		}
		for i, e := range entries {
			if i%1024 == 0 && ctx.Err() != nil {
				return "", ts, ctx.Err()
			}
			if !strings.HasPrefix(e.Path, "pool/") || t.files[e.Path] {
				continue // the server serves pool/ only; of two contents under one path, the first
			}
			src, err := x.content(ctx, e.SHA256, e.Size)
			if err != nil {
				return "", ts, fmt.Errorf("suite %s: %s: %w", name, e.Path, err)
			}
			if err := t.link(src, e.Path); err != nil {
				return "", ts, err
			}
		}
		for _, r := range []signed{{"Release", su.Release}, {"Release.gpg", su.ReleaseGPG}, {"InRelease", su.InRelease}} {
			if len(r.data) > 0 {
				releases = append(releases, signed{base + r.rel, r.data})
			}
		}
		ts.InRelease[name] = blob.Sum(su.InRelease).String()
	}
	if err := t.mkdirs("dists"); err != nil {
		return "", ts, err
	}
	// Release files last: nothing they list is missing when they appear.
	for _, r := range releases {
		if err := t.write(r.rel, r.data); err != nil {
			return "", ts, err
		}
	}
	ok = true
	return tmp, ts, nil
}

// poolEntries returns the pool files a suite's indices list, read from
// its Packages and Sources files (parsed once per index content).
func (x *Exporter) poolEntries(ctx context.Context, su catalog.Suite, byPath map[string]catalog.IndexFile) ([]catalog.PoolEntry, error) {
	want := map[blob.Digest]bool{}
	for _, d := range su.Indices {
		want[d] = true
	}
	bases := map[string]string{}
	for _, f := range su.Files {
		if strings.Contains(f.Path, "/by-hash/") {
			continue
		}
		b := strings.TrimSuffix(strings.TrimSuffix(f.Path, ".gz"), ".xz")
		if k := path.Base(b); k == "Packages" || k == "Sources" {
			bases[b] = k
		}
	}
	var out []catalog.PoolEntry
	found := map[blob.Digest]bool{}
	for _, b := range slices.Sorted(maps.Keys(bases)) {
		if len(found) == len(want) {
			break
		}
		if f, ok := byPath[b]; ok && want[f.SHA256] {
			if found[f.SHA256] {
				continue
			}
			if es, ok := x.entries[f.SHA256]; ok {
				x.used[f.SHA256] = true
				found[f.SHA256] = true
				out = append(out, es...)
				continue
			}
		}
		data, err := index.ReadSuite(ctx, x.o.Store, byPath, b, x.o.MaxIndexSize)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b, err)
		}
		d := blob.Sum(data)
		if !want[d] || found[d] {
			continue
		}
		es, err := index.PoolFiles(bases[b], data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b, err)
		}
		x.entries[d], x.used[d], found[d] = es, true, true
		out = append(out, es...)
	}
	for d := range want {
		if !found[d] {
			return nil, fmt.Errorf("no index file of the suite has the content %s", d)
		}
	}
	return out, nil
}

func (x *Exporter) contentPath(d blob.Digest) string {
	h := d.String()
	return filepath.Join(x.meta, "by-sha256", h[:2], h)
}

// indexContent returns the content file of a suite's index file: the
// stored one, or, for a plain index the server decompresses on the fly,
// the decompressed content, checked against its listed checksum.
func (x *Exporter) indexContent(ctx context.Context, byPath map[string]catalog.IndexFile, f catalog.IndexFile) (string, error) {
	from, derivable := index.DerivedFrom(byPath, f.Path)
	if !derivable || x.present(f.SHA256) {
		return x.content(ctx, f.SHA256, f.Size)
	}
	if _, err := x.o.Store.Stat(ctx, f.SHA256); !errors.Is(err, blob.ErrNotFound) {
		return x.content(ctx, f.SHA256, f.Size)
	}
	rc, err := index.OpenDerived(ctx, x.o.Store, f, from)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	p, err := x.writeContent(f.SHA256, f.Size, rc)
	if err == nil {
		x.counters.derived++
	}
	return p, err
}

// present reports whether the export holds content d.
func (x *Exporter) present(d blob.Digest) bool {
	if x.have[d] {
		return true
	}
	if _, err := os.Lstat(x.contentPath(d)); err == nil {
		x.have[d] = true
		return true
	}
	return false
}

// content returns the export's file of stored content d, linking or
// copying it from the store first if need be.
func (x *Exporter) content(ctx context.Context, d blob.Digest, size int64) (string, error) {
	p := x.contentPath(d)
	if x.present(d) {
		return p, nil
	}
	if err := mkdir(filepath.Dir(p)); err != nil {
		return "", err
	}
	if !x.copying {
		err := os.Link(x.storeAt(d), p)
		switch {
		case err == nil, errors.Is(err, fs.ErrExist):
			x.have[d] = true
			x.counters.linked++
			return p, nil
		case errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("%w: %s", blob.ErrNotFound, d)
		case errors.Is(err, unix.EXDEV), errors.Is(err, unix.EPERM), errors.Is(err, unix.EMLINK):
			if !errors.Is(err, unix.EMLINK) {
				x.copying = true
				x.o.Log.Warn("export: the store's files cannot be hard-linked into the export: they are copied (it takes their space once more)",
					"dir", x.dir, "err", err)
			}
		default:
			return "", fmt.Errorf("export: %w", err)
		}
	}
	rc, _, err := x.o.Store.Open(ctx, d)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	p, err = x.writeContent(d, size, rc)
	if err == nil {
		x.counters.copied++
	}
	return p, err
}

// writeContent writes content d from r, checking its digest and size.
func (x *Exporter) writeContent(d blob.Digest, size int64, r io.Reader) (string, error) {
	p := x.contentPath(d)
	if err := mkdir(filepath.Dir(p)); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(filepath.Join(x.meta, "tmp"), "content-")
	if err != nil {
		return "", fmt.Errorf("export: %w", err)
	}
	defer func() {
		if f != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, size+1))
	if err != nil {
		return "", err
	}
	var got blob.Digest
	h.Sum(got[:0])
	if got != d || n != size {
		return "", fmt.Errorf("%w: %s: got sha256 %s, %d bytes, want %d", blob.ErrMismatch, d, got, n, size)
	}
	if err := f.Chmod(0o644); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return "", fmt.Errorf("export: %w", err)
	}
	f = nil
	x.have[d] = true
	return p, nil
}

// install puts a built tree at key's place: a rename when there is none,
// else an atomic exchange with the one there, which is then deleted.
func (x *Exporter) install(key, tmp string) (replaced bool, err error) {
	dst := filepath.Join(x.dir, filepath.FromSlash(key))
	rel := ""
	for _, part := range strings.Split(path.Dir(key), "/") {
		rel = path.Join(rel, part)
		if err := mkdir(filepath.Join(x.dir, filepath.FromSlash(rel))); err != nil {
			return false, err
		}
	}
	if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
		if err := os.Rename(tmp, dst); err != nil {
			return false, fmt.Errorf("export: %w", err)
		}
		return false, nil
	}
	if !x.noSwap {
		err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dst, unix.RENAME_EXCHANGE)
		if err == nil {
			return true, os.RemoveAll(tmp) // the old tree, now there
		}
		if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EOPNOTSUPP) {
			return false, fmt.Errorf("export: exchange %s: %w", key, err)
		}
		x.noSwap = true
		x.o.Log.Warn("export: the file system cannot exchange directories atomically: a changed snapshot is missing for a moment while replaced", "err", err)
	}
	if err := x.remove(key); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return false, fmt.Errorf("export: %w", err)
	}
	return true, nil
}

// remove takes a tree away at once (renamed out of the served tree), then
// deletes it; empty tagged/<tag> directories go too.
func (x *Exporter) remove(key string) error {
	dst := filepath.Join(x.dir, filepath.FromSlash(key))
	trash, err := os.MkdirTemp(filepath.Join(x.meta, "trash"), "tree-")
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer os.RemoveAll(trash)
	if err := os.Rename(dst, filepath.Join(trash, "t")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("export: %w", err)
	}
	if strings.HasPrefix(key, "tagged/") {
		os.Remove(filepath.Dir(dst)) // only if empty
	}
	return nil
}

// writeTrace writes an archive's trace file, naming its newest snapshot
// once that snapshot's tree is in place; with no snapshot, none.
func (x *Exporter) writeTrace(archive string, latest map[string]catalog.Snapshot) error {
	dir := filepath.Join(x.dir, archive, "project", "trace")
	p := filepath.Join(dir, archive)
	l, ok := latest[archive]
	if !ok {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("export: %w", err)
		}
		return nil
	}
	if _, in := x.st.Trees[archive+"/"+l.Serial]; !in {
		return nil // not exported yet: the trace file stays on the one before
	}
	body := []byte(fmt.Sprintf("Archive serial: %s\nDate: %s\n", l.Serial, release.FormatTime(l.Created)))
	if old, err := os.ReadFile(p); err == nil && string(old) == string(body) {
		return nil
	}
	for _, d := range []string{filepath.Join(x.dir, archive), filepath.Join(x.dir, archive, "project"), dir} {
		if err := mkdir(d); err != nil {
			return err
		}
	}
	return writeAtomic(filepath.Join(x.meta, "tmp"), p, body)
}

func (x *Exporter) writeKey() error {
	if len(x.o.PublicKey) == 0 {
		return nil
	}
	p := filepath.Join(x.dir, filepath.FromSlash(KeyPath))
	if old, err := os.ReadFile(p); err == nil && string(old) == string(x.o.PublicKey) {
		return nil
	}
	if err := mkdir(filepath.Dir(p)); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(x.meta, "tmp"), p, x.o.PublicKey)
}

// sweepStrays removes trees the state does not know of and the catalog
// does not serve (left by a killed exporter, or of an archive no longer
// served), and trace files of archives no longer served. Only what has
// the shape of an export's tree is touched.
func (x *Exporter) sweepStrays(want map[string]wanted) ([]string, error) {
	served := map[string]bool{}
	for _, a := range x.o.Archives {
		served[a] = true
	}
	var removed []string
	drop := func(key string) error {
		if _, ok := want[key]; ok {
			return nil
		}
		if err := x.remove(key); err != nil {
			return err
		}
		delete(x.st.Trees, key)
		removed = append(removed, key)
		return nil
	}
	top, err := os.ReadDir(x.dir)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	for _, e := range top {
		name := e.Name()
		if !e.IsDir() {
			continue
		}
		switch {
		case name == "tagged":
			tags, _ := os.ReadDir(filepath.Join(x.dir, name))
			for _, tg := range tags {
				if !tg.IsDir() || !names.Tag(tg.Name()) {
					continue
				}
				arcs, _ := os.ReadDir(filepath.Join(x.dir, name, tg.Name()))
				for _, a := range arcs {
					if a.IsDir() && names.Archive(a.Name()) {
						if err := drop("tagged/" + tg.Name() + "/" + a.Name()); err != nil {
							return removed, err
						}
					}
				}
				os.Remove(filepath.Join(x.dir, name, tg.Name())) // only if empty
			}
		case names.Archive(name) && !names.Reserved(name):
			ents, _ := os.ReadDir(filepath.Join(x.dir, name))
			for _, s := range ents {
				if s.IsDir() && names.Serial(s.Name()) {
					if err := drop(name + "/" + s.Name()); err != nil {
						return removed, err
					}
				}
			}
			if !served[name] {
				os.Remove(filepath.Join(x.dir, name, "project", "trace", name))
				os.Remove(filepath.Join(x.dir, name, "project", "trace"))
				os.Remove(filepath.Join(x.dir, name, "project"))
				os.Remove(filepath.Join(x.dir, name))
			}
		}
	}
	return removed, nil
}

// prune deletes the content files no exported tree links any more: a
// file's links are its by-sha256 name, the store's name when it is the
// store's file, and the trees'.
func (x *Exporter) prune() (int, error) {
	top := filepath.Join(x.meta, "by-sha256")
	shards, err := os.ReadDir(top)
	if err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	n := 0
	for _, sh := range shards {
		ents, err := os.ReadDir(filepath.Join(top, sh.Name()))
		if err != nil {
			continue
		}
		for _, e := range ents {
			d, err := blob.ParseDigest(e.Name())
			if err != nil {
				continue
			}
			p := filepath.Join(top, sh.Name(), e.Name())
			fi, err := os.Lstat(p)
			if err != nil {
				continue
			}
			st, ok := fi.Sys().(*syscall.Stat_t)
			if !ok {
				continue
			}
			refs := int64(st.Nlink) - 1
			if x.storeAt != nil {
				if sfi, err := os.Stat(x.storeAt(d)); err == nil && os.SameFile(fi, sfi) {
					refs--
				}
			}
			if refs > 0 {
				continue
			}
			if err := os.Remove(p); err != nil {
				return n, fmt.Errorf("export: %w", err)
			}
			delete(x.have, d)
			n++
		}
	}
	return n, nil
}

// mkdir makes a directory readable by a web server running as another
// user, whatever the umask (aptsnap's unit runs with 0027).
func mkdir(p string) error {
	err := os.Mkdir(p, 0o755)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("export: %w", err)
	}
	if err == nil {
		if err := os.Chmod(p, 0o755); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	return nil
}

// writeAtomic replaces p with data through a temporary file in tmpDir (on
// p's file system), so that a reader sees the old content or the new.
func writeAtomic(tmpDir, p string, data []byte) error {
	f, err := os.CreateTemp(tmpDir, "file-")
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Chmod(0o644); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// syncfs makes everything written on p's file system durable.
func syncfs(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("export: syncfs: %w", err)
	}
	return nil
}
