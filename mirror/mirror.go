// Package mirror runs pulses: one mirror run of an upstream archive that
// downloads what changed, verifies all of it, and only then creates a
// time-based snapshot in one catalog transaction.
package mirror

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/errdefs"
	"github.com/aptsnap/aptsnap/events"
	"github.com/aptsnap/aptsnap/index"
	"github.com/aptsnap/aptsnap/lock"
	"github.com/aptsnap/aptsnap/pgp"
	"github.com/aptsnap/aptsnap/progress"
	"github.com/aptsnap/aptsnap/publish"
	"github.com/aptsnap/aptsnap/release"
)

// Options configure a Mirror.
type Options struct {
	Catalog catalog.Catalog
	Store   blob.Store
	// Publisher signs and records the snapshots.
	Publisher *publish.Publisher
	// PublicURL is the server's base URL, for the Snapshots: field.
	PublicURL string
	// Locker keeps two pulses of one archive apart, and GC from sweeping
	// what a pulse is about to reference (none: the caller ensures both).
	Locker lock.Locker
	// Client fetches from upstream (one with Timeouts' connect timeout and
	// only http and https redirects if nil).
	Client *http.Client
	// Timeouts bound what a slow upstream takes of a pulse.
	Timeouts Timeouts
	// Parallel is the number of concurrent pool downloads (default 8).
	Parallel int
	// MaxIndexSize bounds the uncompressed size of an index whose Release
	// lists none for it, and refuses one listed larger
	// (index.DefaultMaxSize when zero).
	MaxIndexSize int64
	// Retries is the number of attempts per download (default 3).
	Retries int
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// Log receives structured logs (slog.Default() if nil).
	Log *slog.Logger
	// Progress draws the download progress (nothing if nil).
	Progress progress.Reporter
	// Events hears of every pulse's end and of the snapshots made.
	Events *events.Bus
}

// Mirror runs pulses.
type Mirror struct {
	cat      catalog.Catalog
	store    blob.Store
	pub      *publish.Publisher
	public   string
	locker   lock.Locker
	client   *http.Client
	timeouts Timeouts
	parallel int
	maxIndex int64
	retries  int
	now      func() time.Time
	log      *slog.Logger
	progress progress.Reporter
	events   *events.Bus
}

// New returns a Mirror.
func New(o Options) *Mirror {
	m := &Mirror{cat: o.Catalog, store: o.Store, pub: o.Publisher, public: o.PublicURL,
		locker: o.Locker, client: o.Client, parallel: o.Parallel, maxIndex: o.MaxIndexSize, timeouts: o.Timeouts.withDefaults(), retries: o.Retries, now: o.Now, log: o.Log, progress: o.Progress,
		events: o.Events}
	if m.parallel <= 0 {
		m.parallel = 8
	}
	if m.client == nil {
		m.client = newClient(m.timeouts, m.parallel)
	}
	if m.maxIndex <= 0 {
		m.maxIndex = index.DefaultMaxSize
	}
	if m.retries <= 0 {
		m.retries = 3
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.progress == nil {
		m.progress = progress.Discard{}
	}
	return m
}

// ErrDate marks an upstream Release refused for its dates: expired, going
// back in time, or from the future.
var ErrDate = errors.New("upstream Release dates")

// Reason names the kind of a pulse failure, for metrics: signature,
// checksum, date, missing, unreachable, stalled, storage (our disk: full,
// read-only, failing), busy, interrupted (stopped from outside) or other.
func Reason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, pgp.ErrBadSignature), errors.Is(err, pgp.ErrUnknownKey), errors.Is(err, pgp.ErrMalformed),
		errors.Is(err, pgp.ErrWeakDigest), errors.Is(err, pgp.ErrKeyExpired), errors.Is(err, pgp.ErrKeyRevoked),
		errors.Is(err, pgp.ErrSignatureExpired):
		return "signature"
	case errors.Is(err, blob.ErrMismatch), errors.Is(err, index.ErrTooLarge):
		return "checksum"
	case errors.Is(err, ErrDate):
		return "date"
	case errors.Is(err, errNotFound):
		return "missing"
	case errors.Is(err, errBusy):
		return "busy"
	case errors.Is(err, ErrInterrupted):
		return "interrupted"
	case localStorage(err):
		return "storage"
	case errors.Is(err, ErrStalled):
		return "stalled"
	case errors.Is(err, errBadRedirect):
		return "other"
	case network(err):
		return "unreachable"
	}
	return "other"
}

var errBusy = errors.New("busy")

// ErrInterrupted marks a pulse stopped from outside (a signal, the server
// shutting down): nothing is wrong with the upstream.
var ErrInterrupted = errors.New("interrupted")

// localStorage reports whether err is our own storage failing (a full or
// read-only disk, an I/O error): trying again does not help.
func localStorage(err error) bool {
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return false
	}
	for _, e := range []error{syscall.ENOSPC, syscall.EDQUOT, syscall.EROFS, syscall.EIO} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// network reports whether err comes from talking to the upstream. A bare
// errno is not: it passes for a net.Error (it has Timeout and Temporary)
// but comes from a local file as often.
func network(err error) bool {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	if _, ok := errors.AsType[*url.Error](err); ok {
		return true
	}
	if _, ok := errors.AsType[*httpError](err); ok {
		return true
	}
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return true
	}
	ne, ok := errors.AsType[net.Error](err)
	_, errno := ne.(syscall.Errno)
	return ok && !errno
}

// Error is a failed pulse: one line naming the archive and the reason.
type Error struct {
	Archive string
	Err     error
}

func (e *Error) Error() string { return fmt.Sprintf("pulse %s: %v", e.Archive, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// Pulse mirrors archive a once and creates a snapshot. On any error nothing
// visible changes: the previous snapshot keeps serving and no serial appears.
// The result, good or bad, is recorded in the catalog's pulse log.
func (m *Mirror) Pulse(ctx context.Context, a *config.Archive) (catalog.Snapshot, error) {
	started := m.now()
	pctx, cancel := context.WithTimeoutCause(ctx, m.timeouts.Pulse,
		fmt.Errorf("%w: the pulse took longer than %s (pulse_timeout)", ErrStalled, m.timeouts.Pulse))
	snap, err := m.pulse(pctx, a, started)
	if err != nil && ctx.Err() == nil {
		if cause := context.Cause(pctx); errors.Is(cause, ErrStalled) {
			err = cause
		}
	}
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (%w): nothing changed; the next pulse starts over, keeping what was downloaded", ErrInterrupted, context.Cause(ctx))
	}
	cancel()
	rec := catalog.Pulse{Archive: a.Name, Started: started, Finished: m.now(), OK: err == nil, Serial: snap.Serial}
	m.events.Pulsed(events.Pulse{Archive: a.Name, Reason: Reason(err), Took: rec.Finished.Sub(started), Ended: rec.Finished})
	switch {
	case errors.Is(err, ErrInterrupted):
		err = &Error{Archive: a.Name, Err: err}
		rec.Error = oneLine(err.Error())
		m.log.Warn("pulse interrupted", "archive", a.Name, "reason", Reason(err), "err", rec.Error)
	case err != nil:
		err = &Error{Archive: a.Name, Err: err}
		rec.Error = oneLine(err.Error())
		m.log.Error("pulse failed", "archive", a.Name, "reason", Reason(err), "err", rec.Error)
	default:
		m.log.Info("pulse done", "archive", a.Name, "serial", snap.Serial, "duration", rec.Finished.Sub(started).Round(time.Millisecond))
	}
	if err == nil { // recorded with the snapshot
		m.events.Created(ctx, snap)
		return snap, nil
	}
	// Record even when ctx was cancelled, so a killed pulse is not silent.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if rerr := m.cat.RecordPulse(rctx, rec); rerr != nil {
		m.log.Warn("recording pulse result", "archive", a.Name, "err", rerr)
	}
	return snap, err
}

// Untrack removes suites from an archive and from all its snapshots, in
// one transaction: pulses skip them until they leave the archive's
// configuration. Each of suites is a suite's name or a pattern of names
// ("bullseye*", as path.Match), matched against the suites the archive
// tracks or its snapshots hold; one that names none is an error, and
// nothing is untracked then. Their files go at the next GC. It returns
// the suites untracked and the number of snapshots changed.
func (m *Mirror) Untrack(ctx context.Context, a *config.Archive, suites ...string) ([]string, int, error) {
	names, _, err := m.Resolve(ctx, a, suites...)
	if err != nil {
		return nil, 0, err
	}
	n, err := m.cat.Untrack(ctx, a.Name, names...)
	if err != nil {
		return nil, 0, fmt.Errorf("untrack %s %s: %w", a.Name, strings.Join(names, " "), err)
	}
	m.events.Changed()
	m.log.Info("untracked", "archive", a.Name, "suites", names, "snapshots", n)
	return names, n, nil
}

// Resolve says what Untrack would do, changing nothing: the suites the
// names and patterns resolve to, and the time-based snapshots holding any.
func (m *Mirror) Resolve(ctx context.Context, a *config.Archive, suites ...string) ([]string, int, error) {
	snaps, err := m.cat.Snapshots(ctx, a.Name)
	if err != nil {
		return nil, 0, err
	}
	known := slices.Clone(a.Suites)
	for _, s := range snaps {
		known = append(known, s.Suites...)
	}
	slices.Sort(known)
	known = slices.Compact(known)
	var names []string
	for _, pat := range suites {
		if _, err := path.Match(pat, ""); err != nil {
			return nil, 0, errdefs.Errorf(errdefs.ErrInvalid, "untrack: %q is not a suite name or pattern: %w", pat, err)
		}
		n := len(names)
		for _, k := range known {
			if matchSuite(pat, k) && !slices.Contains(names, k) {
				names = append(names, k)
			}
		}
		if len(names) == n && !slices.Contains(names, pat) {
			return nil, 0, errdefs.Errorf(catalog.ErrNotFound, "untrack: %s tracks no suite %q (it has %s)", a.Name, pat, strings.Join(known, ", "))
		}
	}
	if len(names) == 0 {
		return nil, 0, errdefs.Errorf(errdefs.ErrInvalid, "untrack: name a suite of %s", a.Name)
	}
	holding := 0
	for _, s := range snaps {
		if slices.ContainsFunc(s.Suites, func(x string) bool { return slices.Contains(names, x) }) {
			holding++
		}
	}
	return names, holding, nil
}

// matchSuite matches a suite name against a pattern (path.Match), a *
// crossing slashes: 'buster*' names buster/updates too.
func matchSuite(pattern, suite string) bool {
	const sep = "\x1f" // no suite name holds it
	ok, _ := path.Match(strings.ReplaceAll(pattern, "/", sep), strings.ReplaceAll(suite, "/", sep))
	return ok
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// suiteWork is what a pulse learns about one suite before committing.
type suiteWork struct {
	name     string
	rel      *release.Release
	upstream blob.Digest
	date     time.Time
	files    []release.File  // index files served, stored
	derived  []release.File  // plain files served decompressed from one of files
	indices  []publish.Index // parsed indices (Packages, Sources)
	comps    []string
	archs    []string
}

func (m *Mirror) pulse(ctx context.Context, a *config.Archive, started time.Time) (catalog.Snapshot, error) {
	if m.locker != nil {
		l, err := m.locker.Writer(ctx, a.Name, false)
		if errors.Is(err, lock.ErrBusy) {
			return catalog.Snapshot{}, fmt.Errorf("%w: another pulse of %s is running", errBusy, a.Name)
		}
		if err != nil {
			return catalog.Snapshot{}, err
		}
		defer l.Release()
	}
	kr, err := pgp.LoadKeyring(a.Keyring)
	if err != nil {
		return catalog.Snapshot{}, err
	}
	untracked, err := m.cat.Untracked(ctx, a.Name)
	if err != nil {
		return catalog.Snapshot{}, err
	}
	var suites []*suiteWork
	for _, s := range untracked {
		if !slices.Contains(a.Suites, s) {
			// Gone from the configuration: should it come back, track it again.
			if err := m.cat.Track(ctx, a.Name, s); err != nil {
				return catalog.Snapshot{}, err
			}
		}
	}
	for _, s := range a.Suites {
		if slices.Contains(untracked, s) {
			m.log.Warn("suite is untracked: skipped until it leaves the configuration", "archive", a.Name, "suite", s)
			continue
		}
		sw, err := m.fetchSuite(ctx, a, kr, s)
		if err != nil {
			return catalog.Snapshot{}, fmt.Errorf("%s: %w", s, err)
		}
		suites = append(suites, sw)
	}
	if len(suites) == 0 {
		return catalog.Snapshot{}, fmt.Errorf("every suite of %s is untracked", a.Name)
	}
	live, err := m.livePool(ctx, a.Name, suites)
	if err != nil {
		return catalog.Snapshot{}, err
	}
	if err := m.fetchPool(ctx, a, suites, live); err != nil {
		return catalog.Snapshot{}, err
	}
	if m.locker != nil {
		// No sweep may run from here to the commit; files it deleted since
		// we found them stored are fetched again.
		l, err := m.locker.Sweep(ctx, false)
		if err != nil {
			return catalog.Snapshot{}, err
		}
		defer l.Release()
		if !live.still(ctx, m.cat) {
			live = nil
		}
		if err := m.recheck(ctx, a, suites, live); err != nil {
			return catalog.Snapshot{}, err
		}
	}
	return m.commit(ctx, a, suites, started)
}

// livePool is what the archive's newest snapshot references in the pool,
// by digest (with its size): stored, since that snapshot is live, for as
// long as it stays in the catalog. A new index lists mostly the same pool
// files as the one before it: those are not looked up in the store (on S3
// a request each).
type livePool struct {
	snap  catalog.Snapshot
	files map[blob.Digest]int64
}

// livePoolMin is the number of pool files to check below which looking
// them up in the store costs less than reading the newest snapshot's (a
// variable for the tests).
var livePoolMin = 1024

// livePool returns the newest snapshot's pool files when the new indices
// list enough of them to be worth it (nil otherwise, or if the archive has
// no snapshot yet).
func (m *Mirror) livePool(ctx context.Context, archive string, suites []*suiteWork) (*livePool, error) {
	n := 0
	for _, sw := range suites {
		for _, iw := range sw.indices {
			n += len(iw.Entries)
		}
	}
	if n < livePoolMin {
		return nil, nil
	}
	start := time.Now()
	snap, err := m.cat.Latest(ctx, archive)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []int64
	seen := map[blob.Digest]bool{}
	for _, name := range snap.Suites {
		su, err := m.cat.Suite(ctx, snap.ID, name)
		if errors.Is(err, catalog.ErrNotFound) {
			return nil, nil // collected meanwhile: look everything up
		}
		if err != nil {
			return nil, err
		}
		for _, d := range su.Indices {
			if seen[d] {
				continue
			}
			seen[d] = true
			members, err := m.cat.IndexMembers(ctx, archive, d)
			if errors.Is(err, catalog.ErrNotFound) {
				return nil, nil
			}
			if err != nil {
				return nil, err
			}
			ids = append(ids, members...)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	pf, err := m.cat.PoolFiles(ctx, ids)
	if err != nil {
		return nil, err
	}
	lp := &livePool{snap: snap, files: make(map[blob.Digest]int64, len(pf))}
	for _, f := range pf {
		lp.files[f.SHA256] = f.Size
	}
	m.log.Debug("live pool files", "archive", archive, "snapshot", snap.Serial, "files", len(lp.files), "took", time.Since(start).Round(time.Millisecond))
	return lp, nil
}

// has reports whether e is one of the live pool files.
func (lp *livePool) has(e catalog.PoolEntry) bool {
	if lp == nil {
		return false
	}
	size, ok := lp.files[e.SHA256]
	return ok && size == e.Size
}

// still reports whether the snapshot lp was read from is still in the
// catalog (serials are never given twice): then no sweep has deleted any
// of its files. The caller holds the sweep lock.
func (lp *livePool) still(ctx context.Context, cat catalog.Catalog) bool {
	if lp == nil {
		return false
	}
	s, err := cat.Snapshot(ctx, lp.snap.Archive, lp.snap.Serial)
	return err == nil && s.ID == lp.snap.ID
}

// recheck makes sure every file the snapshot will reference is still
// stored (a garbage collection may have run since the pulse found it),
// fetching again what is missing; the pool files of live, if any, are.
func (m *Mirror) recheck(ctx context.Context, a *config.Archive, suites []*suiteWork, live *livePool) error {
	for _, sw := range suites {
		if _, err := m.store.Stat(ctx, sw.upstream); err != nil {
			return fmt.Errorf("%s: upstream Release was collected during the pulse: pulse again", sw.name)
		}
		for _, f := range sw.files {
			if info, err := m.store.Stat(ctx, f.SHA256); err == nil && info.Size == f.Size {
				continue
			}
			err := m.fetchListed(ctx, a.URL+"/dists/"+sw.name+"/", sw.rel, f)
			if errors.Is(err, errNotFound) && !strings.Contains(path.Base(f.Path), ".") {
				// An uncompressed index upstream lists but does not ship: make it again.
				variants := slices.DeleteFunc(slices.Clone(sw.files), func(x release.File) bool {
					return x.Path == f.Path || path.Dir(x.Path) != path.Dir(f.Path)
				})
				_, _, err = m.readIndex(ctx, path.Base(f.Path), variants, &f, true)
			}
			if err != nil {
				return fmt.Errorf("%s: %s: %w", sw.name, f.Path, err)
			}
		}
	}
	return m.fetchPool(ctx, a, suites, live)
}

const maxReleaseSize = 64 << 20

// maxFuture is how far ahead of our clock an upstream Release Date may be.
const maxFuture = 10 * time.Minute

// fetchSuite fetches and verifies a suite's Release and index files, and
// parses the indices the catalog does not know yet.
func (m *Mirror) fetchSuite(ctx context.Context, a *config.Archive, kr *pgp.Keyring, suite string) (*suiteWork, error) {
	base := a.URL + "/dists/" + suite + "/"
	var text, upstream []byte
	inrel, err := m.fetchBytes(ctx, base+"InRelease", maxReleaseSize)
	switch {
	case err == nil:
		if text, _, err = kr.VerifyClearsigned(inrel); err != nil {
			return nil, err
		}
		upstream = inrel
	case errors.Is(err, errNotFound):
		rel, err := m.fetchBytes(ctx, base+"Release", maxReleaseSize)
		if err != nil {
			return nil, err
		}
		sig, err := m.fetchBytes(ctx, base+"Release.gpg", 1<<20)
		if err != nil {
			return nil, err
		}
		if _, err := kr.VerifyDetached(rel, sig); err != nil {
			return nil, err
		}
		text, upstream = rel, rel
	default:
		return nil, err
	}
	rel, err := release.Parse(text)
	if err != nil {
		return nil, err
	}
	// As APT, a suite "<codename>/updates" is that codename's.
	expected, _, _ := strings.Cut(suite, "/")
	if rel.Get("Suite") != suite && rel.Get("Codename") != suite && rel.Get("Suite") != expected && rel.Get("Codename") != expected {
		return nil, fmt.Errorf("upstream Release is for suite %q, codename %q, not %q", rel.Get("Suite"), rel.Get("Codename"), suite)
	}
	date, err := rel.Date()
	if err != nil {
		return nil, err
	}
	now := m.now()
	if vu, err := rel.ValidUntil(); err != nil {
		return nil, err
	} else if !vu.IsZero() && !now.Before(vu) {
		return nil, fmt.Errorf("%w: upstream Release expired at %s (Valid-Until)", ErrDate, release.FormatTime(vu))
	}
	if date.After(now.Add(maxFuture)) {
		return nil, fmt.Errorf("%w: upstream Release Date %s is in the future: refusing it (apt would too)", ErrDate, release.FormatTime(date))
	}
	last, err := m.cat.LastUpstreamDate(ctx, a.Name, suite)
	if err != nil {
		return nil, err
	}
	m.log.Debug("upstream Release verified", "archive", a.Name, "suite", suite, "date", date, "last accepted", last)
	if date.Before(last) {
		return nil, fmt.Errorf("%w: upstream Release Date %s is older than the last accepted %s: refusing to go back in time",
			ErrDate, release.FormatTime(date), release.FormatTime(last))
	}
	up, err := m.store.Put(ctx, bytes.NewReader(upstream), blob.Sum(upstream), int64(len(upstream)))
	if err != nil {
		return nil, err
	}
	sw := &suiteWork{name: suite, rel: rel, upstream: up.Digest, date: date}
	sw.comps, sw.archs = narrow(rel.Get("Components"), a.Components), narrow(rel.Get("Architectures"), a.Architectures)

	type dir struct {
		path, base string
		optional   bool // mirrored when upstream lists it
	}
	var dirs []dir
	for _, c := range a.Components {
		for _, arch := range a.Architectures {
			dirs = append(dirs, dir{c + "/binary-" + arch, "Packages", false})
			if a.Installer {
				dirs = append(dirs, dir{c + "/debian-installer/binary-" + arch, "Packages", true})
			}
		}
		if a.Sources {
			dirs = append(dirs, dir{c + "/source", "Sources", false})
		}
	}
	for _, d := range dirs {
		if d.optional && !listsIndex(rel, d.path, d.base) {
			continue
		}
		iw, files, err := m.fetchIndex(ctx, a.Name, base, rel, d.path, d.base)
		if err != nil {
			return nil, err
		}
		sw.files = append(sw.files, files...)
		sw.indices = append(sw.indices, iw)
	}
	prev, err := m.previousFiles(ctx, a.Name, suite)
	if err != nil {
		return nil, err
	}
	meta, derived, err := m.fetchMeta(ctx, a, base, rel, prev)
	if err != nil {
		return nil, err
	}
	sw.files, sw.derived = append(sw.files, meta...), derived
	slices.SortFunc(sw.files, func(x, y release.File) int { return strings.Compare(x.Path, y.Path) })
	return sw, nil
}

// previousFiles returns the files of suite in the archive's newest
// snapshot, by path (none if it has no snapshot, or not of that suite).
func (m *Mirror) previousFiles(ctx context.Context, archive, suite string) (map[string]catalog.IndexFile, error) {
	snap, err := m.cat.Latest(ctx, archive)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !slices.Contains(snap.Suites, suite) {
		return nil, nil
	}
	su, err := m.cat.Suite(ctx, snap.ID, suite)
	if err != nil {
		return nil, err
	}
	out := make(map[string]catalog.IndexFile, len(su.Files))
	for _, f := range su.Files {
		out[f.Path] = f
	}
	return out, nil
}

// narrow keeps the configured names, in upstream's order where upstream
// lists them.
func narrow(upstream string, want []string) []string {
	var out []string
	for _, u := range strings.Fields(upstream) {
		if slices.Contains(want, u) {
			out = append(out, u)
		}
	}
	for _, w := range want {
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

var compressions = []string{"", ".gz", ".xz", ".bz2", ".lzma", ".lz4", ".zst"}

// listsIndex reports whether rel lists a variant of dir/name.
func listsIndex(rel *release.Release, dir, name string) bool {
	for _, ext := range compressions {
		if _, ok := rel.Files[dir+"/"+name+ext]; ok {
			return true
		}
	}
	return false
}

// fetchIndex fetches every listed variant of one index (dir/Packages,
// .gz, .xz ... and dir/Release), verified, and parses it if new.
func (m *Mirror) fetchIndex(ctx context.Context, archive, base string, rel *release.Release, dir, name string) (publish.Index, []release.File, error) {
	var files []release.File
	var plain *release.File
	var missingPlain bool
	for _, ext := range append(slices.Clone(compressions), "Release") {
		p := dir + "/" + name + ext
		if ext == "Release" {
			p = dir + "/Release"
		}
		f, ok := rel.Files[p]
		if !ok {
			continue
		}
		err := m.fetchListed(ctx, base, rel, f)
		if errors.Is(err, errNotFound) && ext == "" {
			// Debian lists uncompressed indices it does not ship; we make
			// ours from a compressed variant and check it against the list.
			missingPlain, plain = true, &f
			continue
		}
		if err != nil {
			return publish.Index{}, nil, fmt.Errorf("%s: %w", p, err)
		}
		files = append(files, f)
		if ext == "" {
			plain = &f
		}
	}
	if len(files) == 0 {
		return publish.Index{}, nil, fmt.Errorf("upstream Release lists no %s/%s index with a SHA256", dir, name)
	}
	if missingPlain {
		// Made from a compressed variant by an earlier pulse already?
		if info, err := m.store.Stat(ctx, plain.SHA256); err == nil && info.Size == plain.Size {
			missingPlain = false
			files = append(files, *plain)
		}
	}
	// The index's identity is its uncompressed content.
	var iw publish.Index
	if plain != nil {
		iw.Key = plain.SHA256
		known, err := m.cat.KnownIndices(ctx, archive, []blob.Digest{iw.Key})
		if err != nil {
			return iw, nil, err
		}
		if known[iw.Key] && !missingPlain {
			m.log.Debug("index known: not parsed again", "archive", archive, "index", dir+"/"+name)
			iw.Known = true
			return iw, files, nil
		}
	}
	key, entries, err := m.readIndex(ctx, name, files, plain, missingPlain)
	if err != nil {
		return iw, nil, fmt.Errorf("%s/%s: %w", dir, name, err)
	}
	if missingPlain {
		files = append(files, *plain)
	}
	iw.Key = key
	known, err := m.cat.KnownIndices(ctx, archive, []blob.Digest{iw.Key})
	if err != nil {
		return iw, nil, err
	}
	if known[iw.Key] {
		iw.Known = true
		return iw, files, nil
	}
	iw.Entries = entries
	return iw, files, nil
}

// fetchListed downloads one file listed in the Release (by hash when
// upstream offers it), unless it is already stored.
func (m *Mirror) fetchListed(ctx context.Context, base string, rel *release.Release, f release.File) error {
	if info, err := m.store.Stat(ctx, f.SHA256); err == nil && info.Size == f.Size {
		return nil
	}
	if rel.ByHash() {
		err := m.fetchBlob(ctx, base+path.Dir(f.Path)+"/by-hash/SHA256/"+f.SHA256.String(), f.SHA256, f.Size)
		if !errors.Is(err, errNotFound) {
			return err
		}
	}
	return m.fetchBlob(ctx, base+f.Path, f.SHA256, f.Size)
}

// readIndex streams the uncompressed content of an index (base name
// name: Packages or Sources) from the first of its variants stored: plain,
// .gz, .xz. It reads no more than the plain size the Release lists, or
// maxIndex when it lists none (a small compressed file may decompress to
// gigabytes), checks it against the plain file's checksum when listed,
// stores it as that plain file when storePlain is set (upstream lists it
// but does not serve it), and parses the pool files it lists, holding one
// stanza at a time. It returns the SHA256 of the content and the pool
// files.
func (m *Mirror) readIndex(ctx context.Context, name string, files []release.File, plain *release.File, storePlain bool) (blob.Digest, []catalog.PoolEntry, error) {
	limit := m.maxIndex
	if plain != nil {
		if plain.Size > limit {
			return blob.Digest{}, nil, fmt.Errorf("%w: %s is listed at %d bytes, over the bound of %d (max_index_mib)", index.ErrTooLarge, plain.Path, plain.Size, limit)
		}
		limit = plain.Size
	}
	var f *release.File
	for _, want := range []string{"", ".gz", ".xz"} {
		for i := range files {
			if f == nil && path.Base(files[i].Path) == name+want {
				f = &files[i]
			}
		}
	}
	if f == nil {
		return blob.Digest{}, nil, errors.New("no uncompressed, .gz or .xz variant to read")
	}
	rc, _, err := m.store.Open(ctx, f.SHA256)
	if err != nil {
		return blob.Digest{}, nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	defer rc.Close()
	dr, err := index.Decompress(f.Path, rc)
	if err != nil {
		return blob.Digest{}, nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	lr := &io.LimitedReader{R: dr, N: limit + 1}
	// The plain file itself was checked as it was stored (the store names
	// files by their SHA256): only what is decompressed is hashed.
	var h hash.Hash
	var r io.Reader = lr
	if plain == nil || f.Path != plain.Path {
		h = sha256.New()
		r = io.TeeReader(lr, h)
	}
	// The plain file goes to the store as it is read; Put checks it.
	var put chan error
	var pw *io.PipeWriter
	if storePlain {
		var pr *io.PipeReader
		pr, pw = io.Pipe()
		put = make(chan error, 1)
		go func() {
			_, err := m.store.Put(ctx, pr, plain.SHA256, plain.Size)
			if err == nil {
				// Put may return at once when the file is stored already
				// (another archive, same index): keep reading, for the hash.
				_, err = io.Copy(io.Discard, pr)
			}
			pr.CloseWithError(err) // unblocks the writer if Put stopped early
			put <- err
		}()
		r = io.TeeReader(r, pw)
	}
	kind := "Packages"
	if name == "Sources" {
		kind = "Sources"
	}
	entries, perr := index.PoolFilesFrom(kind, r)
	// The rest, if anything (after the last stanza, or after what did not
	// parse: content that is not what the Release lists says so first).
	_, err = io.Copy(io.Discard, r)
	n := limit + 1 - lr.N
	var key blob.Digest
	if h != nil {
		h.Sum(key[:0])
	} else {
		key = plain.SHA256
	}
	switch {
	case n > limit:
		err = fmt.Errorf("%s: %w: decompresses to more than %d bytes", f.Path, index.ErrTooLarge, limit)
	case err != nil:
		err = fmt.Errorf("%s: %w", f.Path, err)
	case plain != nil && (key != plain.SHA256 || n != plain.Size):
		err = fmt.Errorf("%s: uncompressed content does not match the Release's checksum of %s", f.Path, plain.Path)
	case perr != nil:
		err = fmt.Errorf("%s: %w", f.Path, perr)
	}
	if pw != nil {
		pw.CloseWithError(err)
		if perr := <-put; err == nil && perr != nil {
			err = fmt.Errorf("%s: made from a compressed variant: %w", plain.Path, perr)
		}
	}
	return key, entries, err
}

// statParallel is how many stored files are looked up at once: a remote
// store (S3) answers each in a round trip, and a changed index lists tens
// of thousands of files, nearly all stored already.
const statParallel = 32

// missing returns the entries the store does not hold (or holds at another
// size), in their order, looking them up statParallel at a time.
func (m *Mirror) missing(ctx context.Context, entries []catalog.PoolEntry) ([]catalog.PoolEntry, error) {
	have := make([]bool, len(entries))
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range min(statParallel, len(entries)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(entries) || ctx.Err() != nil {
					return
				}
				info, err := m.store.Stat(ctx, entries[i].SHA256)
				have[i] = err == nil && info.Size == entries[i].Size
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []catalog.PoolEntry
	for i, e := range entries {
		if !have[i] {
			out = append(out, e)
		}
	}
	return out, nil
}

// fetchPool downloads, verified, every pool file the new indices list that
// the store does not hold yet; those of live are held.
func (m *Mirror) fetchPool(ctx context.Context, a *config.Archive, suites []*suiteWork, live *livePool) error {
	seen := map[blob.Digest]bool{}
	var listed []catalog.PoolEntry
	for _, sw := range suites {
		for _, iw := range sw.indices {
			for _, e := range iw.Entries {
				if !seen[e.SHA256] {
					seen[e.SHA256] = true
					if !live.has(e) {
						listed = append(listed, e)
					}
				}
			}
		}
	}
	todo, err := m.missing(ctx, listed)
	if err != nil {
		return err
	}
	var total int64
	for _, e := range todo {
		total += e.Size
	}
	m.log.Debug("pool files", "archive", a.Name, "listed", len(seen), "live", len(seen)-len(listed), "stored already", len(seen)-len(todo), "to fetch", len(todo))
	if len(todo) == 0 {
		return nil
	}
	m.log.Info("pool downloads", "archive", a.Name, "files", len(todo), "bytes", total)
	task := m.progress.Start(a.Name, len(todo), total)
	defer task.Finish()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan catalog.PoolEntry)
	var wg sync.WaitGroup
	for range min(m.parallel, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range work {
				if err := m.fetchBlob(ctx, a.URL+"/"+e.Path, e.SHA256, e.Size); err != nil {
					cancel(fmt.Errorf("%s: %w", e.Path, err))
					return
				}
				task.Add(1, e.Size)
			}
		}()
	}
Feed:
	for _, e := range todo {
		select {
		case work <- e:
		case <-ctx.Done():
			break Feed
		}
	}
	close(work)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

// commit publishes the snapshot, with the pulse that started at started.
func (m *Mirror) commit(ctx context.Context, a *config.Archive, suites []*suiteWork, started time.Time) (catalog.Snapshot, error) {
	ps := publish.Snapshot{Archive: a.Name, ValidDays: a.ValidDays, URL: m.public,
		Pulse: &catalog.Pulse{Archive: a.Name, Started: started}}
	for _, sw := range suites {
		ps.Suites = append(ps.Suites, publish.Suite{Name: sw.name, Fields: sw.rel, Components: sw.comps,
			Architectures: sw.archs, UpstreamDate: sw.date, Upstream: sw.upstream, Files: append(slices.Clone(sw.files), sw.derived...), Indices: sw.indices})
	}
	snaps, err := m.pub.Publish(ctx, ps)
	if err != nil {
		return catalog.Snapshot{}, err
	}
	return snaps[0], nil
}
