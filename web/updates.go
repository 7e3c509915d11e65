package web

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/stable"
)

// The stable update pages (see package stable):
//
//	/ui/-/updates                                      pending updates, by state in process order
//	/ui/-/updates/<id>                                 a request's whole record
//	/ui/-/updates/<id>/verifications/<n>/checks/<m>/log  a check's log, as text (n, m from 1)

// updatesPath is where the pending-updates report lives.
const updatesPath = "/ui/-/updates"

// Bounds of the report (variables for the tests).
var (
	// maxUpdates bounds the requests the report reads: the ones not yet
	// released or rejected first, then the newest of the others.
	maxUpdates = 500
	// doneRows bounds the report's list of requests done with.
	doneRows = 50
)

// decodeRequest decodes a request's record as package stable does: its
// document, with ID and Revision from the catalog's row.
func decodeRequest(cr catalog.Request) (*stable.Request, error) {
	var r stable.Request
	if err := json.Unmarshal(cr.Doc, &r); err != nil {
		return nil, fmt.Errorf("update %d: a damaged record: %w", cr.ID, err)
	}
	r.ID, r.Revision = cr.ID, cr.Revision
	return &r, nil
}

// srcVersion is a source package of a family at a version.
type srcVersion struct{ Source, Version string }

// updateRow is a request as the report lists it.
type updateRow struct {
	ID      int64
	Series  string
	Archive string
	Sources []string
	// Versions are the family's versions in -proposed, else those
	// uploaded; Upstream is the request's version, shown when neither is.
	Versions []srcVersion
	Upstream string
	Kind     string
	State    string
	// Days are the whole days in -proposed (InProposed), up to now, or to
	// the release for a released request.
	InProposed bool
	Days       int
	Since      time.Time
	Last       *lastVerification
	Phase      int
	Halted     bool
	Busy       string // the change under way, if any
	Updated    time.Time
}

// lastVerification is the outcome of a request's newest verification.
type lastVerification struct {
	N      int // from 1
	By     string
	At     time.Time
	Passed bool
	Checks int
	Failed []checkLink
}

type checkLink struct {
	Name string
	Href string // its log ("" when it wrote none)
}

func logHref(id int64, n, m int) string {
	return fmt.Sprintf("%s/%d/verifications/%d/checks/%d/log", updatesPath, id, n, m)
}

// familyVersions are the versions the report shows: those in -proposed,
// else the newest uploaded of each source (nil if none).
func familyVersions(r *stable.Request) []srcVersion {
	m := r.Proposed
	if len(m) == 0 {
		m = map[string]string{}
		for _, u := range r.Uploads {
			if !u.Superseded {
				maps.Copy(m, u.Sources)
			}
		}
	}
	if len(m) == 0 {
		return nil
	}
	return familyPairs(r, m)
}

// days is the whole days from since to until (0 if until is before).
func days(since, until time.Time) int {
	return max(0, int(until.Sub(since)/(24*time.Hour)))
}

// inProposed reports whether a request's packages are in -proposed,
// awaiting verification or release.
func inProposed(s stable.State) bool {
	return s == stable.VerificationNeeded || s == stable.VerificationFailed || s == stable.VerificationDone
}

func (u *ui) updateRow(r *stable.Request) updateRow {
	row := updateRow{ID: r.ID, Series: r.SeriesName(), Archive: r.Archive, Sources: r.Sources, Versions: familyVersions(r),
		Kind: r.Kind, State: string(r.State), Phase: r.Phase, Halted: r.Halted, Updated: r.Updated}
	if len(row.Versions) == 0 {
		row.Upstream = r.Version
	}
	if !r.ProposedAt.IsZero() {
		switch {
		case inProposed(r.State):
			row.InProposed, row.Since, row.Days = true, r.ProposedAt, days(r.ProposedAt, u.o.Now())
		case r.State == stable.Released && !r.ReleasedAt.IsZero():
			row.InProposed, row.Since, row.Days = true, r.ProposedAt, days(r.ProposedAt, r.ReleasedAt)
		}
	}
	if n := len(r.Verifications); n > 0 {
		v := r.Verifications[n-1]
		lv := &lastVerification{N: n, By: v.By, At: v.At, Passed: v.Passed, Checks: len(v.Checks)}
		for m, c := range v.Checks {
			if c.Passed {
				continue
			}
			cl := checkLink{Name: c.Name}
			if c.Log != "" {
				cl.Href = logHref(r.ID, n, m+1)
			}
			lv.Failed = append(lv.Failed, cl)
		}
		row.Last = lv
	}
	if r.Busy != nil {
		row.Busy = r.Busy.Action
	}
	return row
}

// updateGroup is a state's requests, oldest first.
type updateGroup struct {
	ID    string // the section's id
	Title string
	Note  string
	Rows  []updateRow
}

type updatesPage struct {
	Groups []updateGroup
	// Counts are the requests read in each state, in process order.
	Counts []stateCount
	// Done are the requests rejected or fully released, the newest first,
	// at most doneRows of DoneAll.
	Done    []updateRow
	DoneAll int
	// Read requests of Total: fewer when the report was cut.
	Read, Total int
	Now         time.Time
}

type stateCount struct {
	State string
	N     int
}

// phasing reports whether a released request is still phasing.
func phasing(r *stable.Request) bool { return r.State == stable.Released && r.Phase < 100 }

func (u *ui) updates(ctx context.Context) (*page, error) {
	crs, err := u.o.Catalog.Requests(ctx, "", "")
	if err != nil {
		return nil, err
	}
	// The ones still under way first (oldest requests matter most there),
	// then the newest of those done with, up to maxUpdates.
	finished := func(cr catalog.Request) bool {
		return cr.State == string(stable.Released) || cr.State == string(stable.Rejected)
	}
	order := slices.Clone(crs)
	slices.SortStableFunc(order, func(a, b catalog.Request) int {
		if fa, fb := finished(a), finished(b); fa != fb {
			if fa {
				return 1
			}
			return -1
		}
		return cmp.Compare(b.ID, a.ID)
	})
	up := updatesPage{Total: len(crs), Now: u.o.Now()}
	var rs []*stable.Request
	for _, cr := range order[:min(len(order), maxUpdates)] {
		r, err := decodeRequest(cr)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	up.Read = len(rs)
	slices.SortFunc(rs, func(a, b *stable.Request) int { return cmp.Compare(a.ID, b.ID) })
	groups := []struct {
		id, title, note string
		in              func(*stable.Request) bool
	}{
		{"submitted", "Submitted", "waiting for a reviewer to accept them into -proposed", func(r *stable.Request) bool { return r.State == stable.Submitted }},
		{"verification-needed", "Verification needed", "in -proposed, to be verified", func(r *stable.Request) bool { return r.State == stable.VerificationNeeded }},
		{"verification-failed", "Verification failed", "in -proposed; a check failed: a fixed upload, or a rejection", func(r *stable.Request) bool { return r.State == stable.VerificationFailed }},
		{"verification-done", "Verification done", "in -proposed, verified: released once aged", func(r *stable.Request) bool { return r.State == stable.VerificationDone }},
		{"phasing", "Released, phasing", "in -updates, not yet to every machine", phasing},
		{"draft", "Drafts", "being written", func(r *stable.Request) bool { return r.State == stable.Draft }},
	}
	for _, g := range groups {
		ug := updateGroup{ID: g.id, Title: g.title, Note: g.note}
		for _, r := range rs {
			if g.in(r) {
				ug.Rows = append(ug.Rows, u.updateRow(r))
			}
		}
		up.Groups = append(up.Groups, ug)
	}
	for _, s := range stable.States {
		n := 0
		for _, r := range rs {
			if r.State == s {
				n++
			}
		}
		up.Counts = append(up.Counts, stateCount{string(s), n})
	}
	var done []*stable.Request
	for _, r := range rs {
		if r.State == stable.Rejected || r.State == stable.Released && !phasing(r) {
			done = append(done, r)
		}
	}
	slices.SortStableFunc(done, func(a, b *stable.Request) int {
		if c := b.Updated.Compare(a.Updated); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	up.DoneAll = len(done)
	for _, r := range done[:min(len(done), doneRows)] {
		up.Done = append(up.Done, u.updateRow(r))
	}
	return &page{Title: "Pending updates", Crumbs: []crumb{{"updates", ""}}, Tmpl: "updates", Data: up}, nil
}

// --- /ui/-/updates/<id> ---

type updatePage struct {
	R   *stable.Request
	Row updateRow
	// Sections in the template's order, then any other.
	Sections      []section
	Uploads       []uploadView
	Verifications []verificationView
	Proposed      []srcVersion
	Released      []srcVersion
	Now           time.Time
}

type section struct{ Name, Text string }

type uploadView struct {
	N int
	stable.Upload
	Versions []srcVersion
	Changes  []srcVersion // .changes name, signer's fingerprint
	Bytes    int64
}

type verificationView struct {
	N int
	stable.Verification
	Versions []srcVersion
	Serials  []serialLink
	Binaries []srcVersion
	Checks   []checkView
}

// serialLink is a snapshot a verification used: "archive/suite" and its
// serial, with the snapshot's page.
type serialLink struct{ Name, Serial, Href string }

type checkView struct {
	M int
	stable.Check
	Took     string
	Href     string
	LogBytes int64
}

// sortedPairs lists a map as pairs sorted by key.
func sortedPairs(m map[string]string) []srcVersion {
	var out []srcVersion
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, srcVersion{k, m[k]})
	}
	return out
}

// familyPairs lists a map of source to version in the family's order,
// then any other source.
func familyPairs(r *stable.Request, m map[string]string) []srcVersion {
	var out []srcVersion
	for _, s := range r.Sources {
		if v, ok := m[s]; ok {
			out = append(out, srcVersion{s, v})
		}
	}
	for _, p := range sortedPairs(m) {
		if !slices.Contains(r.Sources, p.Source) {
			out = append(out, p)
		}
	}
	return out
}

// updateID parses the id of a request's URL: 400 if it is no number.
func updateID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errorf(http.StatusBadRequest, "bad update id %q: a request's number", s)
	}
	return id, nil
}

func (u *ui) loadRequest(ctx context.Context, s string) (*stable.Request, error) {
	id, err := updateID(s)
	if err != nil {
		return nil, err
	}
	if id <= 0 {
		return nil, errorf(http.StatusNotFound, "no update %d", id)
	}
	cr, err := u.o.Catalog.Request(ctx, id)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, errorf(http.StatusNotFound, "no update %d", id)
	}
	if err != nil {
		return nil, err
	}
	return decodeRequest(cr)
}

func (u *ui) update(ctx context.Context, idText string) (*page, error) {
	r, err := u.loadRequest(ctx, idText)
	if err != nil {
		return nil, err
	}
	up := updatePage{R: r, Row: u.updateRow(r), Proposed: familyPairs(r, r.Proposed), Released: familyPairs(r, r.Released), Now: u.o.Now()}
	for _, name := range stable.Sections {
		up.Sections = append(up.Sections, section{name, r.Sections[name]})
	}
	for _, name := range slices.Sorted(maps.Keys(r.Sections)) {
		if !slices.Contains(stable.Sections, name) {
			up.Sections = append(up.Sections, section{name, r.Sections[name]})
		}
	}
	for i, x := range r.Uploads {
		uv := uploadView{N: i + 1, Upload: x, Versions: familyPairs(r, x.Sources), Changes: sortedPairs(x.Changes)}
		for _, f := range x.Files {
			uv.Bytes += f.Size
		}
		up.Uploads = append(up.Uploads, uv)
	}
	for i, v := range r.Verifications {
		vv := verificationView{N: i + 1, Verification: v, Versions: familyPairs(r, v.Versions), Binaries: sortedPairs(v.Binaries)}
		for _, s := range sortedPairs(v.Serials) {
			archive, _, _ := strings.Cut(s.Source, "/")
			vv.Serials = append(vv.Serials, serialLink{s.Source, s.Version, "/ui/" + url.PathEscape(archive) + "/" + url.PathEscape(s.Version) + "/"})
		}
		for j, c := range v.Checks {
			cv := checkView{M: j + 1, Check: c, Took: took(c.Duration), LogBytes: int64(len(c.Log))}
			if c.Log != "" {
				cv.Href = logHref(r.ID, i+1, j+1)
			}
			vv.Checks = append(vv.Checks, cv)
		}
		up.Verifications = append(up.Verifications, vv)
	}
	name := "update " + strconv.FormatInt(r.ID, 10)
	return &page{Title: "Update " + strconv.FormatInt(r.ID, 10), Crumbs: []crumb{{"updates", updatesPath}, {name, ""}},
		Tmpl: "update", Data: up}, nil
}

// --- /ui/-/updates/<id>/verifications/<n>/checks/<m>/log ---

// checkLog returns the log of check m of verification n of a request,
// both counted from 1.
func (u *ui) checkLog(ctx context.Context, idText, nText, mText string) (string, error) {
	r, err := u.loadRequest(ctx, idText)
	if err != nil {
		return "", err
	}
	n, err1 := strconv.Atoi(nText)
	m, err2 := strconv.Atoi(mText)
	if err1 != nil || err2 != nil {
		return "", errorf(http.StatusBadRequest, "bad verification or check number")
	}
	if n < 1 || n > len(r.Verifications) {
		return "", errorf(http.StatusNotFound, "update %d has no verification %d", r.ID, n)
	}
	v := r.Verifications[n-1]
	if m < 1 || m > len(v.Checks) {
		return "", errorf(http.StatusNotFound, "verification %d of update %d has no check %d", n, r.ID, m)
	}
	return v.Checks[m-1].Log, nil
}

// serveUpdates serves the pages under /ui/-/updates (parts: the path
// after it), and reports whether it wrote the answer itself.
func (u *ui) serveUpdates(w http.ResponseWriter, r *http.Request, parts []string) (*page, bool, error) {
	ctx := r.Context()
	switch {
	case len(parts) == 0:
		p, err := u.updates(ctx)
		return p, false, err
	case len(parts) == 1 && parts[0] == "":
		http.Redirect(w, r, updatesPath, http.StatusMovedPermanently)
		return nil, true, nil
	case len(parts) == 1:
		p, err := u.update(ctx, parts[0])
		return p, false, err
	case len(parts) == 6 && parts[1] == "verifications" && parts[3] == "checks" && parts[5] == "log":
		text, err := u.checkLog(ctx, parts[0], parts[2], parts[4])
		if err != nil {
			return nil, false, err
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Length", strconv.Itoa(len(text)))
		if r.Method != http.MethodHead {
			_, _ = w.Write([]byte(text))
		}
		return nil, true, nil
	}
	return nil, false, errorf(http.StatusNotFound, "not found")
}
