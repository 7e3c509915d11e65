// Package custom runs the archives we own ([[custom]] in the
// configuration): filled by importing packages (as reprepro's includedeb,
// includedsc and include), by removing them and by copying them from any
// snapshot (freeze exceptions), and served and snapshotted like mirrored
// ones. An archive's contents live in its newest snapshot: a change loads
// that snapshot's Packages and Sources, edits them, and publishes the next
// snapshot with freshly written indices, as a writer of the archive (see
// package lock), so GC never sweeps a file a change is about to reference.
// A refused change (a checksum, a signature, a same-version upload with
// other content) makes no snapshot.
package custom

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/debver"
	"github.com/aptsnap/aptsnap/errdefs"
	"github.com/aptsnap/aptsnap/events"
	"github.com/aptsnap/aptsnap/index"
	"github.com/aptsnap/aptsnap/lock"
	"github.com/aptsnap/aptsnap/publish"
	"github.com/aptsnap/aptsnap/release"
	"github.com/aptsnap/aptsnap/repo"
)

// Options configure the custom archives.
type Options struct {
	// Archives are the custom archives configured.
	Archives  []config.Custom
	Catalog   catalog.Catalog
	Store     blob.Store
	Publisher *publish.Publisher
	Locker    lock.Locker
	// MaxIndexSize bounds reading an index (index.DefaultMaxSize when zero).
	MaxIndexSize int64
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// Log receives a line per change (slog.Default() if nil).
	Log    *slog.Logger
	Events *events.Bus
}

// Archives are an installation's custom archives.
type Archives struct{ o Options }

// New returns the custom archives o describes.
func New(o Options) *Archives {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Archives{o: o}
}

// Result is the outcome of a change: the snapshot it made and the
// packages that went in and out.
type Result struct {
	Archive string
	Suite   string
	// Serial is the snapshot made; empty when nothing changed.
	Serial  string
	Added   []repo.Entry
	Removed []repo.Entry
	// Unchanged are packages already there with the same content.
	Unchanged []repo.Entry
	// From is the suite a copy took its package from.
	From *Source
	// Pending says the change is in the archive's working state, not
	// published yet: it will be by PublishBy (see Publish).
	Pending   bool
	PublishBy time.Time
}

// Source is the suite a copy takes its package from, with the fields of
// its Release that APT pins by (apt_preferences(5): o=, l=, a=, n=, v=).
type Source struct {
	Archive, Serial, Suite                         string
	Origin, Label, ReleaseSuite, Codename, Version string
}

// sourceOf describes a suite of a snapshot from its Release.
func sourceOf(archive, serial string, su catalog.Suite) (*Source, error) {
	rel, err := release.Parse(su.Release)
	if err != nil {
		return nil, fmt.Errorf("%s/%s %s: %w", archive, serial, su.Name, err)
	}
	return &Source{Archive: archive, Serial: serial, Suite: su.Name, Origin: rel.Get("Origin"), Label: rel.Get("Label"),
		ReleaseSuite: rel.Get("Suite"), Codename: rel.Get("Codename"), Version: rel.Get("Version")}, nil
}

// AddRequest imports package files into a suite.
type AddRequest struct {
	Archive   string
	Suite     string
	Component string // the archive's first when empty
	// Files are paths of .deb, .udeb, .dsc and .changes files and of the
	// files a .dsc or .changes lists (see UploadFiles).
	Files []string
	// Publish publishes the change at once, whatever the day's serial
	// budget (see Publish), while the day has a serial left.
	Publish bool
	// Update names the stable update request making the change: only one
	// may import into a series' pockets (S-proposed, S-updates).
	Update string
}

// CopyRequest copies a package (binaries and source) into a suite.
type CopyRequest struct {
	Archive string
	Suite   string
	// FromArchive and FromSerial name the source snapshot (the newest
	// when FromSerial is empty); FromSuite the suite in it (every suite
	// when empty: the newest version wins). The same archive without a
	// serial copies between its suites.
	FromArchive string
	FromSerial  string
	FromSuite   string
	Package     string
	Version     string // the newest when empty
	// DryRun finds what the copy would bring and where from (Result's
	// Added and From) and changes nothing.
	DryRun bool
	// Publish publishes the change at once (a freeze exception a build
	// needs now), as AddRequest.Publish.
	Publish bool
}

// List lists a suite's packages in the archive's newest snapshot, by
// name, architecture and version.
func (x *Archives) List(ctx context.Context, archive, suite string) ([]repo.Entry, error) {
	cu, err := x.custom(archive)
	if err != nil {
		return nil, err
	}
	suites, _, err := x.suites(ctx, cu)
	if err != nil {
		return nil, err
	}
	s, ok := suites[suite]
	if !ok {
		return nil, errdefs.Errorf(catalog.ErrNotFound, "repo list: %s has no suite %q", archive, suite)
	}
	out := slices.Clone(s.Entries)
	slices.SortFunc(out, func(p, q repo.Entry) int {
		return strings.Compare(p.Package+"\x00"+p.Arch+"\x00"+p.Version, q.Package+"\x00"+q.Arch+"\x00"+q.Version)
	})
	return out, nil
}

// Remove removes packages ("name" or "name=version", binaries and sources
// of that name) from a suite, as the archive's next snapshot.
func (x *Archives) Remove(ctx context.Context, archive, suite string, packages []string) (Result, error) {
	res := Result{Archive: archive, Suite: suite}
	if len(packages) == 0 {
		return res, errdefs.Errorf(errdefs.ErrInvalid, "repo remove: name the packages to remove (NAME or NAME=VERSION)")
	}
	cu, err := x.custom(archive)
	if err != nil {
		return res, err
	}
	if err := guard(cu, "repo remove", suite, ""); err != nil {
		return res, err
	}
	snap, err := x.edit(ctx, archive, &res, func(suites map[string]*repo.Suite) error {
		s, err := suiteOf(suites, archive, suite)
		if err != nil {
			return err
		}
		for _, p := range packages {
			name, ver, _ := strings.Cut(p, "=")
			gone := s.Remove(name, ver)
			if len(gone) == 0 {
				return errdefs.Errorf(catalog.ErrNotFound, "repo remove: %s is not in %s/%s", p, archive, suite)
			}
			res.Removed = append(res.Removed, gone...)
		}
		return nil
	}, nil, false)
	x.created(ctx, snap)
	return res, err
}

// Copy copies a package (binaries and source) into a suite, as the
// archive's next snapshot: from another suite of the archive, or from a
// snapshot of any archive. Binaries of architectures the archive does not
// serve stay behind.
func (x *Archives) Copy(ctx context.Context, req CopyRequest) (Result, error) {
	res := Result{Archive: req.Archive, Suite: req.Suite}
	if req.Package == "" || req.FromArchive == "" {
		return res, errdefs.Errorf(errdefs.ErrInvalid, "repo copy: a package and a source archive are needed")
	}
	cu, err := x.custom(req.Archive)
	if err != nil {
		return res, err
	}
	if !req.DryRun {
		if err := guard(cu, "repo copy", req.Suite, ""); err != nil {
			return res, err
		}
	}
	var copiedFrom string
	doCopy := func(suites map[string]*repo.Suite) error {
		dst, err := suiteOf(suites, req.Archive, req.Suite)
		if err != nil {
			return err
		}
		var from []repo.Entry
		var fromWhere string
		if req.FromArchive == req.Archive && req.FromSerial == "" {
			src, err := suiteOf(suites, req.Archive, req.FromSuite)
			if err != nil {
				return err
			}
			from, fromWhere = src.Find(req.Package, req.Version), req.Archive+"/"+req.FromSuite
			res.From = &Source{Archive: req.Archive, Suite: req.FromSuite, Origin: cu.Origin, Label: cu.Label,
				ReleaseSuite: req.FromSuite, Codename: req.FromSuite}
		} else if from, fromWhere, res.From, err = x.findInSnapshot(ctx, req); err != nil {
			// Under edit's shared sweep lock: the files found stored
			// stay until the commit references them.
			return err
		}
		// Binaries of architectures the archive does not serve stay behind.
		served := slices.DeleteFunc(slices.Clone(from), func(e repo.Entry) bool {
			return e.Kind != repo.Source && e.Arch != "all" && !slices.Contains(dst.Architectures, e.Arch)
		})
		if len(from) == 0 || (len(served) < len(from) && !slices.ContainsFunc(served, func(e repo.Entry) bool { return e.Kind != repo.Source })) {
			what := ""
			if len(from) > 0 {
				what = " for " + strings.Join(dst.Architectures, ", ")
			}
			return errdefs.Errorf(catalog.ErrNotFound, "repo copy: %s%s is not in %s", pkgSpec(req.Package, req.Version), what, fromWhere)
		}
		for _, e := range served {
			if !slices.Contains(dst.Components, e.Component) {
				e.Component = dst.Components[0]
			}
			if req.DryRun {
				res.Added = append(res.Added, e)
				continue
			}
			if err := addEntry(dst, e, cu.MultipleVersions, &res); err != nil {
				return err
			}
		}
		copiedFrom = fromWhere
		return nil
	}
	if req.DryRun {
		suites, _, err := x.suites(ctx, cu)
		if err == nil {
			err = doCopy(suites)
		}
		return res, err
	}
	snap, err := x.edit(ctx, req.Archive, &res, doCopy, nil, req.Publish)
	x.created(ctx, snap)
	if err == nil {
		x.o.Log.Info("copied", "package", pkgSpec(req.Package, req.Version), "from", copiedFrom, "to", req.Archive+"/"+req.Suite, "serial", res.Serial)
	}
	return res, err
}

// findInSnapshot finds what copying req.Package brings from a snapshot of
// any archive, checking that the files it lists are stored.
func (x *Archives) findInSnapshot(ctx context.Context, req CopyRequest) ([]repo.Entry, string, *Source, error) {
	var snap catalog.Snapshot
	var err error
	if req.FromSerial == "" {
		snap, err = x.o.Catalog.Latest(ctx, req.FromArchive)
	} else {
		snap, err = x.o.Catalog.Snapshot(ctx, req.FromArchive, req.FromSerial)
	}
	if err != nil {
		return nil, "", nil, fmt.Errorf("repo copy: %w", err)
	}
	where := req.FromArchive + "/" + snap.Serial
	// Without a suite, the newest version across the snapshot's suites
	// (bookworm-updates over bookworm).
	var best []repo.Entry
	var bestWhere string
	var bestSource *Source
	for _, name := range snap.Suites {
		if req.FromSuite != "" && name != req.FromSuite {
			continue
		}
		su, err := x.o.Catalog.Suite(ctx, snap.ID, name)
		if err != nil {
			return nil, "", nil, err
		}
		s, err := x.loadSuite(ctx, name, nil, nil, su)
		if err != nil {
			return nil, "", nil, err
		}
		if found := s.Find(req.Package, req.Version); len(found) > 0 {
			for _, e := range found {
				entries, err := index.PoolFiles(indexKind(e.Kind), e.Raw)
				if err != nil {
					return nil, "", nil, err
				}
				for _, pe := range entries {
					if _, err := x.o.Store.Stat(ctx, pe.SHA256); err != nil {
						return nil, "", nil, fmt.Errorf("repo copy: %s: %w", pe.Path, err)
					}
				}
			}
			if best == nil || debver.Compare(entriesVersion(found), entriesVersion(best)) > 0 {
				src, err := sourceOf(req.FromArchive, snap.Serial, su)
				if err != nil {
					return nil, "", nil, err
				}
				best, bestWhere, bestSource = found, where+"/"+name, src
			}
		}
	}
	if best != nil {
		return best, bestWhere, bestSource, nil
	}
	return nil, where, nil, errdefs.Errorf(catalog.ErrNotFound, "repo copy: %s is not in %s", pkgSpec(req.Package, req.Version), where)
}

// entriesVersion is the version a Find result copies: its binaries', else
// its source's.
func entriesVersion(es []repo.Entry) string {
	for _, e := range es {
		if e.Kind != repo.Source {
			return e.Version
		}
	}
	return es[0].Version
}

// Resnapshot makes a fresh snapshot of a custom archive's newest contents
// (a new serial, Date and Valid-Until): the pulse of an archive we own.
func (x *Archives) Resnapshot(ctx context.Context, archive string) (catalog.Snapshot, error) {
	return x.resnapshot(ctx, archive, nil)
}

func (x *Archives) resnapshot(ctx context.Context, archive string, pulse *catalog.Pulse) (catalog.Snapshot, error) {
	res := Result{Archive: archive}
	snap, err := x.edit(ctx, archive, &res, nil, pulse, true)
	if err != nil {
		return catalog.Snapshot{}, err
	}
	if res.Pending {
		return catalog.Snapshot{}, fmt.Errorf("%w: %s has used its %d serials of the day: its contents are published at %s",
			errdefs.ErrExists, archive, catalog.MaxSerialsPerDay, res.PublishBy.Format(time.RFC3339))
	}
	x.o.Events.Created(ctx, snap)
	return snap, nil
}

// Publish publishes a custom archive's working state as its next
// snapshot, when it holds changes not published yet (Result.Serial is
// empty otherwise).
//
// A day has catalog.MaxSerialsPerDay (99) serials per archive. A change
// is published at once while the archive has used fewer serials today
// than its allowance: publishBurst at midnight, growing evenly to 99 by
// the end of the day. Past it, changes wait in the working state (served
// to nobody, kept by GC, seen by repo list and by the next change) and
// are published together once the allowance grows, at most
// 86400/(99-publishBurst) seconds later: PublishDue, which serve runs
// every minute, does it. A change asking to be published at once
// (AddRequest.Publish, CopyRequest.Publish: a freeze exception) and this
// explicit Publish publish whatever the allowance, while a serial is left.
func (x *Archives) Publish(ctx context.Context, archive string) (Result, error) {
	res := Result{Archive: archive}
	cu, err := x.custom(archive)
	if err != nil {
		return res, err
	}
	if pending, err := x.pending(ctx, cu); err != nil || !pending {
		return res, err
	}
	snap, err := x.edit(ctx, archive, &res, nil, nil, true)
	x.created(ctx, snap)
	return res, err
}

// PublishDue publishes the working state of every custom archive whose
// changes wait and whose allowance of serials now lets them out (see
// Publish).
func (x *Archives) PublishDue(ctx context.Context) error {
	var errs []error
	for _, cu := range x.o.Archives {
		used, err := x.usedToday(ctx, cu.Name, x.o.Now())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if used >= allowance(x.o.Now()) {
			continue
		}
		if _, err := x.Publish(ctx, cu.Name); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", cu.Name, err))
		}
	}
	return errors.Join(errs...)
}

// publishBurst is the serials a custom archive may use at once at the
// start of a day (see Publish).
const publishBurst = 24

// allowance is the number of serials a custom archive may have used by t
// and still publish a change at once.
func allowance(t time.Time) int {
	t = t.UTC()
	sec := t.Sub(t.Truncate(24 * time.Hour)).Seconds()
	return publishBurst + int(float64(catalog.MaxSerialsPerDay-publishBurst)*sec/86400)
}

// nextPublish is when an archive having used used serials of t's day may
// publish again: when its allowance passes used, or the next day.
func nextPublish(t time.Time, used int) time.Time {
	t = t.UTC()
	day := t.Truncate(24 * time.Hour)
	if used >= catalog.MaxSerialsPerDay {
		return day.Add(24 * time.Hour)
	}
	if used < publishBurst {
		return t
	}
	sec := math.Ceil(float64(used+1-publishBurst) * 86400 / float64(catalog.MaxSerialsPerDay-publishBurst))
	return day.Add(time.Duration(sec) * time.Second)
}

// usedToday is how many serials the archive has used on t's day.
func (x *Archives) usedToday(ctx context.Context, archive string, t time.Time) (int, error) {
	latest, err := x.o.Catalog.Latest(ctx, archive)
	if errors.Is(err, catalog.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	day := t.UTC().Format("20060102")
	if !strings.HasPrefix(latest.Serial, day) {
		if latest.Serial > day { // the clock went back: as good as used up
			return catalog.MaxSerialsPerDay, nil
		}
		return 0, nil
	}
	n, err := strconv.Atoi(latest.Serial[8:])
	if err != nil {
		return 0, fmt.Errorf("%s: serial %s: %w", archive, latest.Serial, err)
	}
	return n, nil
}

// pending reports whether the archive's working state holds changes its
// newest snapshot lacks.
func (x *Archives) pending(ctx context.Context, cu *config.Custom) (bool, error) {
	work, err := x.o.Catalog.Snapshot(ctx, cu.Name, catalog.TagSerial(catalog.WorkingTag))
	if errors.Is(err, catalog.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	latest, err := x.o.Catalog.Latest(ctx, cu.Name)
	if errors.Is(err, catalog.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if !slices.Equal(work.Suites, latest.Suites) {
		return true, nil
	}
	for _, name := range work.Suites {
		w, err := x.o.Catalog.Suite(ctx, work.ID, name)
		if err != nil {
			return false, err
		}
		l, err := x.o.Catalog.Suite(ctx, latest.ID, name)
		if err != nil {
			return false, err
		}
		if !slices.Equal(w.Indices, l.Indices) {
			return true, nil
		}
	}
	return false, nil
}

// Pulse is Resnapshot, recorded as a pulse (in the catalog's pulse log and
// as an event).
func (x *Archives) Pulse(ctx context.Context, archive string) (catalog.Snapshot, error) {
	started := x.o.Now()
	snap, err := x.resnapshot(ctx, archive, &catalog.Pulse{Archive: archive, Started: started})
	p := catalog.Pulse{Archive: archive, Started: started, Finished: x.o.Now(), OK: err == nil, Serial: snap.Serial}
	reason := ""
	if err != nil { // a success is recorded with its snapshot
		p.Error, reason = err.Error(), "other"
		x.o.Log.Error("resnapshot failed", "archive", archive, "err", err)
		if rerr := x.o.Catalog.RecordPulse(context.WithoutCancel(ctx), p); rerr != nil {
			x.o.Log.Warn("recording pulse result", "archive", archive, "err", rerr)
		}
	}
	x.o.Events.Pulsed(events.Pulse{Archive: archive, Reason: reason, Took: p.Finished.Sub(started), Ended: p.Finished})
	return snap, err
}

func (x *Archives) custom(name string) (*config.Custom, error) {
	for i := range x.o.Archives {
		if x.o.Archives[i].Name == name {
			return &x.o.Archives[i], nil
		}
	}
	return nil, errdefs.Errorf(catalog.ErrNotFound, "%s is not a custom archive", name)
}

// created tells of the snapshot an edit made, if it made one.
func (x *Archives) created(ctx context.Context, snap catalog.Snapshot) {
	if snap.Serial != "" {
		x.o.Events.Created(ctx, snap)
	}
}

func suiteOf(suites map[string]*repo.Suite, archive, suite string) (*repo.Suite, error) {
	s, ok := suites[suite]
	if !ok {
		return nil, errdefs.Errorf(catalog.ErrNotFound, "%s has no suite %q", archive, suite)
	}
	return s, nil
}

func addEntry(s *repo.Suite, e repo.Entry, multi bool, res *Result) error {
	replaced, added, err := s.Add(e, multi)
	if errors.Is(err, repo.ErrConflict) {
		return errdefs.Errorf(errdefs.ErrExists, "%w", err)
	}
	if err != nil {
		return errdefs.Errorf(errdefs.ErrInvalid, "%w", err)
	}
	res.Removed = append(res.Removed, replaced...)
	if added {
		res.Added = append(res.Added, e)
	} else {
		res.Unchanged = append(res.Unchanged, e)
	}
	return nil
}

func pkgSpec(name, version string) string {
	if version == "" {
		return name
	}
	return name + "=" + version
}

func indexKind(kind string) string {
	if kind == repo.Source {
		return "Sources"
	}
	return "Packages"
}

// edit changes a custom archive: as a writer of the archive, it loads the
// suites from the newest snapshot, lets edit change them (nil: no change,
// a fresh snapshot of the same contents), and publishes them as the next
// snapshot. When edit changes nothing (no package added or removed), no
// snapshot is made and res.Serial stays empty.
// A pulse, when given, is recorded with the snapshot.
func (x *Archives) edit(ctx context.Context, archive string, res *Result, edit func(map[string]*repo.Suite) error, pulse *catalog.Pulse, force bool) (catalog.Snapshot, error) {
	cu, err := x.custom(archive)
	if err != nil {
		return catalog.Snapshot{}, err
	}
	// As a writer of the archive: GC keeps files newer than a running
	// writer's start, and the ones written below are not referenced
	// until the commit.
	wl, err := x.o.Locker.Writer(ctx, archive, true)
	if err != nil {
		return catalog.Snapshot{}, fmt.Errorf("%s: %w", archive, err)
	}
	defer wl.Release()
	sl, err := x.o.Locker.Sweep(ctx, false)
	if err != nil {
		return catalog.Snapshot{}, err
	}
	defer sl.Release()
	suites, exists, err := x.suites(ctx, cu)
	if err != nil {
		return catalog.Snapshot{}, err
	}
	if edit != nil {
		clashed, err := poolClashes(suites)
		if err != nil {
			return catalog.Snapshot{}, fmt.Errorf("%s: %w", archive, err)
		}
		if err := edit(suites); err != nil {
			return catalog.Snapshot{}, err
		}
		if exists && len(res.Added) == 0 && len(res.Removed) == 0 {
			return catalog.Snapshot{}, nil
		}
		clashes, err := poolClashes(suites)
		if err != nil {
			return catalog.Snapshot{}, fmt.Errorf("%s: %w", archive, err)
		}
		var added []string
		for p, what := range clashes {
			if _, old := clashed[p]; !old {
				added = append(added, what)
			}
		}
		if len(added) > 0 {
			slices.Sort(added)
			return catalog.Snapshot{}, errdefs.Errorf(errdefs.ErrExists, "%s: %s", archive, strings.Join(added, "; "))
		}
	}
	// Published at once, or kept in the working state (see Publish).
	now := x.o.Now()
	used, err := x.usedToday(ctx, archive, now)
	if err != nil {
		return catalog.Snapshot{}, err
	}
	publishNow := (force || pulse != nil || used < allowance(now)) && used < catalog.MaxSerialsPerDay
	snap, err := x.commit(ctx, cu, suites, pulse, publishNow)
	if err != nil {
		return catalog.Snapshot{}, fmt.Errorf("%s: %w", archive, err)
	}
	if !publishNow {
		res.Pending, res.PublishBy = true, nextPublish(now, used)
		x.o.Log.Info("custom archive change pending", "archive", archive, "publish_by", res.PublishBy,
			"added", len(res.Added), "removed", len(res.Removed))
		return catalog.Snapshot{}, nil
	}
	res.Serial = snap.Serial
	x.o.Log.Info("custom archive snapshot", "archive", archive, "serial", snap.Serial,
		"added", len(res.Added), "removed", len(res.Removed))
	return snap, nil
}

// poolClashes returns the pool paths that the entries of the suites (which
// share one pool) list with two different contents, each with what lists
// them. Such a path would be two files in one snapshot, and clients of one
// suite would be served the other's.
func poolClashes(suites map[string]*repo.Suite) (map[string]string, error) {
	type lister struct {
		sha blob.Digest
		who string
	}
	names := make([]string, 0, len(suites))
	for name := range suites {
		names = append(names, name)
	}
	slices.Sort(names)
	seen := map[string]lister{}
	clashes := map[string]string{}
	for _, name := range names {
		for _, e := range suites[name].Entries {
			files, err := index.PoolFiles(indexKind(e.Kind), e.Raw)
			if err != nil {
				return nil, fmt.Errorf("%s %s in %s: %w", e.Kind, e, name, err)
			}
			for _, f := range files {
				who := fmt.Sprintf("%s %s in %s", e.Kind, e, name)
				o, ok := seen[f.Path]
				if !ok {
					seen[f.Path] = lister{f.SHA256, who}
				} else if o.sha != f.SHA256 && clashes[f.Path] == "" {
					clashes[f.Path] = fmt.Sprintf("%s of %s and of %s differ (same name and version, different content)", f.Path, o.who, who)
				}
			}
		}
	}
	return clashes, nil
}

// suites loads every configured suite of a custom archive from its
// newest snapshot (empty suites when there is none, or for a suite added
// to the configuration since).
func (x *Archives) suites(ctx context.Context, cu *config.Custom) (map[string]*repo.Suite, bool, error) {
	suites := map[string]*repo.Suite{}
	for _, name := range cu.Suites {
		suites[name] = &repo.Suite{Name: name, Components: cu.Components, Architectures: cu.Architectures}
	}
	snap, err := x.o.Catalog.Snapshot(ctx, cu.Name, catalog.TagSerial(catalog.WorkingTag))
	if errors.Is(err, catalog.ErrNotFound) { // none yet: the newest snapshot
		snap, err = x.o.Catalog.Latest(ctx, cu.Name)
	}
	if errors.Is(err, catalog.ErrNotFound) {
		return suites, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	for _, name := range snap.Suites {
		if suites[name] == nil {
			continue // no longer configured
		}
		su, err := x.o.Catalog.Suite(ctx, snap.ID, name)
		if err != nil {
			return nil, false, err
		}
		s, err := x.loadSuite(ctx, name, cu.Components, cu.Architectures, su)
		if err != nil {
			return nil, false, fmt.Errorf("%s/%s %s: %w", cu.Name, snap.Serial, name, err)
		}
		suites[name] = s
	}
	return suites, true, nil
}

// loadSuite reads a served suite's Packages and Sources indices.
func (x *Archives) loadSuite(ctx context.Context, name string, comps, archs []string, su catalog.Suite) (*repo.Suite, error) {
	byPath := map[string]catalog.IndexFile{}
	bases := map[string]bool{}
	for _, f := range su.Files {
		byPath[f.Path] = f
		base := strings.TrimSuffix(strings.TrimSuffix(f.Path, ".gz"), ".xz")
		if !strings.Contains(f.Path, "/by-hash/") && repo.IndexKind(base) != "" {
			bases[base] = true
		}
	}
	files := map[string][]byte{}
	for base := range bases {
		data, err := index.ReadSuite(ctx, x.o.Store, byPath, base, x.o.MaxIndexSize)
		if err != nil {
			return nil, err
		}
		files[base] = data
	}
	return repo.Load(name, comps, archs, files)
}

// commit writes every suite's indices (plain, .gz, .xz) to the store and
// records them with a Release per suite as the archive's working state
// and, when publishNow is set, as its next snapshot, in one transaction.
func (x *Archives) commit(ctx context.Context, cu *config.Custom, suites map[string]*repo.Suite, pulse *catalog.Pulse, publishNow bool) (catalog.Snapshot, error) {
	pub := x.o.Publisher
	created := x.o.Now().UTC()
	ps := publish.Snapshot{Archive: cu.Name, Created: created, ValidDays: cu.ValidDays, URL: cu.PublicURL, Pulse: pulse}
	work := publish.Snapshot{Archive: cu.Name, Created: created, URL: cu.PublicURL, Tag: catalog.WorkingTag, Replace: true}
	write := pub.WritePlainIndex // the working state needs no compressed variants
	if publishNow {
		write = pub.WriteIndex
	}
	for _, name := range cu.Suites {
		su := publish.Suite{Name: name, UpstreamDate: created}
		idx := suites[name].Indices()
		for _, p := range slices.Sorted(maps.Keys(idx)) {
			files, ix, err := write(ctx, p, idx[p])
			if err != nil {
				return catalog.Snapshot{}, fmt.Errorf("%s %w", name, err)
			}
			su.Files = append(su.Files, files...)
			su.Indices = append(su.Indices, ix)
		}
		head := fmt.Sprintf("Origin: %s\nLabel: %s\nSuite: %s\nCodename: %s\nDate: %s\nAcquire-By-Hash: yes\nArchitectures: %s\nComponents: %s\nDescription: %s %s (aptsnap custom archive)\n",
			cu.Origin, cu.Label, name, name, release.FormatTime(created), strings.Join(cu.Architectures, " "),
			strings.Join(cu.Components, " "), cu.Name, name)
		up, err := release.Parse([]byte(head))
		if err != nil {
			return catalog.Snapshot{}, err
		}
		info, err := x.o.Store.Put(ctx, strings.NewReader(head), blob.Digest{}, -1)
		if err != nil {
			return catalog.Snapshot{}, err
		}
		su.Fields, su.Upstream = up, info.Digest
		// The working state: plain indices, recorded first.
		ws := su
		ws.Files = slices.DeleteFunc(slices.Clone(su.Files), func(f release.File) bool { return path.Ext(f.Path) != "" })
		work.Suites = append(work.Suites, ws)
		if publishNow {
			su.Indices = slices.Clone(su.Indices)
			for k := range su.Indices {
				su.Indices[k].Known = true
			}
			ps.Suites = append(ps.Suites, su)
		}
	}
	ss := []publish.Snapshot{work}
	if publishNow {
		ss = append(ss, ps)
	}
	snaps, err := pub.Publish(ctx, ss...)
	if err != nil {
		return catalog.Snapshot{}, err
	}
	if !publishNow {
		return catalog.Snapshot{}, nil
	}
	return snaps[1], nil
}
