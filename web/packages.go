package web

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/deb822"
	"github.com/aptsnap/aptsnap/debver"
	"github.com/aptsnap/aptsnap/index"
	"github.com/aptsnap/aptsnap/internal/lru"
)

// pkg is one stanza of a Packages index, reduced to what the UI shows.
type pkg struct {
	Name, Version, Arch string
}

// cmpPkg orders packages by name, architecture, then version.
func cmpPkg(a, b pkg) int {
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	if c := strings.Compare(a.Arch, b.Arch); c != 0 {
		return c
	}
	return debver.Compare(a.Version, b.Version)
}

// parsePackages returns the packages of an uncompressed Packages index,
// sorted by cmpPkg. The strings share one allocation holding only the three
// fields, not the index text.
func parsePackages(data []byte) ([]pkg, error) {
	type span struct{ n, v, a [2]int }
	var buf []byte
	var spans []span
	sc := deb822.NewScanner(data)
	add := func(b []byte) [2]int {
		s := len(buf)
		buf = append(buf, b...)
		return [2]int{s, len(buf)}
	}
	for sc.Scan() {
		name := sc.Field("Package")
		if len(name) == 0 {
			continue
		}
		spans = append(spans, span{add(name), add(sc.Field("Version")), add(sc.Field("Architecture"))})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	all := string(buf)
	out := make([]pkg, len(spans))
	for i, s := range spans {
		out[i] = pkg{all[s.n[0]:s.n[1]], all[s.v[0]:s.v[1]], all[s.a[0]:s.a[1]]}
	}
	if !slices.IsSortedFunc(out, cmpPkg) {
		slices.SortFunc(out, cmpPkg)
	}
	return out, nil
}

// scanPackages is parsePackages on a stream: it holds one stanza at a
// time, and keeps only the Package, Version and Architecture of each.
func scanPackages(r io.Reader) ([]pkg, error) {
	sc := deb822.NewStreamScanner(r)
	var out []pkg
	for sc.Scan() {
		name := strings.TrimSpace(string(sc.Field("Package")))
		if name == "" {
			continue
		}
		out = append(out, pkg{name, strings.TrimSpace(string(sc.Field("Version"))), strings.TrimSpace(string(sc.Field("Architecture")))})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(out, cmpPkg)
	return out, nil
}

// lookup returns the packages named name in a list sorted by cmpPkg.
func lookup(pkgs []pkg, name string) []pkg {
	i, _ := slices.BinarySearchFunc(pkgs, name, func(p pkg, n string) int { return strings.Compare(p.Name, n) })
	j := i
	for j < len(pkgs) && pkgs[j].Name == name {
		j++
	}
	return pkgs[i:j]
}

// pkgIndex is one binary Packages index of a suite: the variant we read.
type pkgIndex struct {
	Dir  string // e.g. "main/binary-amd64"
	Comp string // e.g. "main"
	File catalog.IndexFile
}

// packageIndices picks, for every <comp>/binary-<arch>/Packages of a suite,
// the variant cheapest to read (plain, then .gz, then .xz), sorted by Dir.
func packageIndices(files []catalog.IndexFile) []pkgIndex {
	rank := map[string]int{"Packages": 0, "Packages.gz": 1, "Packages.xz": 2}
	best := map[string]pkgIndex{}
	for _, f := range files {
		dir, base := path.Split(f.Path)
		dir = strings.TrimSuffix(dir, "/")
		r, ok := rank[base]
		if !ok || strings.Contains(dir, "/by-hash") {
			continue
		}
		i := strings.LastIndex(dir, "/binary-")
		if i <= 0 {
			continue
		}
		if cur, ok := best[dir]; ok && rank[path.Base(cur.File.Path)] <= r {
			continue
		}
		best[dir] = pkgIndex{Dir: dir, Comp: dir[:i], File: f}
	}
	out := make([]pkgIndex, 0, len(best))
	for _, p := range best {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b pkgIndex) int { return strings.Compare(a.Dir, b.Dir) })
	return out
}

// indexCache keeps parsed Packages indices by the digest of the file read
// (an index is immutable by digest), least recently used first out, bounded
// by the total number of packages held. Concurrent loads of one digest
// share one parse.
type indexCache struct {
	store blob.Store
	// dir holds the sidecars (see sidecar.go); none when empty.
	dir string
	// maxIndex bounds an index's uncompressed size.
	maxIndex int64
	pkgs     *lru.Cache[blob.Digest, []pkg]

	mu      sync.Mutex
	loading map[blob.Digest]*load

	parses   atomic.Int64 // indices parsed, for tests
	scans    atomic.Int64 // indices scanned for one package, for tests
	sidecars atomic.Int64 // sidecars written, for tests
}

type load struct {
	done chan struct{}
	pkgs []pkg
	err  error
}

func newIndexCache(store blob.Store, maxPackages int, dir string, maxIndex int64) *indexCache {
	if maxIndex <= 0 {
		maxIndex = index.DefaultMaxSize
	}
	return &indexCache{store: store, dir: dir, maxIndex: maxIndex, loading: map[blob.Digest]*load{},
		pkgs: lru.New[blob.Digest](int64(maxPackages), func(p []pkg) int64 { return int64(len(p)) })}
}

// get returns the parsed packages of a stored index file.
func (c *indexCache) get(ctx context.Context, f catalog.IndexFile) ([]pkg, error) {
	if pkgs, ok := c.pkgs.Get(f.SHA256); ok {
		return pkgs, nil
	}
	c.mu.Lock()
	if pkgs, ok := c.pkgs.Get(f.SHA256); ok { // loaded meanwhile: added before its load ended
		c.mu.Unlock()
		return pkgs, nil
	}
	if l, ok := c.loading[f.SHA256]; ok {
		c.mu.Unlock()
		select {
		case <-l.done:
			return l.pkgs, l.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	l := &load{done: make(chan struct{})}
	c.loading[f.SHA256] = l
	c.mu.Unlock()

	// The parse is not tied to one request: others may wait for it.
	data, err := c.read(context.WithoutCancel(ctx), f)
	if err == nil {
		c.parses.Add(1)
		l.pkgs, err = parsePackages(data)
		if err != nil {
			err = fmt.Errorf("%s: %w", f.Path, err)
		}
	}
	l.err = err
	if err == nil {
		c.pkgs.Add(f.SHA256, l.pkgs)
	}
	c.mu.Lock()
	delete(c.loading, f.SHA256)
	c.mu.Unlock()
	close(l.done)
	return l.pkgs, err
}

// find returns the packages named name in a stored index file: from the
// cache if the index is parsed already, else from its sidecar on disk
// (written on first need), else by scanning it without keeping it (the
// package page looks at every distinct index of an archive; parsing them
// all into the cache would only evict what the diff pages use).
func (c *indexCache) find(ctx context.Context, f catalog.IndexFile, name string) ([]pkg, error) {
	if pkgs, ok := c.pkgs.Get(f.SHA256); ok {
		return slices.Clone(lookup(pkgs, name)), nil
	}
	if c.dir != "" {
		out, err := lookupSidecar(c.dir, f.SHA256, name)
		if err == nil {
			return out, nil
		}
		pkgs, err := c.sidecar(ctx, f)
		if err != nil {
			return nil, err
		}
		return slices.Clone(lookup(pkgs, name)), nil
	}
	data, err := c.read(ctx, f)
	if err != nil {
		return nil, err
	}
	c.scans.Add(1)
	var out []pkg
	sc := deb822.NewScanner(data)
	for sc.Scan() {
		if string(sc.Field("Package")) == name {
			out = append(out, pkg{name, string(sc.Field("Version")), string(sc.Field("Architecture"))})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	slices.SortFunc(out, cmpPkg)
	return out, nil
}

// sidecar reads an index and writes its sidecar, returning its packages.
// The index is streamed, not held: a list is written for every new index
// right after a pulse, and a full Debian Packages is 50 MB. A sidecar that
// cannot be written (a full disk) only costs speed.
func (c *indexCache) sidecar(ctx context.Context, f catalog.IndexFile) ([]pkg, error) {
	rc, _, err := c.store.Open(ctx, f.SHA256)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	defer rc.Close()
	r, err := index.Decompress(f.Path, rc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	lr := &io.LimitedReader{R: r, N: c.maxIndex + 1}
	pkgs, err := scanPackages(lr)
	if err == nil && lr.N == 0 {
		err = fmt.Errorf("%w: decompresses to more than %d bytes", index.ErrTooLarge, c.maxIndex)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	if writeSidecar(c.dir, f.SHA256, pkgs) == nil {
		c.sidecars.Add(1)
	}
	return pkgs, nil
}

// warm writes the sidecars an index file lacks.
func (c *indexCache) warm(ctx context.Context, f catalog.IndexFile) error {
	if c.dir == "" {
		return nil
	}
	if _, err := os.Stat(sidecarPath(c.dir, f.SHA256)); err == nil {
		return nil
	}
	_, err := c.sidecar(ctx, f)
	return err
}

// read returns the uncompressed content of a stored index file, reading a
// plain one in a single allocation of its size.
func (c *indexCache) read(ctx context.Context, f catalog.IndexFile) ([]byte, error) {
	if path.Base(f.Path) != "Packages" {
		return index.Read(ctx, c.store, f.Path, f.SHA256, c.maxIndex)
	}
	rc, info, err := c.store.Open(ctx, f.SHA256)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	defer rc.Close()
	data := make([]byte, info.Size)
	if _, err := io.ReadFull(rc, data); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	return data, nil
}

// Change kinds.
const (
	added      = "added"
	removed    = "removed"
	upgraded   = "upgraded"
	downgraded = "downgraded"
)

// change is one package that differs between two snapshots.
type change struct {
	Suite, Comp string
	Name, Arch  string
	From, To    string // empty when absent
	Kind        string
}

// cursor walks several package lists, each sorted by cmpPkg, as one list
// of (name, architecture) with the highest version of each.
type cursor struct {
	lists [][]pkg
	pos   []int
}

func newCursor(lists [][]pkg) *cursor { return &cursor{lists: lists, pos: make([]int, len(lists))} }

// next returns the next package and architecture in order, at its highest version.
func (c *cursor) next() (pkg, bool) {
	var min *pkg
	for i, l := range c.lists {
		if c.pos[i] >= len(l) {
			continue
		}
		h := &l[c.pos[i]]
		if min == nil || h.Name < min.Name || h.Name == min.Name && h.Arch < min.Arch {
			min = h
		}
	}
	if min == nil {
		return pkg{}, false
	}
	out := pkg{Name: min.Name, Arch: min.Arch}
	for i, l := range c.lists {
		j := c.pos[i]
		for j < len(l) && l[j].Name == out.Name && l[j].Arch == out.Arch {
			if out.Version == "" || l[j].Version != out.Version && debver.Compare(l[j].Version, out.Version) > 0 {
				out.Version = l[j].Version
			}
			j++
		}
		c.pos[i] = j
	}
	return out, true
}

// diffLists compares two sides, each several package lists sorted by
// cmpPkg (the indices of one component, one per architecture), and returns
// what changed, sorted by name then architecture. A package present in
// several versions counts as its highest. Suite and Comp are left empty.
func diffLists(from, to [][]pkg) []change {
	a, b := newCursor(from), newCursor(to)
	pa, oka := a.next()
	pb, okb := b.next()
	var out []change
	for oka || okb {
		c := 0
		switch {
		case !oka:
			c = 1
		case !okb:
			c = -1
		case pa.Name != pb.Name:
			c = strings.Compare(pa.Name, pb.Name)
		default:
			c = strings.Compare(pa.Arch, pb.Arch)
		}
		switch {
		case c < 0:
			out = append(out, change{Name: pa.Name, Arch: pa.Arch, From: pa.Version, Kind: removed})
			pa, oka = a.next()
		case c > 0:
			out = append(out, change{Name: pb.Name, Arch: pb.Arch, To: pb.Version, Kind: added})
			pb, okb = b.next()
		default:
			if pa.Version != pb.Version {
				switch debver.Compare(pa.Version, pb.Version) {
				case -1:
					out = append(out, change{Name: pa.Name, Arch: pa.Arch, From: pa.Version, To: pb.Version, Kind: upgraded})
				case 1:
					out = append(out, change{Name: pa.Name, Arch: pa.Arch, From: pa.Version, To: pb.Version, Kind: downgraded})
				}
			}
			pa, oka = a.next()
			pb, okb = b.next()
		}
	}
	return out
}

// diffPackages is diffLists of two unsorted lists.
func diffPackages(from, to []pkg) []change {
	sorted := func(l []pkg) [][]pkg {
		l = slices.Clone(l)
		slices.SortFunc(l, cmpPkg)
		return [][]pkg{l}
	}
	return diffLists(sorted(from), sorted(to))
}

func cmpChange(x, y change) int {
	for _, c := range [][2]string{{x.Suite, y.Suite}, {x.Comp, y.Comp}, {x.Name, y.Name}, {x.Arch, y.Arch}} {
		if n := strings.Compare(c[0], c[1]); n != 0 {
			return n
		}
	}
	return 0
}
