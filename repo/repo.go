// Package repo holds the contents of one suite of a custom archive (an
// archive we own and fill by importing packages) and turns them into the
// index files APT reads: Packages per component and architecture (udebs
// under debian-installer/), and Sources per component.
//
// The contents are the index stanzas themselves: a suite is loaded from the
// indices of the archive's newest snapshot, edited, and written back as the
// indices of the next one. Nothing else records what a custom archive holds.
package repo

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/aptsnap/aptsnap/deb822"
	"github.com/aptsnap/aptsnap/debver"
	"github.com/aptsnap/aptsnap/index"
)

// Kinds of entry.
const (
	Deb    = "deb"
	Udeb   = "udeb"
	Source = "source"
)

// ErrConflict is returned (wrapped) when a package of the same name,
// version and architecture is already in the suite with other content.
var ErrConflict = errors.New("repo: same name and version, different content")

// Entry is one package of a suite: a binary (for one architecture, or
// "all") or a source package, with its index stanza.
type Entry struct {
	Kind      string // Deb, Udeb or Source
	Component string
	Package   string
	Version   string
	Arch      string // "source" for source packages
	// SourceName and SourceVersion name the source package a binary was
	// built from (the package itself for a source).
	SourceName, SourceVersion string
	// Raw is the index stanza, without its trailing blank line.
	Raw []byte
}

// String is "package=version/arch".
func (e Entry) String() string { return e.Package + "=" + e.Version + "/" + e.Arch }

// same reports whether two entries name the same package version.
func (e Entry) same(o Entry) bool {
	return e.Kind == o.Kind && e.Package == o.Package && e.Version == o.Version && e.Arch == o.Arch
}

// content is what must match for a re-upload to be a no-op: the checksum
// of the .deb, or the checksums of a source package's files.
func (e Entry) content() string {
	sc := deb822.NewScanner(e.Raw)
	if !sc.Scan() {
		return ""
	}
	if e.Kind == Source {
		return strings.Join(strings.Fields(string(sc.Field("Checksums-Sha256"))), " ")
	}
	return string(sc.Field("SHA256"))
}

// NewEntry makes an entry of kind from an index stanza.
func NewEntry(kind, component string, raw []byte) (Entry, error) {
	sc := deb822.NewScanner(raw)
	if !sc.Scan() {
		return Entry{}, fmt.Errorf("repo: empty stanza")
	}
	e := Entry{Kind: kind, Component: component, Raw: slices.Clone(sc.Bytes()),
		Package: string(sc.Field("Package")), Version: string(sc.Field("Version"))}
	if e.Package == "" || e.Version == "" {
		return Entry{}, fmt.Errorf("repo: stanza without Package or Version")
	}
	if kind == Source {
		e.Arch, e.SourceName, e.SourceVersion = "source", e.Package, e.Version
		return e, nil
	}
	e.Arch = string(sc.Field("Architecture"))
	if e.Arch == "" {
		return Entry{}, fmt.Errorf("repo: %s: no Architecture", e.Package)
	}
	e.SourceName, e.SourceVersion = e.Package, e.Version
	if src := strings.TrimSpace(string(sc.Field("Source"))); src != "" {
		name, ver, _ := strings.Cut(src, " ")
		e.SourceName = name
		if ver = strings.Trim(strings.TrimSpace(ver), "()"); ver != "" {
			e.SourceVersion = ver
		}
	}
	return e, nil
}

// Suite is the contents of one suite.
type Suite struct {
	Name          string
	Components    []string
	Architectures []string
	Entries       []Entry
}

// IndexKind returns "Packages" or "Sources" for an index path written by
// Indices ("main/binary-amd64/Packages"), and "" for anything else.
func IndexKind(p string) string {
	switch path.Base(p) {
	case "Packages":
		return "Packages"
	case "Sources":
		return "Sources"
	}
	return ""
}

// Load makes a suite from its uncompressed index files, keyed by their
// path under dists/<suite>/ ("main/binary-amd64/Packages",
// "main/debian-installer/binary-amd64/Packages", "main/source/Sources").
// Architecture "all" packages, listed in every Packages file, are kept once.
func Load(name string, components, architectures []string, files map[string][]byte) (*Suite, error) {
	s := &Suite{Name: name, Components: components, Architectures: architectures}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	seen := map[string]bool{}
	for _, p := range paths {
		comp, rest, ok := strings.Cut(p, "/")
		if !ok || IndexKind(p) == "" {
			continue
		}
		kind := Deb
		switch {
		case IndexKind(p) == "Sources":
			kind = Source
		case strings.HasPrefix(rest, "debian-installer/"):
			kind = Udeb
		}
		sc := deb822.NewScanner(files[p])
		for sc.Scan() {
			e, err := NewEntry(kind, comp, sc.Bytes())
			if err != nil {
				return nil, fmt.Errorf("repo: %s/%s: %w", name, p, err)
			}
			if key := e.Kind + "/" + e.String(); !seen[key] {
				seen[key] = true
				s.Entries = append(s.Entries, e)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("repo: %s/%s: %w", name, p, err)
		}
	}
	return s, nil
}

// Add puts e in the suite. A package already there with the same name,
// version and architecture is left as it is when its content is the same
// (added is false) and is an ErrConflict otherwise; so is one of the same
// name and version for architecture "all" when e is for one architecture,
// and the other way round. Unless multi is set,
// other versions of the same package and architecture are replaced and
// returned.
func (s *Suite) Add(e Entry, multi bool) (replaced []Entry, added bool, err error) {
	if !slices.Contains(s.Components, e.Component) {
		return nil, false, fmt.Errorf("repo: %s: component %q is not one of %s", s.Name, e.Component, strings.Join(s.Components, ", "))
	}
	if e.Kind != Source && e.Arch != "all" && !slices.Contains(s.Architectures, e.Arch) {
		return nil, false, fmt.Errorf("repo: %s: %s: architecture %q is not one of %s", s.Name, e.Package, e.Arch, strings.Join(s.Architectures, ", "))
	}
	for _, o := range s.Entries {
		if o.same(e) {
			if o.content() == e.content() {
				return nil, false, nil
			}
			return nil, false, fmt.Errorf("%w: %s %s is already in %s", ErrConflict, e.Kind, e, s.Name)
		}
	}
	// An "all" package is in every architecture's Packages: the same
	// version built for one architecture would be a second, different
	// package of that version there.
	for _, o := range s.Entries {
		if o.Kind == e.Kind && e.Kind != Source && o.Package == e.Package && o.Version == e.Version &&
			o.Arch != e.Arch && (o.Arch == "all" || e.Arch == "all") {
			return nil, false, fmt.Errorf("%w: %s %s is already in %s", ErrConflict, o.Kind, o, s.Name)
		}
	}
	if !multi {
		s.Entries = slices.DeleteFunc(s.Entries, func(o Entry) bool {
			if o.Kind == e.Kind && o.Package == e.Package && o.Arch == e.Arch {
				replaced = append(replaced, o)
				return true
			}
			return false
		})
	}
	s.Entries = append(s.Entries, e)
	return replaced, true, nil
}

// Remove deletes the packages (binaries and sources) named pkg, of the
// given version or of any if version is empty, and returns them.
func (s *Suite) Remove(pkg, version string) []Entry {
	var gone []Entry
	s.Entries = slices.DeleteFunc(s.Entries, func(o Entry) bool {
		if o.Package == pkg && (version == "" || o.Version == version) {
			gone = append(gone, o)
			return true
		}
		return false
	})
	return gone
}

// Find returns what copying pkg (at version, or its newest version when
// empty) brings along: when pkg names binaries, those binaries (every
// architecture) and the source they were built from; when it names only a
// source package, that source and every binary built from it.
func (s *Suite) Find(pkg, version string) []Entry {
	newest := func(match func(Entry) bool) string {
		v := ""
		for _, e := range s.Entries {
			if match(e) && (v == "" || debver.Compare(e.Version, v) > 0) {
				v = e.Version
			}
		}
		return v
	}
	isBin := func(e Entry) bool { return e.Kind != Source && e.Package == pkg }
	ver := version
	if ver == "" {
		ver = newest(isBin)
	}
	var out []Entry
	var srcName, srcVer string
	for _, e := range s.Entries {
		if isBin(e) && e.Version == ver {
			out = append(out, e)
			srcName, srcVer = e.SourceName, e.SourceVersion
		}
	}
	if len(out) == 0 { // a source package name
		isSrc := func(e Entry) bool { return e.Kind == Source && e.Package == pkg }
		if ver = version; ver == "" {
			ver = newest(isSrc)
		}
		srcName, srcVer = pkg, ver
		for _, e := range s.Entries {
			if e.Kind != Source && e.SourceName == pkg && e.SourceVersion == ver {
				out = append(out, e)
			}
		}
	}
	for _, e := range s.Entries {
		if e.Kind == Source && e.Package == srcName && e.Version == srcVer {
			out = append(out, e)
		}
	}
	return out
}

// Indices returns the uncompressed index files of the suite by path:
// Packages for every component and architecture (with the "all"
// packages in each), debian-installer Packages where the component has
// udebs, and Sources for every component.
func (s *Suite) Indices() map[string][]byte {
	out := map[string][]byte{}
	for _, comp := range s.Components {
		hasUdeb := slices.ContainsFunc(s.Entries, func(e Entry) bool { return e.Kind == Udeb && e.Component == comp })
		for _, arch := range s.Architectures {
			out[comp+"/binary-"+arch+"/Packages"] = s.write(Deb, comp, arch)
			if hasUdeb {
				out[comp+"/debian-installer/binary-"+arch+"/Packages"] = s.write(Udeb, comp, arch)
			}
		}
		out[comp+"/source/Sources"] = s.write(Source, comp, "")
	}
	return out
}

func (s *Suite) write(kind, comp, arch string) []byte {
	var st []index.Stanza
	for _, e := range s.Entries {
		if e.Kind == kind && e.Component == comp && (kind == Source || e.Arch == arch || e.Arch == "all") {
			st = append(st, index.Stanza{Package: e.Package, Version: e.Version, Raw: e.Raw})
		}
	}
	return index.Write(st)
}
