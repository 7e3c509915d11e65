// Package stable runs stable updates: a family of source packages (a
// library, its client, its plugins) moves to a new upstream version in a
// series only through one tracked request, as Ubuntu's stable release
// updates do. A series is a custom archive's suite S with its pockets
// S-proposed and S-updates (see config.Custom.SeriesOf): packages enter
// S-proposed only when a request is accepted, and S-updates only when it
// is released, optionally phased.
//
// A request goes draft → submitted → verification-needed (accepted by a
// reviewer other than its submitter: its uploads go into S-proposed) →
// verification-done or verification-failed → released (after
// MinDaysProposed, on exactly the versions verified), or rejected. Every
// change is recorded with who made it and when.
//
// Requests are saved by revision (catalog.Requests): a change reads a
// request, checks it, and saves it only if no other change was saved
// meanwhile. A change with effects on the archive first saves itself as
// the request's Busy event, then changes the archive, then saves the
// outcome: of two changes at once, exactly one gets past the first save;
// one that dies in the middle leaves Busy set, and running it again
// finishes it (the archive changes are idempotent).
package stable

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/custom"
	"github.com/aptsnap/aptsnap/debver"
	"github.com/aptsnap/aptsnap/errdefs"
	"github.com/aptsnap/aptsnap/lock"
)

// Options configure an Engine.
type Options struct {
	Catalog catalog.Catalog
	Store   blob.Store
	Locker  lock.Locker
	// Customs are the custom archives, changed through Archives.
	Customs  []config.Custom
	Archives *custom.Archives
	// TempDir is where uploads are unpacked for an import (the system's
	// temporary directory if empty).
	TempDir string
	// Now is the clock (time.Now if nil): the days in -proposed and the
	// phasing schedule follow it.
	Now func() time.Time
	Log *slog.Logger
}

// Engine runs the requests of an installation.
type Engine struct{ o Options }

// New returns an Engine.
func New(o Options) *Engine {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Engine{o: o}
}

// Actor is who makes a change: an API token's name and role, or the local
// user.
type Actor struct {
	Name string
	Role catalog.Role
}

// Limits on what a request holds.
const (
	MaxSources     = 32
	MaxSectionText = 64 << 10
	MaxUploads     = 64
)

// NewRequest describes a request to create.
type NewRequest struct {
	// Series is "archive/suite".
	Series  string   `json:"series"`
	Sources []string `json:"sources"`
	Version string   `json:"version"`
	// Kind is BugFix (the default) or Feature.
	Kind string `json:"kind"`
}

// New creates a request in state draft, its sections from the template.
func (e *Engine) New(ctx context.Context, by Actor, nr NewRequest) (*Request, error) {
	archive, series, ok := strings.Cut(nr.Series, "/")
	if !ok {
		return nil, errdefs.Errorf(errdefs.ErrInvalid, "update new: give the series as ARCHIVE/SUITE (for example ours/stable), not %q", nr.Series)
	}
	cu, err := e.custom(archive)
	if err != nil {
		return nil, err
	}
	if s, pocket, ok := cu.SeriesOf(series); !ok || pocket != "" || s != series {
		return nil, errdefs.Errorf(errdefs.ErrInvalid, "update new: %s is not a series: a series is a suite S of a custom archive listed with S-proposed and S-updates (series in %s: %s)",
			nr.Series, archive, strings.Join(cu.AllSeries(), ", "))
	}
	if len(nr.Sources) == 0 || len(nr.Sources) > MaxSources {
		return nil, errdefs.Errorf(errdefs.ErrInvalid, "update new: name from 1 to %d source packages (--source PKG[,PKG...])", MaxSources)
	}
	seen := map[string]bool{}
	for _, s := range nr.Sources {
		if !validName(s) {
			return nil, errdefs.Errorf(errdefs.ErrInvalid, "update new: %q is not a source package name", s)
		}
		if seen[s] {
			return nil, errdefs.Errorf(errdefs.ErrInvalid, "update new: %s given twice", s)
		}
		seen[s] = true
	}
	v, err := debver.Parse(nr.Version)
	if err != nil || v.Epoch != 0 || v.Revision != "" {
		return nil, errdefs.Errorf(errdefs.ErrInvalid, "update new: --version is the upstream version the family moves to (such as 2.9.0), without epoch or Debian revision, not %q", nr.Version)
	}
	switch nr.Kind {
	case "":
		nr.Kind = BugFix
	case BugFix, Feature:
	default:
		return nil, errdefs.Errorf(errdefs.ErrInvalid, "update new: the kind is %s (bug fixes only) or %s (new features, under an exception), not %q", BugFix, Feature, nr.Kind)
	}
	now := e.o.Now().UTC()
	r := &Request{Archive: archive, Series: series, Sources: nr.Sources, Version: nr.Version, Kind: nr.Kind, State: Draft,
		Sections: template(), Creator: by.Name, Created: now, Updated: now}
	r.History = append(r.History, Event{At: now, By: by.Name, Action: "new", To: Draft})
	doc, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	cr, err := e.o.Catalog.CreateRequest(ctx, catalog.Request{Series: r.SeriesName(), State: string(r.State), Doc: doc})
	if err != nil {
		return nil, err
	}
	r.ID, r.Revision = cr.ID, cr.Revision
	e.o.Log.Info("update request", "id", r.ID, "action", "new", "by", by.Name, "series", r.SeriesName(), "sources", r.Sources, "version", r.Version)
	return r, nil
}

// validName reports whether s is a Debian package name.
func validName(s string) bool {
	if len(s) < 2 || len(s) > 100 {
		return false
	}
	for i, c := range s {
		ok := 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || i > 0 && strings.ContainsRune("+-.", c)
		if !ok {
			return false
		}
	}
	return true
}

// Get returns a request.
func (e *Engine) Get(ctx context.Context, id int64) (*Request, error) {
	cr, err := e.o.Catalog.Request(ctx, id)
	if err != nil {
		return nil, err
	}
	return decode(cr)
}

func decode(cr catalog.Request) (*Request, error) {
	var r Request
	if err := json.Unmarshal(cr.Doc, &r); err != nil {
		return nil, fmt.Errorf("update %d: a damaged record: %w", cr.ID, err)
	}
	r.ID, r.Revision = cr.ID, cr.Revision
	return &r, nil
}

// List lists requests of a series ("archive/suite", "" for all) in a state
// ("" for all), oldest first.
func (e *Engine) List(ctx context.Context, series string, state State) ([]*Request, error) {
	if state != "" && !slices.Contains(States, state) {
		return nil, errdefs.Errorf(errdefs.ErrInvalid, "no state %q (states: %s)", state, joinStates(States))
	}
	crs, err := e.o.Catalog.Requests(ctx, series, string(state))
	if err != nil {
		return nil, err
	}
	out := make([]*Request, 0, len(crs))
	for _, cr := range crs {
		r, err := decode(cr)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func joinStates(ss []State) string {
	var out []string
	for _, s := range ss {
		out = append(out, string(s))
	}
	return strings.Join(out, ", ")
}

// save stores r if it is still at its revision (errdefs.ErrExists if not)
// and returns it at the next.
func (e *Engine) save(ctx context.Context, r *Request) error {
	r.Updated = e.o.Now().UTC()
	doc, err := json.Marshal(r)
	if err != nil {
		return err
	}
	cr, err := e.o.Catalog.SaveRequest(ctx, catalog.Request{ID: r.ID, Revision: r.Revision, Series: r.SeriesName(),
		State: string(r.State), Doc: doc, Files: r.held()})
	if err != nil {
		return err
	}
	r.Revision = cr.Revision
	return nil
}

// held are the stored files of the uploads waiting to go in: GC keeps them.
func (r *Request) held() []blob.Digest {
	var out []blob.Digest
	for _, u := range r.Uploads {
		if u.Serial != "" || u.Superseded || r.State == Rejected {
			continue
		}
		for _, f := range u.Files {
			if d, err := blob.ParseDigest(f.SHA256); err == nil {
				out = append(out, d)
			}
		}
	}
	return out
}

// record appends an event and moves r to state to ("" keeps the state).
func (e *Engine) record(r *Request, by Actor, action string, to State, note string) {
	ev := Event{At: e.o.Now().UTC(), By: by.Name, Action: action, From: r.State, To: to, Note: note}
	if to == "" || to == r.State {
		ev.From, ev.To = "", ""
	} else {
		r.State = to
	}
	r.History = append(r.History, ev)
	e.o.Log.Info("update request", "id", r.ID, "action", action, "by", by.Name, "state", r.State)
}

// refuse is a refusal of a change of r: one line, saying what to do.
func refuse(r *Request, verb, format string, args ...any) error {
	return errdefs.Errorf(errdefs.ErrInvalid, "update %s %d: %s", verb, r.ID, fmt.Sprintf(format, args...))
}

// busy refuses a change while another runs (see the package doc), unless
// it is the same change run again.
func busy(r *Request, verb string) error {
	if r.Busy == nil || r.Busy.Action == verb {
		return nil
	}
	return errdefs.Errorf(errdefs.ErrExists, "update %s %d: %s by %s is under way since %s; wait for it (if its process died, run update %s %d again)",
		verb, r.ID, r.Busy.Action, r.Busy.By, r.Busy.At.Format(time.RFC3339), r.Busy.Action, r.ID)
}

// Edit replaces a section's text (section "" replaces every section from
// text written as Request.Text writes it). A draft may hold TODO; once
// submitted, an edit that brings a TODO back is refused. A released or
// rejected request is not edited.
func (e *Engine) Edit(ctx context.Context, by Actor, id int64, name, text string) (*Request, error) {
	r, err := e.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(text) > MaxSectionText*len(Sections) {
		return nil, refuse(r, "edit", "the text is over %d bytes", MaxSectionText*len(Sections))
	}
	if r.State == Released || r.State == Rejected {
		return nil, refuse(r, "edit", "it is %s: its text is its record now", r.State)
	}
	next := maps.Clone(r.Sections)
	var changed []string
	if name == "" {
		all, err := ParseText(text)
		if err != nil {
			return nil, refuse(r, "edit", "%v", err)
		}
		for _, s := range Sections {
			if all[s] != r.Sections[s] {
				changed = append(changed, s)
			}
		}
		next = all
	} else {
		s, ok := section(name)
		if !ok {
			return nil, refuse(r, "edit", "no section %q (sections: %s)", name, strings.Join(Sections, ", "))
		}
		next[s] = strings.TrimSpace(text)
		if next[s] != r.Sections[s] {
			changed = append(changed, s)
		}
	}
	for _, s := range Sections {
		if len(next[s]) > MaxSectionText {
			return nil, refuse(r, "edit", "[%s] is over %d bytes", s, MaxSectionText)
		}
	}
	if len(changed) == 0 {
		return r, nil
	}
	if r.State != Draft {
		for _, s := range changed {
			if todoRE.MatchString(next[s]) && !todoRE.MatchString(r.Sections[s]) {
				return nil, refuse(r, "edit", "[%s] would hold a TODO again; a %s request is complete: write the text in full", s, r.State)
			}
		}
	}
	r.Sections = next
	e.record(r, by, "edit", "", "sections: "+strings.Join(changed, ", "))
	return r, e.save(ctx, r)
}

// Submit asks for review. Refused while a section holds TODO, while a
// new-features request's [Major Changes] is empty, and while [Where
// problems could occur] says only "none" or "low".
func (e *Engine) Submit(ctx context.Context, by Actor, id int64) (*Request, error) {
	r, err := e.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.State != Draft {
		return nil, refuse(r, "submit", "it is %s; only a draft is submitted", r.State)
	}
	if t := r.todos(); len(t) > 0 {
		return nil, refuse(r, "submit", "%s still hold%s TODO: write them (aptsnap update edit %d)", strings.Join(t, ", "), plural(len(t) == 1, "s", ""), r.ID)
	}
	if r.Kind == Feature && strings.TrimSpace(r.Sections["Major Changes"]) == "" {
		return nil, refuse(r, "submit", "a new-features update must say what changes in [Major Changes]")
	}
	if trivialRisk(r.Sections["Where problems could occur"]) {
		return nil, refuse(r, "submit", "[Where problems could occur] says only %q: say what could break, for whom, and how it would show",
			strings.TrimSpace(r.Sections["Where problems could occur"]))
	}
	r.Submitter = by.Name
	e.record(r, by, "submit", Submitted, "")
	return r, e.save(ctx, r)
}

func plural(one bool, yes, no string) string {
	if one {
		return yes
	}
	return no
}

// Upload adds an upload to a request: .changes files signed by a key of
// the archive's keyring, with the files they list. Every package must be
// of the family, at the request's upstream version and newer than the
// series has. Before the request is accepted the upload is kept (stored)
// until it is; after, it goes into S-proposed at once, and a request in
// verification needs verifying again.
func (e *Engine) Upload(ctx context.Context, by Actor, id int64, files []string) (*Request, error) {
	r, err := e.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	switch r.State {
	case Released, Rejected:
		return nil, refuse(r, "upload", "it is %s; open a new request for a new version", r.State)
	}
	if err := busy(r, "upload"); err != nil {
		return nil, err
	}
	if len(r.Uploads) >= MaxUploads {
		return nil, refuse(r, "upload", "it has %d uploads already, the most a request takes", MaxUploads)
	}
	up, err := e.o.Archives.Inspect(r.Archive, files)
	if err != nil {
		return nil, refuse(r, "upload", "%v", err)
	}
	u, err := e.checkUpload(ctx, r, up)
	if err != nil {
		return nil, err
	}
	u.Changelogs = changelogs(up)
	u.At, u.By = e.o.Now().UTC(), by.Name
	inProposed := r.State == VerificationNeeded || r.State == VerificationDone || r.State == VerificationFailed
	if !inProposed {
		// Kept until accepted: stored as a writer of the archive (GC
		// keeps what a running writer wrote), held by the request from
		// its save on.
		wl, err := e.o.Locker.Writer(ctx, r.Archive, true)
		if err != nil {
			return nil, err
		}
		defer wl.Release()
		for _, p := range files {
			f, err := os.Open(p)
			if err != nil {
				return nil, err
			}
			info, err := e.o.Store.Put(ctx, f, blob.Digest{}, -1)
			f.Close()
			if err != nil {
				return nil, fmt.Errorf("update upload %d: %s: %w", r.ID, filepath.Base(p), err)
			}
			u.Files = append(u.Files, File{Name: filepath.Base(p), SHA256: info.Digest.String(), Size: info.Size})
		}
		for i := range r.Uploads {
			if r.Uploads[i].Serial == "" && overlaps(r.Uploads[i].Sources, u.Sources) {
				r.Uploads[i].Superseded = true
			}
		}
		// Durable before the request that references them.
		if err := e.o.Store.Sync(ctx); err != nil {
			return nil, err
		}
		r.Uploads = append(r.Uploads, u)
		e.draft(ctx, r)
		e.record(r, by, "upload", "", uploadNote(u))
		return r, e.save(ctx, r)
	}
	// Into S-proposed now: claim the request, import, record.
	for _, p := range files {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		u.Files = append(u.Files, File{Name: filepath.Base(p), Size: st.Size()})
	}
	if err := e.claim(ctx, r, by, "upload"); err != nil {
		return nil, err
	}
	res, err := e.o.Archives.Add(ctx, custom.AddRequest{Archive: r.Archive, Suite: r.Series + config.Proposed, Files: files, Publish: true, Update: r.Name()})
	if err != nil {
		return nil, e.unclaim(ctx, r, fmt.Errorf("update upload %d: %w", r.ID, err))
	}
	u.Serial = res.Serial
	r.Uploads = append(r.Uploads, u)
	maps.Copy(r.Proposed, u.Sources)
	r.ProposedAt, r.ProposedSerial = e.o.Now().UTC(), res.Serial
	e.draft(ctx, r)
	r.Busy = nil
	e.record(r, by, "upload", VerificationNeeded, uploadNote(u)+" into "+r.Series+config.Proposed+" "+res.Serial)
	return r, e.save(ctx, r)
}

func overlaps(a, b map[string]string) bool {
	for k := range a {
		if _, ok := b[k]; ok {
			return true
		}
	}
	return false
}

func uploadNote(u Upload) string {
	var parts []string
	for _, s := range slices.Sorted(maps.Keys(u.Sources)) {
		parts = append(parts, s+" "+u.Sources[s])
	}
	return strings.Join(parts, ", ")
}

// checkUpload checks an inspected upload against the request and the
// series, and describes it.
func (e *Engine) checkUpload(ctx context.Context, r *Request, up *custom.Uploaded) (Upload, error) {
	u := Upload{Changes: up.Changes, Sources: map[string]string{}}
	if len(up.Changes) == 0 {
		return u, refuse(r, "upload", "give the family's .changes files (signed), with the files they list")
	}
	if len(up.Unlisted) > 0 {
		return u, refuse(r, "upload", "%s listed by no .changes: a stable update takes signed .changes only", strings.Join(up.Unlisted, ", "))
	}
	for name, v := range up.Sources {
		u.Sources[name] = v
	}
	for _, b := range up.Binaries {
		if v, ok := u.Sources[b.Source]; ok && v != b.SourceVersion {
			return u, refuse(r, "upload", "%s %s is built from %s %s, but the upload holds %s %s", b.Package, b.Version, b.Source, b.SourceVersion, b.Source, v)
		}
		u.Sources[b.Source] = b.SourceVersion
		u.Binaries = append(u.Binaries, Binary{Package: b.Package, Version: b.Version, Arch: b.Arch, Source: b.Source, Control: b.Control})
	}
	current, err := e.seriesVersions(ctx, r)
	if err != nil {
		return u, err
	}
	for _, name := range slices.Sorted(maps.Keys(u.Sources)) {
		v := u.Sources[name]
		if !slices.Contains(r.Sources, name) {
			return u, refuse(r, "upload", "%s is not of the family (%s): open another request for it, or a new one for the whole family", name, strings.Join(r.Sources, ", "))
		}
		pv, err := debver.Parse(v)
		if err != nil || pv.Upstream != r.Version {
			return u, refuse(r, "upload", "%s %s is not at the request's version %s (the upstream part of the version must be %s)", name, v, r.Version, r.Version)
		}
		if cur, ok := current[name]; ok && debver.Compare(v, cur.version) <= 0 {
			return u, refuse(r, "upload", "%s %s is not newer than %s in %s", name, v, cur.version, cur.where)
		}
		if p, ok := r.Proposed[name]; ok && debver.Compare(v, p) <= 0 {
			return u, refuse(r, "upload", "%s %s is not newer than %s, in %s%s for this request already", name, v, p, r.Series, config.Proposed)
		}
	}
	return u, nil
}

type placed struct{ version, where string }

// seriesVersions returns the newest version of each family source in S
// and S-updates.
func (e *Engine) seriesVersions(ctx context.Context, r *Request) (map[string]placed, error) {
	out := map[string]placed{}
	for _, suite := range []string{r.Series, r.Series + config.Updates} {
		es, err := e.o.Archives.List(ctx, r.Archive, suite)
		if err != nil {
			return nil, err
		}
		for _, en := range es {
			if !slices.Contains(r.Sources, en.SourceName) {
				continue
			}
			if cur, ok := out[en.SourceName]; !ok || debver.Compare(en.SourceVersion, cur.version) > 0 {
				out[en.SourceName] = placed{en.SourceVersion, r.Archive + "/" + suite}
			}
		}
	}
	return out, nil
}

// claim saves r as busy with action (see the package doc).
func (e *Engine) claim(ctx context.Context, r *Request, by Actor, action string) error {
	r.Busy = &Event{At: e.o.Now().UTC(), By: by.Name, Action: action}
	if err := e.save(ctx, r); err != nil {
		if errors.Is(err, errdefs.ErrExists) {
			return errdefs.Errorf(errdefs.ErrExists, "update %s %d: the request changed meanwhile (another change won): look at it again (aptsnap update show %d)", action, r.ID, r.ID)
		}
		return err
	}
	return nil
}

// unclaim drops r's claim after its change failed, and returns err.
func (e *Engine) unclaim(ctx context.Context, r *Request, err error) error {
	r.Busy = nil
	if serr := e.save(ctx, r); serr != nil {
		e.o.Log.Warn("update request: could not drop a failed change's claim", "id", r.ID, "err", serr)
	}
	return err
}

// Accept accepts a submitted request: a reviewer other than its submitter
// puts its uploads into S-proposed. Every family source must have an
// upload at the request's version.
func (e *Engine) Accept(ctx context.Context, by Actor, id int64) (*Request, error) {
	r, err := e.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := busy(r, "accept"); err != nil {
		return nil, err
	}
	if r.State != Submitted {
		return nil, refuse(r, "accept", "it is %s; only a submitted request is accepted", r.State)
	}
	if err := needReviewer(r, "accept", by); err != nil {
		return nil, err
	}
	pending := r.pending()
	for _, s := range r.Sources {
		if _, ok := pending.sources[s]; !ok {
			return nil, refuse(r, "accept", "%s has no upload: every source of the family goes in together (aptsnap update upload %d FILE.changes...)", s, r.ID)
		}
	}
	if err := e.claim(ctx, r, by, "accept"); err != nil {
		return nil, err
	}
	serial, err := e.importUploads(ctx, r, pending.uploads)
	if err != nil {
		return nil, e.unclaim(ctx, r, fmt.Errorf("update accept %d: %w", r.ID, err))
	}
	for _, i := range pending.uploads {
		r.Uploads[i].Serial = serial
	}
	r.Proposed = pending.sources
	r.ProposedAt, r.ProposedSerial = e.o.Now().UTC(), serial
	r.Reviewer, r.Busy = by.Name, nil
	e.record(r, by, "accept", VerificationNeeded, "into "+r.Series+config.Proposed+" "+serial)
	return r, e.save(ctx, r)
}

// needReviewer refuses a reviewer's change by the request's submitter or
// creator: someone else reviews.
func needReviewer(r *Request, verb string, by Actor) error {
	if !by.Role.Allows(catalog.RoleReviewer) {
		return errdefs.Errorf(errdefs.ErrInvalid, "update %s %d: this needs the role %s", verb, r.ID, catalog.RoleReviewer)
	}
	if by.Name == r.Submitter || by.Name == r.Creator {
		return refuse(r, verb, "%s wrote or submitted it; a reviewer other than its author must %s it", by.Name, verb)
	}
	return nil
}

type pendingUploads struct {
	uploads []int             // indices in Uploads
	sources map[string]string // source to version
}

// pending are the uploads waiting to go in.
func (r *Request) pending() pendingUploads {
	p := pendingUploads{sources: map[string]string{}}
	for i, u := range r.Uploads {
		if u.Serial != "" || u.Superseded {
			continue
		}
		p.uploads = append(p.uploads, i)
		maps.Copy(p.sources, u.Sources)
	}
	return p
}

// importUploads imports stored uploads into S-proposed as one snapshot
// and returns its serial.
func (e *Engine) importUploads(ctx context.Context, r *Request, which []int) (string, error) {
	dir, err := os.MkdirTemp(e.o.TempDir, "aptsnap-update-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	var files []string
	for _, i := range which {
		for _, f := range r.Uploads[i].Files {
			d, err := blob.ParseDigest(f.SHA256)
			if err != nil {
				return "", err
			}
			p := filepath.Join(dir, f.Name)
			if err := e.copyOut(ctx, d, p); err != nil {
				return "", fmt.Errorf("%s: %w", f.Name, err)
			}
			files = append(files, p)
		}
	}
	res, err := e.o.Archives.Add(ctx, custom.AddRequest{Archive: r.Archive, Suite: r.Series + config.Proposed, Files: files, Publish: true, Update: r.Name()})
	if err != nil {
		return "", err
	}
	if res.Serial == "" {
		// Run again after an interruption: already in.
		snap, err := e.o.Catalog.Latest(ctx, r.Archive)
		if err != nil {
			return "", err
		}
		return snap.Serial, nil
	}
	return res.Serial, nil
}

func (e *Engine) copyOut(ctx context.Context, d blob.Digest, p string) error {
	in, _, err := e.o.Store.Open(ctx, d)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := out.ReadFrom(in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Reject rejects a request not yet released, with a reason; what it put
// into S-proposed is taken out.
func (e *Engine) Reject(ctx context.Context, by Actor, id int64, reason string) (*Request, error) {
	r, err := e.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := busy(r, "reject"); err != nil {
		return nil, err
	}
	if r.State == Released || r.State == Rejected {
		return nil, refuse(r, "reject", "it is %s already", r.State)
	}
	if strings.TrimSpace(reason) == "" {
		return nil, refuse(r, "reject", "say why (--reason)")
	}
	// A draft is withdrawn by its author; anything else is rejected by
	// a reviewer other than its author.
	if !(r.State == Draft && by.Name == r.Creator) {
		if err := needReviewer(r, "reject", by); err != nil {
			return nil, err
		}
	}
	note := strings.TrimSpace(reason)
	if len(r.Proposed) > 0 {
		if err := e.claim(ctx, r, by, "reject"); err != nil {
			return nil, err
		}
		res, err := e.o.Archives.RemoveSources(ctx, r.Archive, r.Series+config.Proposed, r.Proposed, r.Name())
		if err != nil {
			return nil, e.unclaim(ctx, r, fmt.Errorf("update reject %d: %w", r.ID, err))
		}
		if res.Serial != "" {
			note += "; removed from " + r.Series + config.Proposed + " in " + res.Serial
		}
		r.Busy = nil
	}
	e.record(r, by, "reject", Rejected, note)
	return r, e.save(ctx, r)
}

// Verify records a verification report. Every check passed, on exactly
// the versions in S-proposed: verification-done, with a comment saying
// what ran at which versions. A check failed: verification-failed. A
// report on other versions than those in S-proposed is refused.
func (e *Engine) Verify(ctx context.Context, by Actor, id int64, rep Report) (*Request, error) {
	r, err := e.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := busy(r, "verify"); err != nil {
		return nil, err
	}
	switch r.State {
	case VerificationNeeded, VerificationFailed, VerificationDone:
	default:
		return nil, refuse(r, "verify", "it is %s; a request is verified once accepted, in %s%s", r.State, r.Series, config.Proposed)
	}
	if !maps.Equal(rep.Versions, r.Proposed) {
		return nil, refuse(r, "verify", "the report is on %s, but %s%s holds %s: verify again", Versions(rep.Versions), r.Series, config.Proposed, Versions(r.Proposed))
	}
	if len(rep.Checks) == 0 {
		return nil, refuse(r, "verify", "the report holds no check")
	}
	passed := true
	for i := range rep.Checks {
		c := &rep.Checks[i]
		if len(c.Log) > MaxLog {
			c.Log = "…" + c.Log[len(c.Log)-MaxLog:]
		}
		passed = passed && c.Passed
	}
	at := e.o.Now().UTC()
	v := Verification{Report: rep, By: by.Name, At: at, Passed: passed}
	to := VerificationFailed
	if passed {
		v.Comment, to = comment(rep, by.Name, at), VerificationDone
	}
	r.Verifications = append(r.Verifications, v)
	note := fmt.Sprintf("%d checks on %s", len(rep.Checks), Versions(rep.Versions))
	if !passed {
		var failed []string
		for _, c := range rep.Checks {
			if !c.Passed {
				failed = append(failed, c.Name)
			}
		}
		note += "; failed: " + strings.Join(failed, ", ")
	}
	e.record(r, by, "verify", to, note)
	return r, e.save(ctx, r)
}

// Versions writes source versions as "a 1.0-1, b 2.0-1" (by name), or
// "nothing".
func Versions(m map[string]string) string {
	if len(m) == 0 {
		return "nothing"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+" "+m[k])
	}
	return strings.Join(parts, ", ")
}

// Release copies a verified request's packages from S-proposed into
// S-updates, phased from phase (the archive's phase_start when negative;
// 100: not phased). Refused before the archive's MinDaysProposed days in
// -proposed, and unless the newest verification passed on exactly the
// versions in -proposed.
func (e *Engine) Release(ctx context.Context, by Actor, id int64, phase int) (*Request, error) {
	r, err := e.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := busy(r, "release"); err != nil {
		return nil, err
	}
	if err := needReviewer(r, "release", by); err != nil {
		return nil, err
	}
	if r.State != VerificationDone {
		return nil, refuse(r, "release", "it is %s; a request is released once its verification is done", r.State)
	}
	last := r.Verifications[len(r.Verifications)-1]
	if !last.Passed || !maps.Equal(last.Versions, r.Proposed) {
		return nil, refuse(r, "release", "the newest verification is not a passed one on %s", Versions(r.Proposed))
	}
	cu, err := e.custom(r.Archive)
	if err != nil {
		return nil, err
	}
	now := e.o.Now().UTC()
	min := time.Duration(cu.MinDaysProposed) * 24 * time.Hour
	if age := now.Sub(r.ProposedAt); age < min {
		return nil, refuse(r, "release", "in %s%s since %s, %s; the series asks for %d days (from %s)",
			r.Series, config.Proposed, r.ProposedAt.Format(time.RFC3339), age.Round(time.Minute), cu.MinDaysProposed, r.ProposedAt.Add(min).Format(time.RFC3339))
	}
	if phase < 0 {
		phase = cu.PhaseStart
	}
	phase = min100(phase)
	if err := e.claim(ctx, r, by, "release"); err != nil {
		return nil, err
	}
	res, err := e.o.Archives.Promote(ctx, custom.PromoteRequest{Archive: r.Archive, From: r.Series + config.Proposed, To: r.Series + config.Updates,
		Sources: r.Proposed, Phase: phase, Update: r.Name()})
	if err != nil {
		return nil, e.unclaim(ctx, r, fmt.Errorf("update release %d: %w", r.ID, err))
	}
	r.Released, r.ReleasedAt = maps.Clone(r.Proposed), now
	r.Phase, r.PhaseChanged, r.Busy = phase, now, nil
	note := "into " + r.Series + config.Updates + " " + res.Serial
	if phase < 100 {
		note += fmt.Sprintf(", phased at %d%%", phase)
	}
	e.record(r, by, "release", Released, note)
	return r, e.save(ctx, r)
}

func min100(p int) int { return max(0, min(p, 100)) }

// Phase sets a released request's Phased-Update-Percentage in S-updates
// by hand (0 halts it: Halt).
func (e *Engine) Phase(ctx context.Context, by Actor, id int64, pct int) (*Request, error) {
	return e.phase(ctx, by, id, pct, "phase")
}

// Halt stops a released request's phasing: Phased-Update-Percentage 0, and
// the schedule stops raising it until Phase is called.
func (e *Engine) Halt(ctx context.Context, by Actor, id int64) (*Request, error) {
	return e.phase(ctx, by, id, 0, "halt")
}

func (e *Engine) phase(ctx context.Context, by Actor, id int64, pct int, verb string) (*Request, error) {
	r, err := e.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := busy(r, verb); err != nil {
		return nil, err
	}
	if !by.Role.Allows(catalog.RoleReviewer) {
		return nil, errdefs.Errorf(errdefs.ErrInvalid, "update %s %d: this needs the role %s", verb, r.ID, catalog.RoleReviewer)
	}
	if r.State != Released {
		return nil, refuse(r, verb, "it is %s; only a released request is phased", r.State)
	}
	if pct < 0 || pct > 100 {
		return nil, refuse(r, verb, "a percentage is from 0 to 100, not %d", pct)
	}
	return r, e.setPhase(ctx, r, by, pct, verb)
}

func (e *Engine) setPhase(ctx context.Context, r *Request, by Actor, pct int, verb string) error {
	if err := e.claim(ctx, r, by, verb); err != nil {
		return err
	}
	res, err := e.o.Archives.SetPhase(ctx, r.Archive, r.Series+config.Updates, r.Released, pct, r.Name())
	if err != nil {
		return e.unclaim(ctx, r, fmt.Errorf("update %s %d: %w", verb, r.ID, err))
	}
	r.Phase, r.PhaseChanged, r.Halted, r.Busy = pct, e.o.Now().UTC(), verb == "halt", nil
	note := fmt.Sprintf("%d%%", pct)
	if res.Serial != "" {
		note += " in " + r.Series + config.Updates + " " + res.Serial
	}
	e.record(r, by, verb, "", note)
	return e.save(ctx, r)
}

// Scheduler is the Actor the phasing schedule acts as.
var Scheduler = Actor{Name: "aptsnap (phasing schedule)", Role: catalog.RoleAdmin}

// PhaseDue raises the phasing of every released request whose archive's
// phase_every has passed since its last change, by phase_step, up to 100.
// Halted requests stay where they are.
func (e *Engine) PhaseDue(ctx context.Context) error {
	rs, err := e.List(ctx, "", Released)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range rs {
		if r.Halted || r.Phase >= 100 || r.Busy != nil {
			continue
		}
		cu, err := e.custom(r.Archive)
		if err != nil {
			continue // an archive no longer configured
		}
		if e.o.Now().Sub(r.PhaseChanged) < cu.PhaseInterval() {
			continue
		}
		if err := e.setPhase(ctx, r, Scheduler, min100(r.Phase+cu.PhaseStep), "phase"); err != nil && !errors.Is(err, errdefs.ErrExists) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (e *Engine) custom(name string) (*config.Custom, error) {
	for i := range e.o.Customs {
		if e.o.Customs[i].Name == name {
			return &e.o.Customs[i], nil
		}
	}
	return nil, errdefs.Errorf(catalog.ErrNotFound, "no custom archive %q", name)
}
