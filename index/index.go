// Package index writes APT index files the way Debian's archive software
// does: stanzas sorted by package name (then version), every stanza
// followed by a blank line (debootstrap drops a last stanza without one),
// and the .gz and .xz variants beside the plain file.
package index

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"slices"
	"strings"

	"github.com/ulikunitz/xz"

	"github.com/aptsnap/aptsnap/deb822"
	"github.com/aptsnap/aptsnap/debver"
)

// Stanza is one paragraph of an index, kept byte for byte.
type Stanza struct {
	Package, Version string
	Raw              []byte // without trailing blank line
}

// Write returns the index text of stanzas, sorted by package name then
// version, each followed by one blank line.
func Write(stanzas []Stanza) []byte {
	sorted := slices.Clone(stanzas)
	slices.SortStableFunc(sorted, func(a, b Stanza) int {
		if c := strings.Compare(a.Package, b.Package); c != 0 {
			return c
		}
		return debver.Compare(a.Version, b.Version)
	})
	var b bytes.Buffer
	for _, s := range sorted {
		b.Write(bytes.TrimRight(s.Raw, "\n"))
		b.WriteString("\n\n")
	}
	return b.Bytes()
}

// Filter returns the stanzas of an index for which keep returns true.
func Filter(data []byte, keep func(pkg, version, arch string) bool) ([]Stanza, error) {
	sc := deb822.NewScanner(data)
	var out []Stanza
	for sc.Scan() {
		pkg, ver, arch := string(sc.Field("Package")), string(sc.Field("Version")), string(sc.Field("Architecture"))
		if keep(pkg, ver, arch) {
			out = append(out, Stanza{Package: pkg, Version: ver, Raw: slices.Clone(sc.Bytes())})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	return out, nil
}

// Compress returns the .gz and .xz variants of an index.
func Compress(plain []byte) (gz, xzData []byte, err error) {
	var g bytes.Buffer
	gw, _ := gzip.NewWriterLevel(&g, gzip.BestCompression)
	gw.Write(plain)
	if err := gw.Close(); err != nil {
		return nil, nil, fmt.Errorf("index: gzip: %w", err)
	}
	var x bytes.Buffer
	xw, err := xz.NewWriter(&x)
	if err != nil {
		return nil, nil, fmt.Errorf("index: xz: %w", err)
	}
	xw.Write(plain)
	if err := xw.Close(); err != nil {
		return nil, nil, fmt.Errorf("index: xz: %w", err)
	}
	return g.Bytes(), x.Bytes(), nil
}
