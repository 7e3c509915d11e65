package repogen

import (
	"bytes"
	"cmp"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ulikunitz/xz"

	"github.com/aptsnap/aptsnap/debver"
)

// releaseTimeFormat is the Date / Valid-Until format of Release files.
const releaseTimeFormat = "Mon, 02 Jan 2006 15:04:05 UTC"

// suiteFiles is everything Write puts under dists/<suite>/.
type suiteFiles struct {
	name     string
	indices  map[string][]byte // path relative to the suite dir -> content
	unserved map[string][]byte // listed in the Release, not written (as Debian's uncompressed variants)
	byHash   map[string][]byte // by-hash path relative to the suite dir -> content
	release  []byte
	inRel    []byte
	relGPG   []byte
	keepDirs []string // by-hash directories to keep old files in
}

// binary is a built .deb and what its Packages stanza needs.
type binary struct {
	Package
	filename string
	control  string // the .deb's control file
	deb      []byte
	size     int64
	fixed    string // the whole Packages stanza, for a Deb (else made from control)
}

// buildSuite builds a suite's pool files (through addPool), indices,
// Release and signatures, in memory.
func (r *Repo) buildSuite(s *Suite, addPool func(string, []byte) error) (*suiteFiles, error) {
	sf := &suiteFiles{name: s.Name, indices: map[string][]byte{}, unserved: map[string][]byte{}, byHash: map[string][]byte{}}
	for _, comp := range s.components() {
		var bins []binary
		for _, p := range s.Components[comp] {
			b, err := r.makeBinary(comp, p, ".deb")
			if err != nil {
				return nil, err
			}
			if err := addPool(b.filename, b.deb); err != nil {
				return nil, err
			}
			bins = append(bins, b)
		}
		slices.SortStableFunc(bins, func(a, b binary) int {
			if c := strings.Compare(a.Name, b.Name); c != 0 {
				return c
			}
			if c := debver.Compare(a.Version, b.Version); c != 0 {
				return c
			}
			return strings.Compare(a.Arch, b.Arch)
		})
		if s.Translations {
			for i := range bins {
				bins[i].control = bins[i].shortControl()
			}
		}
		udebs, err := r.buildUdebs(comp, s.Installer[comp], addPool)
		if err != nil {
			return nil, err
		}
		if err := r.addMetadata(s, sf, comp, bins, udebs); err != nil {
			return nil, err
		}
		for _, arch := range s.Architectures {
			dir := comp + "/binary-" + arch
			if err := sf.addPackages(dir, arch, bins, r.ByHash); err != nil {
				return nil, err
			}
			sf.indices[dir+"/Release"] = r.subRelease(s, comp, arch)
		}
		if s.Sources {
			srcs, err := buildSources(comp, bins)
			if err != nil {
				return nil, err
			}
			var idx bytes.Buffer
			for _, src := range srcs {
				for _, f := range src.files {
					if err := addPool(src.dir+"/"+f.name, f.data); err != nil {
						return nil, err
					}
				}
				idx.WriteString(src.stanza())
				idx.WriteByte('\n')
			}
			dir := comp + "/source"
			if err := sf.addIndex(dir, "Sources", idx.Bytes(), r.ByHash); err != nil {
				return nil, err
			}
			sf.indices[dir+"/Release"] = r.subRelease(s, comp, "source")
		}
	}
	listed := maps.Clone(sf.indices)
	maps.Copy(listed, sf.unserved)
	sf.release = r.release(s, listed)
	var err error
	if sf.inRel, err = r.Signer.ClearSign(sf.release); err != nil {
		return nil, fmt.Errorf("repogen: sign %s: %w", s.Name, err)
	}
	if sf.relGPG, err = r.Signer.DetachSign(sf.release); err != nil {
		return nil, fmt.Errorf("repogen: sign %s: %w", s.Name, err)
	}
	return sf, nil
}

// buildSources groups a component's binaries by source name and version and
// builds each source package.
func buildSources(comp string, bins []binary) ([]*sourcePackage, error) {
	bySrc := map[string]*sourcePackage{}
	var out []*sourcePackage
	for _, b := range bins {
		key := b.source() + "\x00" + b.Version
		s := bySrc[key]
		if s == nil {
			s = &sourcePackage{name: b.source(), version: b.Version, dir: poolDir(comp, b.source())}
			bySrc[key] = s
			out = append(out, s)
		}
		s.binaries = append(s.binaries, b.Package)
	}
	for _, s := range out {
		if err := s.build(); err != nil {
			return nil, fmt.Errorf("repogen: build source %s %s: %w", s.name, s.version, err)
		}
	}
	slices.SortStableFunc(out, func(a, b *sourcePackage) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return debver.Compare(a.version, b.version)
	})
	return out, nil
}

// stanza returns the binary's Packages stanza, without the blank line.
func (b *binary) stanza() string {
	if b.fixed != "" {
		return b.fixed
	}
	return b.control + fmt.Sprintf("Filename: %s\nSize: %d\nMD5sum: %s\nSHA256: %s\n", b.filename, b.size, md5Hex(b.deb), sha256Hex(b.deb))
}

// addIndex adds dir/name, dir/name.gz and dir/name.xz, and their by-hash
// copies when byHash is set.
// addPackages adds dir/Packages listing the binaries of arch (and "all").
func (sf *suiteFiles) addPackages(dir, arch string, bins []binary, byHash bool) error {
	var idx bytes.Buffer
	for _, b := range bins {
		if b.Arch == arch || b.Arch == "all" {
			idx.WriteString(b.stanza())
			idx.WriteByte('\n')
		}
	}
	return sf.addIndex(dir, "Packages", idx.Bytes(), byHash)
}

func (sf *suiteFiles) addIndex(dir, name string, content []byte, byHash bool) error {
	gz, err := gzipBytes(content)
	if err != nil {
		return fmt.Errorf("repogen: gzip %s/%s: %w", dir, name, err)
	}
	x, err := xzBytes(content)
	if err != nil {
		return fmt.Errorf("repogen: xz %s/%s: %w", dir, name, err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{name, content}, {name + ".gz", gz}, {name + ".xz", x}} {
		sf.indices[dir+"/"+f.name] = f.data
		if byHash {
			sf.byHash[dir+"/by-hash/MD5Sum/"+md5Hex(f.data)] = f.data
			sf.byHash[dir+"/by-hash/SHA256/"+sha256Hex(f.data)] = f.data
		}
	}
	if byHash {
		sf.keepDirs = append(sf.keepDirs, dir+"/by-hash")
	}
	return nil
}

// xzBytes compresses data with xz (default settings, CRC64 check).
func xzBytes(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := xz.NewWriter(&buf)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// subRelease returns the Release file of one component/architecture
// directory, as dak writes it.
func (r *Repo) subRelease(s *Suite, comp, arch string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "Archive: %s\n", s.Name)
	if r.Origin != "" {
		fmt.Fprintf(&b, "Origin: %s\n", r.Origin)
	}
	if r.Label != "" {
		fmt.Fprintf(&b, "Label: %s\n", r.Label)
	}
	if r.ByHash {
		b.WriteString("Acquire-By-Hash: yes\n")
	}
	fmt.Fprintf(&b, "Component: %s\nArchitecture: %s\n", comp, arch)
	return []byte(b.String())
}

// release returns the suite's Release file listing indices.
func (r *Repo) release(s *Suite, indices map[string][]byte) []byte {
	var b strings.Builder
	if r.Origin != "" {
		fmt.Fprintf(&b, "Origin: %s\n", r.Origin)
	}
	if r.Label != "" {
		fmt.Fprintf(&b, "Label: %s\n", r.Label)
	}
	suite, codename := cmp.Or(s.SuiteField, s.Name), cmp.Or(s.Codename, s.Name)
	fmt.Fprintf(&b, "Suite: %s\nCodename: %s\n", suite, codename)
	date := s.Date
	if date.IsZero() {
		date = time.Now()
	}
	fmt.Fprintf(&b, "Date: %s\n", date.UTC().Format(releaseTimeFormat))
	if !s.ValidUntil.IsZero() {
		fmt.Fprintf(&b, "Valid-Until: %s\n", s.ValidUntil.UTC().Format(releaseTimeFormat))
	}
	if r.ByHash {
		b.WriteString("Acquire-By-Hash: yes\n")
	}
	fmt.Fprintf(&b, "Architectures: %s\n", strings.Join(s.Architectures, " "))
	fmt.Fprintf(&b, "Components: %s\n", strings.Join(s.components(), " "))
	desc := s.Description
	if desc == "" {
		desc = strings.TrimSpace(r.Label + " " + s.Name)
	}
	fmt.Fprintf(&b, "Description: %s\n", desc)
	var names []string
	for n := range indices {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, h := range []struct {
		field string
		sum   func([]byte) string
	}{{"MD5Sum", md5Hex}, {"SHA256", sha256Hex}} {
		fmt.Fprintf(&b, "%s:\n", h.field)
		for _, n := range names {
			fmt.Fprintf(&b, " %s %8d %s\n", h.sum(indices[n]), len(indices[n]), n)
		}
	}
	return []byte(b.String())
}

// write puts the suite's files under dir: indices and by-hash copies, then
// Release, Release.gpg and InRelease; then removes files it did not write
// (but not old by-hash copies).
func (sf *suiteFiles) write(dir string, others []string) error {
	written := map[string]bool{}
	put := func(rel string, data []byte) error {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		written[p] = true
		if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, data) {
			return nil
		}
		return writeFileAtomic(p, data)
	}
	for _, m := range []map[string][]byte{sf.byHash, sf.indices} {
		names := make([]string, 0, len(m))
		for n := range m {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			if err := put(n, m[n]); err != nil {
				return err
			}
		}
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{"Release", sf.release}, {"Release.gpg", sf.relGPG}, {"InRelease", sf.inRel}} {
		if err := put(f.name, f.data); err != nil {
			return err
		}
	}
	// Remove what a previous Write left, keeping by-hash copies.
	var stale []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && slices.Contains(others, p) {
				return filepath.SkipDir
			}
			if d.Name() == "by-hash" {
				rel, _ := filepath.Rel(dir, p)
				if slices.Contains(sf.keepDirs, filepath.ToSlash(rel)) {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if !written[p] {
			stale = append(stale, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range stale {
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	return removeEmptyDirs(dir)
}

// removeEmptyDirs removes empty directories below (not including) root.
func removeEmptyDirs(root string) error {
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Deepest first.
	slices.SortFunc(dirs, func(a, b string) int {
		return strings.Count(b, string(os.PathSeparator)) - strings.Count(a, string(os.PathSeparator))
	})
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			return err
		}
		if len(entries) == 0 {
			if err := os.Remove(d); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeFileAtomic writes data to p (mode 0644) through a temporary file in
// the same directory and a rename.
func writeFileAtomic(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp, 0o644)
	}
	if werr == nil {
		werr = os.Rename(tmp, p)
	}
	if werr != nil {
		os.Remove(tmp)
		return werr
	}
	return nil
}
