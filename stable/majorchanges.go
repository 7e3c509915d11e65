package stable

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/aptsnap/aptsnap/deb822"
	"github.com/aptsnap/aptsnap/debpkg"
	"github.com/aptsnap/aptsnap/debver"
)

// Binary is one binary package of a family at one version, as the
// Major Changes draft compares them.
type Binary struct {
	Package string `json:"package"`
	Version string `json:"version"`
	Arch    string `json:"arch"`   // "all", "amd64", ...
	Source  string `json:"source"` // the source package it was built from
	// Control is its Packages stanza or control file (the relation fields,
	// relationFields, are read from it, and the source version from its
	// Source field).
	Control []byte `json:"control,omitempty"`
}

// Limits of the draft.
const (
	// maxChangelogLines is the number of changelog lines the draft shows
	// per source.
	maxChangelogLines = 200
	// maxLineWidth is the width past which a relation change is written one
	// relation a line.
	maxLineWidth = 100
	// maxListedVersions is the number of versions the changelog heading
	// lists.
	maxListedVersions = 5
)

// relationFields are the fields of a binary package whose changes the
// draft lists, in dpkg's order: those that decide what an upgrade
// installs, removes or replaces.
var relationFields = []string{"Pre-Depends", "Depends", "Recommends", "Conflicts", "Breaks", "Replaces", "Provides"}

// MajorChanges writes the draft of a request's [Major Changes] section for
// a family of source packages: before are the family's binaries in the
// series now (S and S-updates, the newest of each package and
// architecture), after those uploaded; changelogs maps a source package to
// the changelog text read from one of its uploaded binaries (absent: none
// found).
//
// For each source, in the order given (a source given twice is written
// once), separated by a blank line:
//
//	certbot 2.1.0-1 -> 2.9.0-1
//	  python3-certbot: 2.1.0-1 -> 2.9.0-1 (all)
//	  + python3-certbot-new: 2.9.0-1 (all) [binary added]
//	  - oldbin: 2.1.0-1 (amd64) [binary removed]
//	  Depends of python3-certbot (all): - python3-acme (>= 2.1.0); + python3-acme (>= 2.9.0), python3-josepy
//	  Changelog (2.9.0-1, 2.8.0-1):
//	    certbot (2.9.0-1) bookworm; urgency=medium
//	      * New upstream release.
//	     -- Jane Doe <jane@example.org>  Tue, 05 Mar 2024 10:00:00 +0000
//	    certbot (2.8.0-1) unstable; urgency=low
//	    ...
//
// The source line gives the source version before and after: the newest
// of the family's binaries' (the version in a control file's "Source: name
// (version)", else the binary's), or "(new in the series)" when nothing was
// there before. Binaries are compared per package and architecture (an
// "all" package that became architecture-specific is one removed and one
// added), sorted by name then architecture. Then come, for binaries on
// both sides, the changes of relationFields, each compared as a set of
// comma-separated relations with white space normalised: those removed,
// then those added, grouping architectures with the same change; a change
// that does not fit in maxLineWidth is written one relation a line. Last
// come the changelog entries after the version before (exclusive) up to the
// version after (inclusive), as in the changelog, at most
// maxChangelogLines lines; or a note saying there is no changelog, that it
// is unreadable, or that it has no such entry.
//
// Control characters and invalid UTF-8 in the text written (from package
// files) become U+FFFD; trailing white space is removed from every line.
func MajorChanges(sources []string, before, after []Binary, changelogs map[string][]byte) string {
	w := &draftWriter{}
	seen := map[string]bool{}
	for _, src := range sources {
		if seen[src] {
			continue
		}
		seen[src] = true
		if len(seen) > 1 {
			w.line(0, "")
		}
		log, hasLog := changelogs[src]
		w.source(src, family(before, src), family(after, src), log, hasLog)
	}
	return w.b.String()
}

// draftWriter accumulates the lines of the draft.
type draftWriter struct{ b strings.Builder }

// line writes text, cleaned, indented by indent spaces.
func (w *draftWriter) line(indent int, text string) {
	text = strings.TrimRight(clean(text), " \t")
	if text != "" {
		w.b.WriteString(strings.Repeat(" ", indent))
	}
	w.b.WriteString(text)
	w.b.WriteByte('\n')
}

// clean replaces control characters (but tabs) and invalid UTF-8 by
// U+FFFD.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' && r != '\t' || 0x7f <= r && r < 0xa0 {
			return utf8.RuneError
		}
		return r // invalid UTF-8 comes as utf8.RuneError, which Map writes
	}, s)
}

// binKey identifies a binary package of a family.
type binKey struct{ pkg, arch string }

func compareKeys(a, b binKey) int {
	return cmp.Or(strings.Compare(a.pkg, b.pkg), strings.Compare(a.arch, b.arch))
}

// family returns the binaries of source src, the newest of each package and
// architecture.
func family(bins []Binary, src string) map[binKey]Binary {
	out := map[binKey]Binary{}
	for _, b := range bins {
		if sourceName(b) != src {
			continue
		}
		k := binKey{b.Package, b.Arch}
		if o, ok := out[k]; !ok || debver.Compare(b.Version, o.Version) > 0 {
			out[k] = b
		}
	}
	return out
}

// sourceField returns the name and version of the Source field of b's
// control data ("" when absent).
func sourceField(b Binary) (name, version string) {
	v := strings.TrimSpace(string(controlFields(b.Control)["Source"]))
	name, rest, ok := strings.Cut(v, " ")
	if ok {
		rest = strings.TrimSpace(rest)
		if strings.HasPrefix(rest, "(") && strings.HasSuffix(rest, ")") {
			version = strings.TrimSpace(rest[1 : len(rest)-1])
		}
	}
	return name, version
}

// sourceName is the source package b was built from: b.Source, else the
// name in its Source field, else its own name.
func sourceName(b Binary) string {
	if b.Source != "" {
		return b.Source
	}
	if name, _ := sourceField(b); name != "" {
		return name
	}
	return b.Package
}

// sourceVersion is the newest source version of bins: the version in a
// Source field, else the binary's.
func sourceVersion(bins map[binKey]Binary) string {
	best := ""
	for _, b := range bins {
		v := b.Version
		if _, sv := sourceField(b); sv != "" {
			v = sv
		}
		if best == "" || debver.Compare(v, best) > 0 || debver.Compare(v, best) == 0 && v < best {
			best = v
		}
	}
	return best
}

// controlFields returns the fields of the first paragraph of a control
// file or stanza, by canonical name for relationFields and "Source"; nil
// when it does not parse.
func controlFields(control []byte) map[string][]byte {
	sc := deb822.NewScanner(control)
	for sc.Scan() {
		if sc.NumFields() == 0 {
			continue
		}
		out := map[string][]byte{}
		for _, name := range append([]string{"Source"}, relationFields...) {
			if v := sc.Field(name); v != nil {
				out[name] = v
			}
		}
		return out
	}
	return nil
}

// source writes the part of the draft about one source.
func (w *draftWriter) source(src string, before, after map[binKey]Binary, log []byte, hasLog bool) {
	vBefore, vAfter := sourceVersion(before), sourceVersion(after)
	switch {
	case len(before) == 0 && len(after) == 0:
		w.line(0, src+" (no binaries in the series or the upload)")
		return
	case len(before) == 0:
		w.line(0, src+" "+vAfter+" (new in the series)")
	case len(after) == 0:
		w.line(0, src+" "+vBefore+" -> (no binaries uploaded)")
	default:
		w.line(0, src+" "+vBefore+" -> "+vAfter)
	}

	keys := make([]binKey, 0, len(before)+len(after))
	for k := range before {
		keys = append(keys, k)
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, compareKeys)
	var both []binKey
	for _, k := range keys {
		b, inBefore := before[k]
		a, inAfter := after[k]
		switch {
		case inBefore && inAfter:
			both = append(both, k)
			if a.Version == b.Version {
				w.line(2, fmt.Sprintf("%s: %s (%s) [unchanged]", k.pkg, a.Version, k.arch))
			} else {
				w.line(2, fmt.Sprintf("%s: %s -> %s (%s)", k.pkg, b.Version, a.Version, k.arch))
			}
		case inAfter:
			w.line(2, fmt.Sprintf("+ %s: %s (%s) [binary added]", k.pkg, a.Version, k.arch))
		default:
			w.line(2, fmt.Sprintf("- %s: %s (%s) [binary removed]", k.pkg, b.Version, k.arch))
		}
	}
	w.relations(both, before, after)
	if len(after) > 0 {
		w.changelog(log, hasLog, vBefore, vAfter)
	}
}

// relChange is the change of one relation field of one binary package on
// some architectures.
type relChange struct {
	archs          []string
	removed, added []string
}

// relations writes the changes of relationFields of the binaries on both
// sides (keys, sorted), one line per package and field, architectures with
// the same change together.
func (w *draftWriter) relations(keys []binKey, before, after map[binKey]Binary) {
	for i := 0; i < len(keys); {
		j := i
		for j < len(keys) && keys[j].pkg == keys[i].pkg {
			j++
		}
		pkg := keys[i].pkg
		fb, fa := make([]map[string][]byte, j-i), make([]map[string][]byte, j-i)
		for n, k := range keys[i:j] {
			b, a := before[k].Control, after[k].Control
			fb[n], fa[n] = controlFields(b), controlFields(a)
			switch {
			case len(b) == 0 || len(a) == 0:
				w.line(2, fmt.Sprintf("(relations of %s (%s) not compared: no control data)", pkg, k.arch))
			case fb[n] == nil || fa[n] == nil:
				w.line(2, fmt.Sprintf("(relations of %s (%s) not compared: control data unreadable)", pkg, k.arch))
			}
		}
		for _, field := range relationFields {
			var changes []*relChange
			for n, k := range keys[i:j] {
				if fb[n] == nil || fa[n] == nil {
					continue
				}
				removed, added := diffRelations(string(fb[n][field]), string(fa[n][field]))
				if len(removed) == 0 && len(added) == 0 {
					continue
				}
				if c := findChange(changes, removed, added); c != nil {
					c.archs = append(c.archs, k.arch)
				} else {
					changes = append(changes, &relChange{[]string{k.arch}, removed, added})
				}
			}
			for _, c := range changes {
				w.relChange(field, pkg, c)
			}
		}
		i = j
	}
}

func findChange(changes []*relChange, removed, added []string) *relChange {
	for _, c := range changes {
		if slices.Equal(c.removed, removed) && slices.Equal(c.added, added) {
			return c
		}
	}
	return nil
}

// relChange writes one relation change: on one line when it fits.
func (w *draftWriter) relChange(field, pkg string, c *relChange) {
	head := fmt.Sprintf("%s of %s (%s):", field, pkg, strings.Join(c.archs, ", "))
	var parts []string
	if len(c.removed) > 0 {
		parts = append(parts, "- "+strings.Join(c.removed, ", "))
	}
	if len(c.added) > 0 {
		parts = append(parts, "+ "+strings.Join(c.added, ", "))
	}
	if one := head + " " + strings.Join(parts, "; "); 2+len(one) <= maxLineWidth {
		w.line(2, one)
		return
	}
	w.line(2, head)
	for _, r := range c.removed {
		w.line(4, "- "+r)
	}
	for _, r := range c.added {
		w.line(4, "+ "+r)
	}
}

// diffRelations compares two relation field values as sets of
// comma-separated relations and returns those only in the first and those
// only in the second, white space normalised, in field order.
func diffRelations(before, after string) (removed, added []string) {
	rb, ra := splitRelations(before), splitRelations(after)
	in := func(rels [][2]string, key string) bool {
		return slices.ContainsFunc(rels, func(r [2]string) bool { return r[0] == key })
	}
	for _, r := range rb {
		if !in(ra, r[0]) {
			removed = append(removed, r[1])
		}
	}
	for _, r := range ra {
		if !in(rb, r[0]) {
			added = append(added, r[1])
		}
	}
	return removed, added
}

// splitRelations splits a relation field into its relations, each as a
// comparison key (no white space next to punctuation) and its text (runs
// of white space made one space), without duplicates.
func splitRelations(v string) [][2]string {
	var out [][2]string
	for r := range strings.SplitSeq(v, ",") {
		text := strings.Join(strings.Fields(r), " ")
		if text == "" {
			continue
		}
		key := relationKey(text)
		if !slices.ContainsFunc(out, func(o [2]string) bool { return o[0] == key }) {
			out = append(out, [2]string{key, text})
		}
	}
	return out
}

// relationKey removes the spaces of text next to the punctuation of a
// relation ("foo (>=1.0)" and "foo ( >= 1.0 )" have the same key).
func relationKey(text string) string {
	const punct = "()[]<>=|!"
	var b strings.Builder
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c == ' ' && (i > 0 && strings.IndexByte(punct, text[i-1]) >= 0 ||
			i+1 < len(text) && strings.IndexByte(punct, text[i+1]) >= 0) {
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// changelog writes the changelog entries after vBefore up to vAfter.
func (w *draftWriter) changelog(log []byte, hasLog bool, vBefore, vAfter string) {
	if !hasLog || len(log) == 0 {
		w.line(2, "(no changelog in the upload)")
		return
	}
	entries, err := debpkg.ParseChangelog(log)
	if err != nil {
		w.line(2, "(changelog unreadable: "+err.Error()+")")
		return
	}
	sel := debpkg.EntriesSince(entries, vBefore, vAfter)
	if len(sel) == 0 {
		if vBefore == "" {
			w.line(2, "(no changelog entry up to "+vAfter+")")
		} else {
			w.line(2, "(no changelog entry after "+vBefore+" up to "+vAfter+")")
		}
		return
	}
	versions := make([]string, len(sel))
	for i, e := range sel {
		versions[i] = e.Version
	}
	if len(versions) <= maxListedVersions {
		w.line(2, "Changelog ("+strings.Join(versions, ", ")+"):")
	} else {
		w.line(2, fmt.Sprintf("Changelog (%d entries, %s back to %s):", len(sel), versions[0], versions[len(versions)-1]))
	}
	var lines []string
	for _, e := range sel {
		h := e.Package + " (" + e.Version + ") " + e.Distribution
		if e.Urgency != "" {
			h += "; urgency=" + e.Urgency
		}
		lines = append(lines, h)
		lines = append(lines, strings.Split(strings.TrimSuffix(e.Changes, "\n"), "\n")...)
		if e.Changes == "" {
			lines = lines[:len(lines)-1]
		}
		if e.Maintainer != "" || e.Date != "" {
			lines = append(lines, strings.TrimRight(" -- "+e.Maintainer+"  "+e.Date, " "))
		}
	}
	for _, l := range lines[:min(len(lines), maxChangelogLines)] {
		w.line(4, l)
	}
	if n := len(lines) - maxChangelogLines; n > 0 {
		w.line(4, fmt.Sprintf("[... %d more changelog lines]", n))
	}
}
