package stable

import (
	"context"
	"os"
	"slices"
	"strings"

	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/custom"
	"github.com/aptsnap/aptsnap/debpkg"
	"github.com/aptsnap/aptsnap/debver"
	"github.com/aptsnap/aptsnap/repo"
)

// maxChangelog bounds the changelog text a request keeps per source.
const maxChangelog = 64 << 10

// draftMarker starts a [Major Changes] section aptsnap wrote: it holds a
// TODO, so that the section is read before the request is submitted.
const draftMarker = "TODO: review this draft, written by aptsnap from the uploads, then delete this line."

// changelogs reads the changelog each uploaded source ships in one of its
// binaries (the first that has one).
func changelogs(up *custom.Uploaded) map[string]string {
	out := map[string]string{}
	for _, b := range up.Binaries {
		if _, ok := out[b.Source]; ok {
			continue
		}
		f, err := os.Open(b.Path)
		if err != nil {
			continue
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			continue
		}
		text, err := debpkg.ReadChangelog(f, st.Size(), b.Package)
		f.Close()
		if err != nil { // none shipped (debpkg.ErrNoChangelog), or unreadable: the draft says so
			continue
		}
		if len(text) > maxChangelog {
			text = text[:maxChangelog]
		}
		out[b.Source] = string(text)
	}
	return out
}

// draft writes the [Major Changes] draft from the newest upload of each
// source against what the series holds, and puts it in the section while
// the section holds only TODO or an earlier draft.
func (e *Engine) draft(ctx context.Context, r *Request) {
	var before []Binary
	for _, suite := range []string{r.Series, r.Series + config.Updates} {
		es, err := e.o.Archives.List(ctx, r.Archive, suite)
		if err != nil {
			e.o.Log.Warn("update request: major changes draft", "id", r.ID, "err", err)
			return
		}
		for _, en := range es {
			if en.Kind == repo.Source || !slices.Contains(r.Sources, en.SourceName) {
				continue
			}
			b := Binary{Package: en.Package, Version: en.Version, Arch: en.Arch, Source: en.SourceName, Control: en.Raw}
			if i := slices.IndexFunc(before, func(o Binary) bool { return o.Package == b.Package && o.Arch == b.Arch }); i >= 0 {
				if newer(b.Version, before[i].Version) {
					before[i] = b
				}
				continue
			}
			before = append(before, b)
		}
	}
	// The newest upload of each source.
	latest := map[string]int{}
	for i, u := range r.Uploads {
		for s := range u.Sources {
			latest[s] = i
		}
	}
	var after []Binary
	logs := map[string][]byte{}
	for s, i := range latest {
		for _, b := range r.Uploads[i].Binaries {
			if b.Source == s {
				after = append(after, b)
			}
		}
		if text, ok := r.Uploads[i].Changelogs[s]; ok {
			logs[s] = []byte(text)
		}
	}
	slices.SortFunc(after, func(a, b Binary) int { return strings.Compare(a.Package+"/"+a.Arch, b.Package+"/"+b.Arch) })
	r.Draft = MajorChanges(r.Sources, before, after, logs)
	cur := strings.TrimSpace(r.Sections["Major Changes"])
	if cur == TODO || strings.HasPrefix(cur, draftMarker) {
		r.Sections["Major Changes"] = draftMarker + "\n" + r.Draft
	}
}

// newer reports whether version a is newer than b.
func newer(a, b string) bool { return debver.Compare(a, b) > 0 }
