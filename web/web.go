// Package web is aptsnap's browsable web UI: server-rendered HTML under
// /ui/, readable without JavaScript and on a phone.
//
//	/ui/                                  archives: last pulse, latest serial, snapshot count
//	/ui/-/tags                            every tag: its archives, when it was made
//	/ui/-/storage                         what the next garbage collection deletes, storage per archive
//	/ui/<archive>/                        snapshots with expiry, tagged snapshots, pulses, storage, with pictures
//	/ui/<archive>/<serial>/               suites, package counts per index, APT source line
//	/ui/<archive>/diff?from=S1&to=S2      packages added, removed, upgraded, downgraded
//	/ui/<archive>/package/<name>          where each version of a package appears
//	/ui/-/updates                         pending stable updates, by state (see updates.go)
//	/ui/-/updates/<id>                    a stable update request's whole record
//
// Pages that are not an archive's live under /ui/-/: no archive name
// starts with "-". The pictures are inline SVG drawn on the server.
//
// Serving parses no index per request once warm: parsed Packages indices
// are kept by digest in a bounded cache (an index is immutable by digest),
// and a diff only reads the components whose indices changed.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/debver"
	"github.com/aptsnap/aptsnap/events"
	"github.com/aptsnap/aptsnap/names"
)

// Options configure the UI.
type Options struct {
	Catalog catalog.Catalog
	Store   blob.Store
	// Archives are the configured archives, listed even before their
	// first snapshot.
	Archives []string
	// PublicURL is how clients reach the server, for APT source lines.
	PublicURL string
	// Now is the clock for expiry and days in -proposed (time.Now if nil).
	Now func() time.Time
	// CacheDir keeps a package list per index on disk, for the package
	// page (none if empty: every distinct index is scanned per request).
	CacheDir string
	// Log receives what goes wrong writing package lists (slog.Default()
	// if nil).
	Log *slog.Logger
	// MaxIndexSize bounds reading an index (index.DefaultMaxSize when zero).
	MaxIndexSize int64
	// GC runs a garbage collection dry run, for the storage page (which
	// then says nothing of the next collection if nil). Its answer is
	// kept a few minutes, whether the visitor waited or not: a dry run
	// reads the whole catalog and walks the store (it takes no lock and
	// holds up no writer).
	GC func(ctx context.Context) (GCPreview, error)
}

// GCPreview is what the next garbage collection would delete.
type GCPreview struct {
	// Expired are the snapshots it would delete.
	Expired []catalog.Snapshot
	// Files and Bytes are the stored files it would delete, Kept the
	// number it would keep.
	Files int
	Bytes int64
	Kept  int
}

// cachePackages bounds the parsed-index cache: about 25 MB, room for the
// binary indices of the two sides of a diff of full Debian snapshots.
const cachePackages = 300_000

type ui struct {
	o     Options
	cache *indexCache
	usage usageCache
	gc    gcCache
}

// UI is the web UI handler.
type UI struct{ u *ui }

// New returns the UI handler. It serves paths under /ui/ (mount it there).
func New(o Options) *UI {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	o.PublicURL = strings.TrimRight(o.PublicURL, "/")
	return &UI{&ui{o: o, cache: newIndexCache(o.Store, cachePackages, o.CacheDir, o.MaxIndexSize)}}
}

// ServeHTTP serves the pages.
func (h *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.u.ServeHTTP(w, r) }

// Warm writes the on-disk package lists (see Options.CacheDir) of a
// snapshot's Packages indices that lack one, so that the package page is
// fast from the first request; the server calls it after each pulse.
func (h *UI) Warm(ctx context.Context, archive, serial string) error {
	s, err := h.u.o.Catalog.Snapshot(ctx, archive, serial)
	if err != nil {
		return err
	}
	for _, suite := range s.Suites {
		su, err := h.u.o.Catalog.Suite(ctx, s.ID, suite)
		if err != nil {
			return err
		}
		for _, pi := range packageIndices(su.Files) {
			if err := h.u.cache.warm(ctx, pi.File); err != nil {
				return err
			}
		}
	}
	return nil
}

// Listen has the UI write the package lists of every snapshot b tells of
// (a few hundred milliseconds for a full Debian index), so that its
// package page is fast from the start. The snapshot is served already.
func (h *UI) Listen(b *events.Bus) {
	b.OnCreated(func(ctx context.Context, s catalog.Snapshot) { h.warm(ctx, s) })
}

func (h *UI) warm(ctx context.Context, s catalog.Snapshot) {
	if err := h.Warm(ctx, s.Archive, s.Serial); err != nil && ctx.Err() == nil {
		h.u.o.Log.Warn("web: package lists", "archive", s.Archive, "serial", s.Serial, "err", err)
	}
}

// WarmAll writes the package lists every snapshot's indices lack, newest
// snapshots first, until done or ctx ends: for snapshots made before the
// lists were (each list is written once; later pulses write their own).
func (h *UI) WarmAll(ctx context.Context) {
	for _, name := range h.u.o.Archives {
		snaps, err := h.u.o.Catalog.Snapshots(ctx, name)
		if err != nil {
			continue
		}
		for i := len(snaps) - 1; i >= 0; i-- {
			if ctx.Err() != nil {
				return
			}
			h.warm(ctx, snaps[i])
		}
	}
}

// httpError is an error with the status to answer.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func errorf(code int, format string, args ...any) error {
	return &httpError{code, fmt.Sprintf(format, args...)}
}

var (
	packageRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.+-]*$`)
)

// snapshotName reports whether s names a snapshot in the UI: a serial, or
// "@" and a tag.
func snapshotName(s string) bool {
	tag, isTag := strings.CutPrefix(s, "@")
	return names.Serial(s) || isTag && names.Tag(tag)
}

func (u *ui) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p, ok := strings.CutPrefix(r.URL.Path, "/ui")
	if !ok {
		u.fail(w, errorf(http.StatusNotFound, "not found"))
		return
	}
	if p == "" {
		http.Redirect(w, r, "/ui/", http.StatusMovedPermanently)
		return
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	ctx := r.Context()
	var page *page
	var err error
	switch {
	case p == "/":
		page, err = u.home(ctx)
	case p == "/-/tags":
		page, err = u.tags(ctx)
	case p == "/-/storage":
		page, err = u.storage(ctx)
	case len(parts) >= 2 && parts[0] == "-" && parts[1] == "updates":
		var done bool
		if page, done, err = u.serveUpdates(w, r, parts[2:]); done {
			return
		}
	case len(parts) == 1:
		http.Redirect(w, r, "/ui/"+url.PathEscape(parts[0])+"/", http.StatusMovedPermanently)
		return
	case len(parts) == 2 && parts[1] == "":
		page, err = u.archive(ctx, parts[0])
	case len(parts) == 2 && parts[1] == "diff":
		page, err = u.diff(ctx, parts[0], r.URL.Query())
	case len(parts) == 2 && parts[1] == "package":
		// The search form of the archive page.
		name := strings.TrimSpace(r.URL.Query().Get("name"))
		if !packageRE.MatchString(name) {
			err = errorf(http.StatusBadRequest, "bad package name %q", name)
			break
		}
		http.Redirect(w, r, "/ui/"+url.PathEscape(parts[0])+"/package/"+url.PathEscape(name), http.StatusSeeOther)
		return
	case len(parts) == 2:
		http.Redirect(w, r, "/ui/"+url.PathEscape(parts[0])+"/"+url.PathEscape(parts[1])+"/", http.StatusMovedPermanently)
		return
	case len(parts) == 3 && parts[1] == "package":
		page, err = u.pkg(ctx, parts[0], parts[2])
	case len(parts) == 3 && parts[2] == "":
		page, err = u.snapshot(ctx, parts[0], parts[1])
	default:
		err = errorf(http.StatusNotFound, "not found")
	}
	if err != nil {
		u.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	if err := render(w, page); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
	}
}

func (u *ui) fail(w http.ResponseWriter, err error) {
	code, msg := http.StatusInternalServerError, "internal error: "+err.Error()
	var he *httpError
	switch {
	case errors.As(err, &he):
		code, msg = he.code, he.msg
	case errors.Is(err, catalog.ErrNotFound):
		code, msg = http.StatusNotFound, "not found"
	case errors.Is(err, context.Canceled):
		code, msg = 499, "canceled"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(code)
	render(w, &page{Title: http.StatusText(code), Error: msg, Data: nil})
}

// archives lists the configured archives, then the others the catalog knows.
func (u *ui) archives(ctx context.Context) ([]string, error) {
	known, err := u.o.Catalog.Archives(ctx)
	if err != nil {
		return nil, err
	}
	out := slices.Clone(u.o.Archives)
	for _, a := range known {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

func (u *ui) checkArchive(ctx context.Context, archive string) error {
	if !names.Archive(archive) {
		return errorf(http.StatusNotFound, "no archive %q", archive)
	}
	all, err := u.archives(ctx)
	if err != nil {
		return err
	}
	if !slices.Contains(all, archive) {
		return errorf(http.StatusNotFound, "no archive %q", archive)
	}
	return nil
}

// crumb is one link of the breadcrumb trail.
type crumb struct{ Name, Href string }

// page is what the layout renders.
type page struct {
	Title  string
	Crumbs []crumb
	Error  string
	Tmpl   string // the content template
	Data   any
}

// --- /ui/ ---

type archiveRow struct {
	Name      string
	Pulse     *pulseRow // the last one
	LastOK    time.Time // the last successful pulse
	Latest    *snapRow
	Snapshots int
	Tags      int
}

// pulseRow is a pulse as the pages show it.
type pulseRow struct {
	catalog.Pulse
	Took   string
	Reason string // the kind of failure
}

func newPulseRow(p catalog.Pulse) pulseRow {
	r := pulseRow{Pulse: p, Took: took(p.Finished.Sub(p.Started))}
	if !p.OK {
		r.Reason = failureReason(p.Error)
	}
	return r
}

// pulseLog is how many pulses the pages read: the pulse chart's, and
// enough to find the last success of an archive failing for days.
const pulseLog = 100

// lastSuccess is when the last successful pulse of ps (newest first)
// finished; if none of them succeeded but the log goes on beyond them,
// when the newest snapshot was made, which a successful pulse made.
func lastSuccess(ps []catalog.Pulse, latest *snapRow) time.Time {
	for _, p := range ps {
		if p.OK {
			return p.Finished
		}
	}
	if len(ps) == pulseLog && latest != nil {
		return latest.Created
	}
	return time.Time{}
}

func (u *ui) home(ctx context.Context) (*page, error) {
	names, err := u.archives(ctx)
	if err != nil {
		return nil, err
	}
	tags, err := u.o.Catalog.Tags(ctx)
	if err != nil {
		return nil, err
	}
	var rows []archiveRow
	for _, a := range names {
		row := archiveRow{Name: a}
		ps, err := u.o.Catalog.Pulses(ctx, a, pulseLog)
		if err != nil && !errors.Is(err, catalog.ErrNotFound) {
			return nil, err
		}
		if len(ps) > 0 {
			p := newPulseRow(ps[0])
			row.Pulse = &p
		}
		snaps, err := u.o.Catalog.Snapshots(ctx, a)
		if err != nil && !errors.Is(err, catalog.ErrNotFound) {
			return nil, err
		}
		row.Snapshots = len(snaps)
		if len(snaps) > 0 {
			s := u.snapRow(snaps[len(snaps)-1])
			s.Stale = s.Expired
			row.Latest = &s
		}
		row.LastOK = lastSuccess(ps, row.Latest)
		for _, t := range tags {
			if t.Archive == a {
				row.Tags++
			}
		}
		rows = append(rows, row)
	}
	return &page{Title: "Archives", Tmpl: "home", Data: rows}, nil
}

// --- /ui/<archive>/ ---

type snapRow struct {
	Archive    string
	Serial     string
	Tag        string // for tagged snapshots
	Created    time.Time
	ValidUntil time.Time
	Expires    string // "in 9d 23h", "expired 2h ago", "never"
	Expired    bool
	// Stale marks the archive's newest snapshot once expired: kept, while
	// its pulses fail.
	Stale bool
	// Soon marks a snapshot expiring within two days.
	Soon bool
	// Collect marks a snapshot the next garbage collection deletes:
	// expired, and not the newest (set with Stale, on the archive page).
	Collect bool
	Suites  []string
	// From the catalog's usage, on the archive page.
	Bumped          time.Time
	Bytes, NewBytes int64
	HasUsage        bool
}

// State names how a snapshot stands, as the pictures color it: tag,
// stale, expired, soon or live.
func (r snapRow) State() string {
	switch {
	case r.Tag != "":
		return "tag"
	case r.Stale:
		return "stale"
	case r.Expired:
		return "expired"
	case r.Soon:
		return "soon"
	}
	return "live"
}

func (u *ui) snapRow(s catalog.Snapshot) snapRow {
	r := snapRow{Archive: s.Archive, Serial: s.Serial, Created: s.Created, ValidUntil: s.ValidUntil, Suites: s.Suites}
	r.Tag, _ = strings.CutPrefix(s.Serial, "@")
	if r.Tag == s.Serial {
		r.Tag = ""
	}
	switch d := s.ValidUntil.Sub(u.o.Now()); {
	case s.ValidUntil.IsZero():
		r.Expires = "never"
	case d <= 0:
		r.Expired, r.Expires = true, "expired "+human(-d)+" ago"
	default:
		r.Soon, r.Expires = d < soon, "in "+human(d)
	}
	return r
}

// human renders a duration as its two largest units: "9d 23h", "5h 2m", "40s".
func human(d time.Duration) string {
	d = d.Round(time.Second)
	days, hours, mins := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh", days, hours)
	case hours > 0:
		return fmt.Sprintf("%dh %dm", hours, mins)
	case mins > 0:
		return fmt.Sprintf("%dm", mins)
	}
	return fmt.Sprintf("%ds", int(d/time.Second))
}

type archivePage struct {
	Archive   string
	Snapshots []snapRow // newest first
	Tags      []snapRow
	From, To  string     // defaults of the diff form
	Pulses    []pulseRow // the last few, newest first
	LastOK    time.Time
	Timeline  *timeline
	PulseLog  *pulseChart
	Storage   *storageChart
	// Held is what the snapshots reference in all, Collect how many of
	// them the next garbage collection deletes.
	Held    int64
	Collect int
}

// pulseRows is how many pulses the archive page lists.
const pulseRows = 10

func (u *ui) archive(ctx context.Context, archive string) (*page, error) {
	if err := u.checkArchive(ctx, archive); err != nil {
		return nil, err
	}
	snaps, err := u.o.Catalog.Snapshots(ctx, archive)
	if err != nil && !errors.Is(err, catalog.ErrNotFound) {
		return nil, err
	}
	tags, err := u.o.Catalog.Tags(ctx)
	if err != nil {
		return nil, err
	}
	ap := archivePage{Archive: archive}
	for i := len(snaps) - 1; i >= 0; i-- {
		ap.Snapshots = append(ap.Snapshots, u.snapRow(snaps[i]))
	}
	for _, t := range tags {
		if t.Archive == archive {
			ap.Tags = append(ap.Tags, u.snapRow(t))
		}
	}
	if n := len(ap.Snapshots); n > 0 {
		ap.Snapshots[0].Stale = ap.Snapshots[0].Expired
		ap.To, ap.From = ap.Snapshots[0].Serial, ap.Snapshots[min(1, n-1)].Serial
	}
	usage, err := u.usageOf(ctx, archive, snaps)
	if err != nil {
		return nil, err
	}
	for i := range ap.Snapshots {
		s := &ap.Snapshots[i]
		s.Collect = s.Expired && !s.Stale
		if s.Collect {
			ap.Collect++
		}
		if us, ok := usage[s.Serial]; ok {
			s.Bumped, s.Bytes, s.NewBytes, s.HasUsage = us.Bumped, us.Bytes, us.NewBytes, true
			ap.Held += us.NewBytes
		}
	}
	ps, err := u.o.Catalog.Pulses(ctx, archive, pulseLog)
	if err != nil && !errors.Is(err, catalog.ErrNotFound) {
		return nil, err
	}
	for _, p := range ps[:min(len(ps), pulseRows)] {
		ap.Pulses = append(ap.Pulses, newPulseRow(p))
	}
	var latest *snapRow
	if len(ap.Snapshots) > 0 {
		latest = &ap.Snapshots[0]
	}
	ap.LastOK = lastSuccess(ps, latest)
	ap.Timeline = newTimeline(archive, ap.Snapshots, ap.Tags, u.o.Now())
	ap.PulseLog = newPulseChart(ps, usage)
	oldest := slices.Clone(ap.Snapshots)
	slices.Reverse(oldest)
	ap.Storage = newStorageChart(oldest, usage)
	return &page{Title: archive, Crumbs: []crumb{{archive, ""}}, Tmpl: "archive", Data: ap}, nil
}

// --- /ui/<archive>/<serial>/ ---

type indexRow struct {
	Path  string
	Count int
	Unit  string
}

type suiteRow struct {
	Name       string
	Indices    []indexRow
	Packages   int
	SourceLine string
}

type snapshotPage struct {
	Snap     snapRow
	Suites   []suiteRow
	KeyURL   string
	Previous string // the serial before, for a diff link
}

func (u *ui) loadSnapshot(ctx context.Context, archive, serial string) (catalog.Snapshot, error) {
	if err := u.checkArchive(ctx, archive); err != nil {
		return catalog.Snapshot{}, err
	}
	if !snapshotName(serial) {
		return catalog.Snapshot{}, errorf(http.StatusNotFound, "no snapshot %q of %s", serial, archive)
	}
	s, err := u.o.Catalog.Snapshot(ctx, archive, serial)
	if errors.Is(err, catalog.ErrNotFound) {
		return s, errorf(http.StatusNotFound, "no snapshot %s of %s", serial, archive)
	}
	return s, err
}

func (u *ui) snapshot(ctx context.Context, archive, serial string) (*page, error) {
	s, err := u.loadSnapshot(ctx, archive, serial)
	if err != nil {
		return nil, err
	}
	sp := snapshotPage{Snap: u.snapRow(s), KeyURL: u.o.PublicURL + "/keys/aptsnap.asc"}
	if sp.Snap.Tag == "" {
		snaps, err := u.o.Catalog.Snapshots(ctx, archive)
		if err != nil {
			return nil, err
		}
		for i, x := range snaps {
			if x.Serial == serial && i > 0 {
				sp.Previous = snaps[i-1].Serial
			}
		}
	}
	base := u.o.PublicURL + "/" + archive + "/" + serial + "/"
	if sp.Snap.Tag != "" {
		base = u.o.PublicURL + "/tagged/" + sp.Snap.Tag + "/" + archive + "/"
	}
	for _, name := range s.Suites {
		su, err := u.o.Catalog.Suite(ctx, s.ID, name)
		if err != nil {
			return nil, err
		}
		row := suiteRow{Name: name}
		var comps []string
		for _, pi := range packageIndices(su.Files) {
			pkgs, err := u.cache.get(ctx, pi.File)
			if err != nil {
				return nil, err
			}
			row.Indices = append(row.Indices, indexRow{Path: pi.Dir + "/Packages", Count: len(pkgs), Unit: "packages"})
			row.Packages += len(pkgs)
			if !strings.Contains(pi.Comp, "/") && !slices.Contains(comps, pi.Comp) {
				comps = append(comps, pi.Comp)
			}
		}
		// Sources: count the pool files the catalog records, no parse.
		for _, f := range su.Files {
			if !strings.HasSuffix(f.Path, "/source/Sources") || !slices.Contains(su.Indices, f.SHA256) {
				continue
			}
			ids, err := u.o.Catalog.IndexMembers(ctx, s.Archive, f.SHA256)
			if err != nil {
				return nil, err
			}
			row.Indices = append(row.Indices, indexRow{Path: f.Path, Count: len(ids), Unit: "source files"})
			if c := strings.TrimSuffix(f.Path, "/source/Sources"); !strings.Contains(c, "/") && !slices.Contains(comps, c) {
				comps = append(comps, c)
			}
		}
		slices.Sort(comps)
		row.SourceLine = fmt.Sprintf("deb [signed-by=/etc/apt/keyrings/aptsnap.asc] %s %s %s", base, name, strings.Join(comps, " "))
		sp.Suites = append(sp.Suites, row)
	}
	return &page{Title: archive + " " + serial, Crumbs: []crumb{{archive, "/ui/" + archive + "/"}, {serial, ""}},
		Tmpl: "snapshot", Data: sp}, nil
}

// --- /ui/<archive>/diff ---

type diffPage struct {
	Archive  string
	From, To snapRow
	Groups   []diffGroup
	Total    int
	Took     string
}

type diffGroup struct {
	Kind    string
	Changes []change
}

func (u *ui) diff(ctx context.Context, archive string, q url.Values) (*page, error) {
	if err := u.checkArchive(ctx, archive); err != nil {
		return nil, err
	}
	from, to := q.Get("from"), q.Get("to")
	for _, s := range []string{from, to} {
		if !snapshotName(s) {
			return nil, errorf(http.StatusBadRequest, "from and to must be serials (YYYYMMDDNN) or @tags, not %q", s)
		}
	}
	start := time.Now()
	a, err := u.loadSnapshot(ctx, archive, from)
	if err != nil {
		return nil, err
	}
	b, err := u.loadSnapshot(ctx, archive, to)
	if err != nil {
		return nil, err
	}
	changes, err := u.diffSnapshots(ctx, a, b)
	if err != nil {
		return nil, err
	}
	dp := diffPage{Archive: archive, From: u.snapRow(a), To: u.snapRow(b), Total: len(changes)}
	for _, kind := range []string{upgraded, downgraded, added, removed} {
		g := diffGroup{Kind: kind}
		for _, c := range changes {
			if c.Kind == kind {
				g.Changes = append(g.Changes, c)
			}
		}
		dp.Groups = append(dp.Groups, g)
	}
	dp.Took = took(time.Since(start))
	return &page{Title: archive + " " + from + " → " + to, Crumbs: []crumb{{archive, "/ui/" + archive + "/"}, {"diff", ""}},
		Tmpl: "diff", Data: dp}, nil
}

// suiteIndices maps each suite of a snapshot to its binary indices by component.
func (u *ui) suiteIndices(ctx context.Context, s catalog.Snapshot) (map[string]map[string][]pkgIndex, error) {
	out := map[string]map[string][]pkgIndex{}
	for _, name := range s.Suites {
		su, err := u.o.Catalog.Suite(ctx, s.ID, name)
		if err != nil {
			return nil, err
		}
		byComp := map[string][]pkgIndex{}
		for _, pi := range packageIndices(su.Files) {
			byComp[pi.Comp] = append(byComp[pi.Comp], pi)
		}
		out[name] = byComp
	}
	return out, nil
}

// diffSnapshots compares two snapshots suite by suite and component by
// component, reading only the components whose indices differ.
func (u *ui) diffSnapshots(ctx context.Context, a, b catalog.Snapshot) ([]change, error) {
	ia, err := u.suiteIndices(ctx, a)
	if err != nil {
		return nil, err
	}
	ib, err := u.suiteIndices(ctx, b)
	if err != nil {
		return nil, err
	}
	type sc struct{ suite, comp string }
	var keys []sc
	for _, m := range []map[string]map[string][]pkgIndex{ia, ib} {
		for s, comps := range m {
			for c := range comps {
				if !slices.Contains(keys, sc{s, c}) {
					keys = append(keys, sc{s, c})
				}
			}
		}
	}
	same := func(x, y []pkgIndex) bool {
		return slices.EqualFunc(x, y, func(p, q pkgIndex) bool { return p.Dir == q.Dir && p.File.SHA256 == q.File.SHA256 })
	}
	read := func(ps []pkgIndex) ([][]pkg, error) {
		var all [][]pkg
		for _, pi := range ps {
			pkgs, err := u.cache.get(ctx, pi.File)
			if err != nil {
				return nil, err
			}
			all = append(all, pkgs)
		}
		return all, nil
	}
	var out []change
	for _, k := range keys {
		xa, xb := ia[k.suite][k.comp], ib[k.suite][k.comp]
		if same(xa, xb) {
			continue
		}
		pa, err := read(xa)
		if err != nil {
			return nil, err
		}
		pb, err := read(xb)
		if err != nil {
			return nil, err
		}
		for _, c := range diffLists(pa, pb) {
			c.Suite, c.Comp = k.suite, k.comp
			out = append(out, c)
		}
	}
	slices.SortFunc(out, cmpChange)
	return out, nil
}

// --- /ui/<archive>/package/<name> ---

type versionRow struct {
	Version string
	Where   []string // "bookworm main amd64"
	Runs    []run    // snapshots containing it, in runs of consecutive serials
	Tags    []string
}

// run is a range of consecutive snapshots of the archive.
type run struct {
	First, Last string
	N           int
}

type packagePage struct {
	Archive  string
	Name     string
	Versions []versionRow // newest first
	Scanned  int
}

func (u *ui) pkg(ctx context.Context, archive, name string) (*page, error) {
	if err := u.checkArchive(ctx, archive); err != nil {
		return nil, err
	}
	if !packageRE.MatchString(name) {
		return nil, errorf(http.StatusBadRequest, "bad package name %q", name)
	}
	snaps, err := u.o.Catalog.Snapshots(ctx, archive)
	if err != nil && !errors.Is(err, catalog.ErrNotFound) {
		return nil, err
	}
	tags, err := u.o.Catalog.Tags(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range tags {
		if t.Archive == archive {
			snaps = append(snaps, t)
		}
	}
	type hit struct {
		where map[string]bool
		idx   []int // positions in snaps
	}
	hits := map[string]*hit{}
	seen := map[blob.Digest][]pkg{}
	for i, s := range snaps {
		for _, suite := range s.Suites {
			su, err := u.o.Catalog.Suite(ctx, s.ID, suite)
			if err != nil {
				return nil, err
			}
			for _, pi := range packageIndices(su.Files) {
				// Snapshots share most indices: look each one up once.
				found, ok := seen[pi.File.SHA256]
				if !ok {
					if found, err = u.cache.find(ctx, pi.File, name); err != nil {
						return nil, err
					}
					seen[pi.File.SHA256] = found
				}
				for _, p := range found {
					h := hits[p.Version]
					if h == nil {
						h = &hit{where: map[string]bool{}}
						hits[p.Version] = h
					}
					h.where[suite+" "+pi.Comp+" "+p.Arch] = true
					if len(h.idx) == 0 || h.idx[len(h.idx)-1] != i {
						h.idx = append(h.idx, i)
					}
				}
			}
		}
	}
	if len(hits) == 0 {
		return nil, errorf(http.StatusNotFound, "no package %s in any snapshot of %s", name, archive)
	}
	pp := packagePage{Archive: archive, Name: name, Scanned: len(snaps)}
	for v, h := range hits {
		row := versionRow{Version: v}
		for w := range h.where {
			row.Where = append(row.Where, w)
		}
		slices.Sort(row.Where)
		for _, i := range h.idx {
			if strings.HasPrefix(snaps[i].Serial, "@") {
				row.Tags = append(row.Tags, snaps[i].Serial)
				continue
			}
			if n := len(row.Runs); n > 0 && i > 0 && snaps[i-1].Serial == row.Runs[n-1].Last {
				row.Runs[n-1].Last = snaps[i].Serial
				row.Runs[n-1].N++
				continue
			}
			row.Runs = append(row.Runs, run{First: snaps[i].Serial, Last: snaps[i].Serial, N: 1})
		}
		pp.Versions = append(pp.Versions, row)
	}
	slices.SortFunc(pp.Versions, func(x, y versionRow) int { return debver.Compare(y.Version, x.Version) })
	return &page{Title: name + " in " + archive, Crumbs: []crumb{{archive, "/ui/" + archive + "/"}, {name, ""}},
		Tmpl: "package", Data: pp}, nil
}
