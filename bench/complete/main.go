// Command complete adds to a fixture built by make-upstream
// (../shared/fixtures/make-upstream, which writes Packages only) the
// indices Debian publishes beside Packages, and re-signs each suite's
// Release with the fixture's own key, so that a pulse with every index on
// has something to mirror (bench/complete.sh, "Complete snapshots" in
// BENCHMARKS.md). Per suite and component, as Debian bookworm's Release
// lists them:
//
//	<comp>/i18n/Translation-en                      listed; .xz served
//	<comp>/Contents-amd64, <comp>/Contents-all      listed; .gz served
//	<comp>/Contents-udeb-amd64                      listed; .gz served (-installer)
//	<comp>/dep11/Components-amd64.yml               listed; .gz and .xz served
//	<comp>/dep11/icons-{48x48,64x64,128x128}.tar    listed; .tar.gz served
//	<comp>/debian-installer/binary-amd64/Packages   plain, .gz, .xz and Release served,
//	                                                its udebs written to the pool (-installer)
//
// with by-hash copies (hard links) of every served file. Everything is
// made from the suite's Packages and seeded by package name (and version
// where a real index would change with it), so the same Packages give the
// same bytes:
//
//   - Translation-en has a record per (Package, Description-md5) of the
//     Packages stanzas, with their Description-md5 (or, where a stanza has
//     none, the MD5 APT computes of its Description), the short
//     description and a made-up long one sampled from the words of every
//     short description in the fixture. make-upstream's churn only moves
//     versions, so Translation-en stays the same across generations, as a
//     stable release's does between point releases.
//   - Contents lists copyright, changelog.Debian.gz and a heavy-tailed
//     number of made-up paths per package (median a handful, a few
//     packages thousands), arch:all packages in Contents-all as bookworm
//     does. About a third of the packages ship a path naming their version
//     (a soname, a Python dist-info), so churn changes Contents every
//     generation.
//   - dep11 has a component for 12 % of the packages (its Releases entry
//     carries the package's version, so it churns too) and icons, in three
//     sizes, for 3 %; icons are incompressible bytes behind a PNG
//     signature.
//   - The installer index has a udeb for a fixed fraction of each suite's
//     packages (0.6 % bookworm, 8 % bookworm-updates, 33 % bookworm-security,
//     the ratio of Debian's debian-installer Packages to Packages), at the
//     deb's version, so udebs churn with their debs.
//
// Sizes per package follow Debian bookworm main's (its InRelease in this
// machine's apt lists, 2026-11-30): Translation-en 32.7 MB (6.1 MB .xz),
// Contents-amd64 148 MB (11.6 MB .gz), Contents-all 520 MB (34 MB .gz),
// Components-amd64.yml 20 MB (6.9 MB .gz, 4.5 MB .xz), icons tarballs 3.6 +
// 7.3 + 11 MB, for 63,440 packages; with make-upstream's --limit they scale
// with the package count. The program prints what it wrote, per package.
//
// A suite whose Release already lists <comp>/i18n/Translation-en is left
// as it is (make-upstream rebuilds dists/ at every generation, so running
// this after it is idempotent). Needs gpg and xz.
//
//	go run ./bench/complete -fixture DIR [-installer=false] [-dep11=false]
package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
)

const arch = "amd64"

// udebShare is the share of a suite's packages that get a udeb.
var udebShare = map[string]float64{"bookworm": 0.006, "bookworm-updates": 0.08, "bookworm-security": 0.33}

func main() {
	fixture := flag.String("fixture", "", "fixture directory written by make-upstream --out")
	installer := flag.Bool("installer", true, "add debian-installer Packages, udebs and Contents-udeb")
	dep11 := flag.Bool("dep11", true, "add dep11 Components and icons")
	flag.Parse()
	if *fixture == "" {
		flag.Usage()
		os.Exit(2)
	}
	log.SetFlags(0)
	log.SetPrefix("complete: ")
	t0 := time.Now()
	releases, err := filepath.Glob(filepath.Join(*fixture, "*", "dists", "*", "Release"))
	if err != nil || len(releases) == 0 {
		log.Fatalf("no <archive>/dists/<suite>/Release under %s", *fixture)
	}
	slices.Sort(releases)
	suites := make([]*suite, 0, len(releases))
	for _, r := range releases {
		s, err := loadSuite(r)
		if err != nil {
			log.Fatal(err)
		}
		suites = append(suites, s)
	}
	corpus := newCorpus(suites) // every suite's words, whichever is completed
	for _, s := range suites {
		if s.done() {
			log.Printf("%s/%s: already complete", s.archive, s.name)
			continue
		}
		if err := s.complete(corpus, *installer, *dep11); err != nil {
			log.Fatalf("%s/%s: %v", s.archive, s.name, err)
		}
		if err := s.writeRelease(); err != nil {
			log.Fatalf("%s/%s: %v", s.archive, s.name, err)
		}
		if err := sign(filepath.Join(*fixture, ".gnupg"), s.dist); err != nil {
			log.Fatalf("%s/%s: sign: %v", s.archive, s.name, err)
		}
		s.report()
	}
	log.Printf("done in %.1fs", time.Since(t0).Seconds())
}

// ---- the fixture's suites ---------------------------------------------------

type pkg struct {
	name, version, arch, section, source, short, md5, maint, homepage string
}

type entry struct {
	md5, sha string
	size     int64
}

type suite struct {
	archive, name, dist, root string
	comps                     []string
	header                    []string // Release fields before MD5Sum:
	files                     map[string]entry
	pkgs                      map[string][]pkg // per component
	wrote                     []string         // report lines
}

func loadSuite(release string) (*suite, error) {
	dist := filepath.Dir(release)
	s := &suite{
		name: filepath.Base(dist), dist: dist, root: filepath.Dir(filepath.Dir(dist)),
		files: map[string]entry{}, pkgs: map[string][]pkg{},
	}
	s.archive = filepath.Base(s.root)
	data, err := os.ReadFile(release)
	if err != nil {
		return nil, err
	}
	section := ""
	for _, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		switch {
		case line == "MD5Sum:" || line == "SHA256:":
			section = line
		case strings.HasPrefix(line, " ") && section != "":
			f := strings.Fields(line)
			if len(f) != 3 {
				return nil, fmt.Errorf("%s: bad line %q", release, line)
			}
			var size int64
			fmt.Sscan(f[1], &size)
			e := s.files[f[2]]
			e.size = size
			if section == "MD5Sum:" {
				e.md5 = f[0]
			} else {
				e.sha = f[0]
			}
			s.files[f[2]] = e
		case strings.HasSuffix(line, ":") && !strings.Contains(line, " "):
			section = "other" // a hash section we do not rewrite: dropped
		default:
			if section != "" {
				return nil, fmt.Errorf("%s: field %q after the checksums", release, line)
			}
			s.header = append(s.header, line)
			if v, ok := strings.CutPrefix(line, "Components: "); ok {
				s.comps = strings.Fields(v)
			}
		}
	}
	for _, c := range s.comps {
		p := filepath.Join(dist, c, "binary-"+arch, "Packages")
		pk, err := readPackages(p)
		if err != nil {
			return nil, err
		}
		s.pkgs[c] = pk
	}
	return s, nil
}

func (s *suite) done() bool {
	for _, c := range s.comps {
		if _, ok := s.files[c+"/i18n/Translation-en"]; ok {
			return true
		}
	}
	return false
}

func readPackages(p string) ([]pkg, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []pkg
	var cur pkg
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	flush := func() {
		if cur.name != "" {
			if cur.source == "" {
				cur.source = cur.name
			}
			out = append(out, cur)
		}
		cur = pkg{}
	}
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			flush()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		switch k {
		case "Package":
			cur.name = v
		case "Version":
			cur.version = v
		case "Architecture":
			cur.arch = v
		case "Section":
			cur.section = v
		case "Source":
			cur.source, _, _ = strings.Cut(v, " ")
		case "Description":
			cur.short = v
		case "Description-md5":
			cur.md5 = v
		case "Maintainer":
			cur.maint = v
		case "Homepage":
			cur.homepage = v
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	for i := range out {
		if out[i].md5 == "" { // what APT computes when Packages has no Description-md5
			out[i].md5 = fmt.Sprintf("%x", md5.Sum([]byte(out[i].short+"\n")))
		}
		if out[i].section == "" {
			out[i].section = "misc"
		}
	}
	return out, nil
}

// ---- deterministic randomness and text ----------------------------------------

func rng(key string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(key))
	return rand.New(rand.NewPCG(h.Sum64(), 0x9e3779b97f4a7c15))
}

// lognormal returns a count with the given median and spread (sigma of
// its logarithm), at least lo and at most hi.
func lognormal(r *rand.Rand, median, sigma float64, lo, hi int) int {
	n := int(median * math.Exp(sigma*r.NormFloat64()))
	return min(max(n, lo), hi)
}

type corpus struct {
	words  []string // every word of every short description, with repeats
	idents []string // the same, lower case, [a-z0-9] only, 3+ letters
}

func newCorpus(suites []*suite) *corpus {
	c := &corpus{}
	for _, s := range suites {
		for _, comp := range s.comps {
			for _, p := range s.pkgs[comp] {
				for _, w := range strings.Fields(p.short) {
					c.words = append(c.words, w)
					id := strings.Map(func(r rune) rune {
						switch {
						case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
							return r
						case r >= 'A' && r <= 'Z':
							return r + 'a' - 'A'
						}
						return -1
					}, w)
					if len(id) >= 3 {
						c.idents = append(c.idents, id)
					}
				}
			}
		}
	}
	if len(c.words) == 0 {
		c.words = []string{"stand-in"}
	}
	if len(c.idents) == 0 {
		c.idents = []string{"standin"}
	}
	return c
}

func (c *corpus) ident(r *rand.Rand) string { return c.idents[r.IntN(len(c.idents))] }

// prose returns sentences of corpus words, at least n bytes: runs of a
// few consecutive words of the short descriptions, so that it repeats
// itself about as much as Debian's long descriptions do.
func (c *corpus) prose(r *rand.Rand, n int) string {
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		k, first := 5+r.IntN(14), true
		for k > 0 {
			i, run := r.IntN(len(c.words)), 2+r.IntN(6)
			for j := i; j < min(i+run, len(c.words)) && k > 0; j++ {
				w := c.words[j]
				if first {
					if w[0] >= 'a' && w[0] <= 'z' {
						w = string(w[0]-'a'+'A') + w[1:]
					}
					first = false
				} else {
					b.WriteByte(' ')
				}
				b.WriteString(w)
				k--
			}
		}
		b.WriteByte('.')
	}
	return b.String()
}

// wrap formats a paragraph as a deb822 continuation: lines of at most
// 72 columns, each after a space.
func wrap(b *strings.Builder, text, indent string) {
	col := 0
	for _, w := range strings.Fields(text) {
		if col > 0 && col+1+len(w) > 72 {
			b.WriteByte('\n')
			col = 0
		}
		if col == 0 {
			b.WriteString(indent)
		} else {
			b.WriteByte(' ')
			col++
		}
		b.WriteString(w)
		col += len(w)
	}
	b.WriteByte('\n')
}

// boilerplate is the sentence Debian's descriptions of such a package
// usually end with.
func boilerplate(name string) string {
	switch {
	case strings.HasSuffix(name, "-dev"):
		return "This package contains the development files: headers, the static library and the pkg-config file."
	case strings.HasSuffix(name, "-doc"):
		return "This package contains the documentation in HTML format."
	case strings.HasSuffix(name, "-data"), strings.HasSuffix(name, "-common"):
		return "This package contains the architecture-independent data files."
	case strings.HasPrefix(name, "python3-"):
		return "This package installs the library for Python 3."
	case strings.HasPrefix(name, "golang-"):
		return "This package contains the source code, for building other Go packages."
	case strings.HasPrefix(name, "node-"):
		return "Node.js is an event-based server-side JavaScript engine."
	case strings.HasPrefix(name, "ruby-"):
		return "This package provides the library for the Ruby interpreter."
	case strings.HasPrefix(name, "r-cran-"), strings.HasPrefix(name, "r-bioc-"):
		return "This package is part of the GNU R statistical computing environment."
	case strings.HasPrefix(name, "lib"):
		return "This package contains the shared library."
	}
	return ""
}

// ---- writing files ----------------------------------------------------------

// add writes rel (relative to the suite's dist directory) and lists it,
// served or not; served files get by-hash links.
func (s *suite) add(rel string, data []byte, served bool) error {
	m, h := md5.Sum(data), sha256.Sum256(data)
	e := entry{md5: hex.EncodeToString(m[:]), sha: hex.EncodeToString(h[:]), size: int64(len(data))}
	s.files[rel] = e
	s.wrote = append(s.wrote, fmt.Sprintf("%-48s %12d %s", rel, len(data), map[bool]string{true: "served", false: "listed"}[served]))
	if !served {
		return nil
	}
	p := filepath.Join(s.dist, rel)
	if err := writeFile(p, data); err != nil {
		return err
	}
	for _, bh := range []string{"SHA256/" + e.sha, "MD5Sum/" + e.md5} {
		l := filepath.Join(filepath.Dir(p), "by-hash", bh)
		if err := os.MkdirAll(filepath.Dir(l), 0o755); err != nil {
			return err
		}
		os.Remove(l)
		if err := os.Link(p, l); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}

func gz(data []byte) []byte {
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression) // gzip -9n, as dak
	w.Write(data)
	w.Close()
	return b.Bytes()
}

func xz(data []byte) ([]byte, error) {
	cmd := exec.Command("xz", "-6", "-T1", "-c")
	cmd.Stdin = bytes.NewReader(data)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("xz: %v: %s", err, errb.String())
	}
	return out.Bytes(), nil
}

// variants lists rel and serves those of its compressions named.
func (s *suite) variants(rel string, data []byte, plainServed bool, comps ...string) error {
	if err := s.add(rel, data, plainServed); err != nil {
		return err
	}
	for _, c := range comps {
		var v []byte
		var err error
		switch c {
		case ".gz":
			v = gz(data)
		case ".xz":
			v, err = xz(data)
		}
		if err != nil {
			return err
		}
		if err := s.add(rel+c, v, true); err != nil {
			return err
		}
	}
	return nil
}

func (s *suite) complete(c *corpus, installer, dep11 bool) error {
	for _, comp := range s.comps {
		pkgs := s.pkgs[comp]
		if err := s.variants(comp+"/i18n/Translation-en", translation(c, pkgs), false, ".xz"); err != nil {
			return err
		}
		var debAll, debArch []pkg
		for _, p := range pkgs {
			if p.arch == "all" {
				debAll = append(debAll, p)
			} else {
				debArch = append(debArch, p)
			}
		}
		if err := s.variants(comp+"/Contents-"+arch, contents(c, debArch, false), false, ".gz"); err != nil {
			return err
		}
		if err := s.variants(comp+"/Contents-all", contents(c, debAll, false), false, ".gz"); err != nil {
			return err
		}
		if dep11 {
			yml, icons := components(c, s.name, comp, pkgs)
			if err := s.variants(comp+"/dep11/Components-"+arch+".yml", yml, false, ".gz", ".xz"); err != nil {
				return err
			}
			for _, size := range []string{"48x48", "64x64", "128x128"} {
				t, err := iconsTar(icons, size)
				if err != nil {
					return err
				}
				if err := s.variants(comp+"/dep11/icons-"+size+".tar", t, false, ".gz"); err != nil {
					return err
				}
			}
		}
		if installer {
			udebs, err := s.udebs(comp, pkgs)
			if err != nil {
				return err
			}
			var idx strings.Builder
			for _, u := range udebs {
				idx.WriteString(u.stanza)
				idx.WriteByte('\n')
			}
			dir := comp + "/debian-installer/binary-" + arch
			if err := s.variants(dir+"/Packages", []byte(idx.String()), true, ".gz", ".xz"); err != nil {
				return err
			}
			sub := fmt.Sprintf("Archive: %s\nOrigin: Debian\nLabel: Debian\nComponent: %s\nArchitecture: %s\n", s.name, comp, arch)
			if err := s.add(dir+"/Release", []byte(sub), true); err != nil {
				return err
			}
			var ups []pkg
			for _, u := range udebs {
				ups = append(ups, u.pkg)
			}
			if err := s.variants(comp+"/Contents-udeb-"+arch, contents(c, ups, true), false, ".gz"); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *suite) writeRelease() error {
	var b strings.Builder
	for _, h := range s.header {
		b.WriteString(h + "\n")
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range s.files {
			if !yield(k) {
				return
			}
		}
	})
	b.WriteString("MD5Sum:\n")
	for _, n := range names {
		fmt.Fprintf(&b, " %s %8d %s\n", s.files[n].md5, s.files[n].size, n)
	}
	b.WriteString("SHA256:\n")
	for _, n := range names {
		fmt.Fprintf(&b, " %s %8d %s\n", s.files[n].sha, s.files[n].size, n)
	}
	return writeFile(filepath.Join(s.dist, "Release"), []byte(b.String()))
}

// sign writes InRelease and Release.gpg with the fixture's key, as
// make-upstream does.
func sign(home, dist string) error {
	rel := filepath.Join(dist, "Release")
	base := []string{"--homedir", home, "--batch", "--yes", "--digest-algo", "SHA256"}
	for _, args := range [][]string{
		{"--clearsign", "-o", filepath.Join(dist, "InRelease"), rel},
		{"--detach-sign", "--armor", "-o", filepath.Join(dist, "Release.gpg"), rel},
	} {
		if out, err := exec.Command("gpg", append(slices.Clone(base), args...)...).CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
	}
	return nil
}

func (s *suite) report() {
	n := 0
	for _, c := range s.comps {
		n += len(s.pkgs[c])
	}
	fmt.Printf("%s/%s: %d packages\n", s.archive, s.name, n)
	for _, w := range s.wrote {
		var size int
		f := strings.Fields(w)
		fmt.Sscan(f[1], &size)
		fmt.Printf("  %s  %6.0f B/package\n", w, float64(size)/float64(max(n, 1)))
	}
}

// ---- Translation-en ---------------------------------------------------------

func translation(c *corpus, pkgs []pkg) []byte {
	type rec struct{ name, md5, short string }
	seen := map[[2]string]bool{}
	var recs []rec
	for _, p := range pkgs {
		k := [2]string{p.name, p.md5}
		if !seen[k] {
			seen[k] = true
			recs = append(recs, rec{p.name, p.md5, p.short})
		}
	}
	slices.SortFunc(recs, func(a, b rec) int {
		return strings.Compare(a.name+" "+a.md5, b.name+" "+b.md5)
	})
	var b strings.Builder
	for _, t := range recs {
		r := rng("tr/" + t.name + "/" + t.md5)
		fmt.Fprintf(&b, "Package: %s\nDescription-md5: %s\nDescription-en: %s\n", t.name, t.md5, t.short)
		n := 50 + int(r.ExpFloat64()*200)
		paras := 1 + r.IntN(3)
		for i := range paras {
			if i > 0 {
				b.WriteString(" .\n")
			}
			wrap(&b, c.prose(r, min(n/paras, 6000)), " ")
		}
		if bp := boilerplate(t.name); bp != "" {
			b.WriteString(" .\n")
			wrap(&b, bp, " ")
		}
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// ---- Contents ----------------------------------------------------------------

// kindRoot is where a package of that name keeps most of its files, and
// the extension they have.
func kindRoot(c *corpus, r *rand.Rand, p pkg, udeb bool) (string, string) {
	n := p.name
	switch {
	case udeb:
		return "lib/debian-installer.d", ""
	case strings.HasSuffix(n, "-dev"):
		return "usr/include/" + strings.TrimSuffix(strings.TrimPrefix(n, "lib"), "-dev"), ".h"
	case strings.HasSuffix(n, "-doc"):
		return "usr/share/doc/" + n + "/html", ".html"
	case strings.HasPrefix(n, "python3-"):
		return "usr/lib/python3/dist-packages/" + strings.TrimPrefix(n, "python3-"), ".py"
	case strings.HasPrefix(n, "golang-"):
		return "usr/share/gocode/src/github.com/" + c.ident(r) + "/" + strings.TrimPrefix(n, "golang-"), ".go"
	case strings.HasPrefix(n, "node-"):
		return "usr/share/nodejs/" + strings.TrimPrefix(n, "node-"), ".js"
	case strings.HasPrefix(n, "ruby-"):
		return "usr/share/rubygems-integration/all/gems/" + strings.TrimPrefix(n, "ruby-"), ".rb"
	case strings.HasPrefix(n, "r-cran-"):
		return "usr/lib/R/site-library/" + strings.TrimPrefix(n, "r-cran-"), ".R"
	case strings.HasPrefix(n, "fonts-"):
		return "usr/share/fonts/truetype/" + strings.TrimPrefix(n, "fonts-"), ".ttf"
	case strings.HasSuffix(n, "-perl"):
		return "usr/share/perl5/" + strings.TrimSuffix(strings.TrimPrefix(n, "lib"), "-perl"), ".pm"
	case strings.HasPrefix(n, "lib"):
		return "usr/lib/x86_64-linux-gnu/" + n, ".so"
	case p.arch == "all":
		return "usr/share/" + n, []string{".png", ".xml", ".txt", ".svg", ".json", ""}[r.IntN(6)]
	}
	return "usr/lib/" + n, []string{"", ".so", ".conf", ".dat"}[r.IntN(4)]
}

// paths returns a package's files. The package name seeds them; a third
// of the packages also ship files whose path names the version.
func paths(c *corpus, p pkg, udeb bool) []string {
	r := rng("contents/" + p.name)
	var out []string
	median, sigma := 12.0, 1.7
	if p.arch == "all" {
		median = 42
	}
	if udeb {
		median, sigma = 10, 1.0
	} else {
		out = append(out, "usr/share/doc/"+p.name+"/copyright", "usr/share/doc/"+p.name+"/changelog.Debian.gz")
	}
	n := lognormal(r, median, sigma, 1, 40000)
	root, ext := kindRoot(c, r, p, udeb)
	if !udeb && p.arch != "all" && r.IntN(3) == 0 {
		out = append(out, "usr/bin/"+p.name, "usr/share/man/man1/"+p.name+".1.gz")
	}
	dirs := []string{root}
	for len(dirs) < 1+n/15 {
		parent := dirs[r.IntN(len(dirs))]
		dirs = append(dirs, parent+"/"+c.ident(r))
	}
	for range n {
		out = append(out, dirs[r.IntN(len(dirs))]+"/"+c.ident(r)+ext)
	}
	if r.IntN(8) == 0 && !udeb { // translations of the package's messages
		for range 3 + r.IntN(40) {
			out = append(out, "usr/share/locale/"+[]string{"de", "fr", "es", "it", "ja", "pt_BR", "ru", "uk", "pl", "cs", "sv", "nl", "zh_CN", "zh_TW", "ko", "fi", "da", "hu", "tr", "ca"}[r.IntN(20)]+"/LC_MESSAGES/"+p.name+".mo")
		}
	}
	if r.IntN(3) == 0 { // a path that names the version: churns with it
		v := p.version
		if _, after, ok := strings.Cut(v, ":"); ok {
			v = after
		}
		v = strings.NewReplacer("~", ".", "+", ".").Replace(v)
		switch {
		case strings.HasPrefix(p.name, "python3-"):
			d := "usr/lib/python3/dist-packages/" + strings.TrimPrefix(p.name, "python3-") + "-" + v + ".dist-info/"
			out = append(out, d+"METADATA", d+"RECORD", d+"WHEEL", d+"top_level.txt", d+"INSTALLER")
		case strings.HasPrefix(p.name, "lib"):
			out = append(out, "usr/lib/x86_64-linux-gnu/"+strings.TrimSuffix(p.name, "-dev")+".so."+v)
		default:
			out = append(out, root+"/"+p.name+"-"+v+"/VERSION")
		}
	}
	return out
}

func contents(c *corpus, pkgs []pkg, udeb bool) []byte {
	type line struct{ path, owner string }
	var lines []line
	for _, p := range pkgs {
		owner := p.section + "/" + p.name
		for _, f := range paths(c, p, udeb) {
			lines = append(lines, line{f, owner})
		}
	}
	slices.SortFunc(lines, func(a, b line) int {
		if x := strings.Compare(a.path, b.path); x != 0 {
			return x
		}
		return strings.Compare(a.owner, b.owner)
	})
	var b bytes.Buffer
	for i := 0; i < len(lines); {
		j := i + 1
		owners := []string{lines[i].owner}
		for ; j < len(lines) && lines[j].path == lines[i].path; j++ {
			if o := lines[j].owner; o != owners[len(owners)-1] {
				owners = append(owners, o)
			}
		}
		fmt.Fprintf(&b, "%-59s %s\n", lines[i].path, strings.Join(owners, ","))
		i = j
	}
	return b.Bytes()
}

// ---- dep11 -------------------------------------------------------------------

type icon struct {
	name string
	pkg  string
}

var dep11Langs = []string{"de", "fr", "es", "it", "ja", "pt_BR", "ru", "uk", "pl", "cs", "sv", "nl", "zh_CN", "zh_TW", "ko", "fi", "da", "hu", "tr", "ca", "eu", "gl", "sk", "sl"}

// components returns the Components-<arch>.yml of a suite's component
// and the icons it names.
func components(c *corpus, suiteName, comp string, pkgs []pkg) ([]byte, []icon) {
	var b strings.Builder
	var icons []icon
	fmt.Fprintf(&b, "---\nFile: DEP-11\nVersion: '0.12'\nOrigin: debian-%s-%s\nMediaBaseUrl: https://appstream.debian.org/media/pool\nPriority: 30\n", suiteName, comp)
	for _, p := range pkgs {
		h := fnv.New32a()
		h.Write([]byte("dep11/" + p.name))
		pick := h.Sum32() % 1000
		if pick >= 120 {
			continue
		}
		r := rng("dep11/" + p.name)
		id := "org.debian." + strings.ReplaceAll(p.name, "+", "_")
		kind := []string{"desktop-application", "console-application", "font", "addon", "generic"}[r.IntN(5)]
		fmt.Fprintf(&b, "---\nType: %s\nID: %s\nPackage: %s\nName:\n  C: %s\n", kind, id, p.name, p.name)
		langs := r.Perm(len(dep11Langs))[:r.IntN(9)]
		for _, l := range langs {
			fmt.Fprintf(&b, "  %s: %s\n", dep11Langs[l], yamlStr(c.prose(r, 8)))
		}
		fmt.Fprintf(&b, "Summary:\n  C: %s\n", yamlStr(p.short))
		for _, l := range langs {
			fmt.Fprintf(&b, "  %s: %s\n", dep11Langs[l], yamlStr(c.prose(r, 30)))
		}
		b.WriteString("Description:\n  C: >-\n")
		for range 1 + r.IntN(3) {
			wrap(&b, "<p>"+c.prose(r, 60+r.IntN(300))+"</p>", "    ")
		}
		for _, l := range langs {
			fmt.Fprintf(&b, "  %s: >-\n", dep11Langs[l])
			wrap(&b, "<p>"+c.prose(r, 60+r.IntN(250))+"</p>", "    ")
		}
		fmt.Fprintf(&b, "ProjectLicense: %s\n", []string{"GPL-2.0+", "GPL-3.0+", "MIT", "LGPL-2.1+", "Apache-2.0", "BSD-3-Clause"}[r.IntN(6)])
		home := p.homepage
		if home == "" {
			home = "https://" + c.ident(r) + ".example.org/"
		}
		fmt.Fprintf(&b, "Url:\n  homepage: %s\n", home)
		fmt.Fprintf(&b, "Categories:\n- %s\n", []string{"Game", "Utility", "Development", "Office", "Graphics", "Network", "AudioVideo", "Science", "Education", "System"}[r.IntN(10)])
		b.WriteString("Keywords:\n  C:\n")
		for range 1 + r.IntN(6) {
			fmt.Fprintf(&b, "  - %s\n", c.ident(r))
		}
		if kind == "desktop-application" {
			fmt.Fprintf(&b, "Launchable:\n  desktop-id:\n  - %s.desktop\n", id)
		}
		if pick < 30 {
			name := p.name + "_" + p.name + ".png"
			icons = append(icons, icon{name, p.name})
			fmt.Fprintf(&b, "Icon:\n  cached:\n  - name: %s\n    width: 48\n    height: 48\n  - name: %s\n    width: 64\n    height: 64\n  - name: %s\n    width: 128\n    height: 128\n  stock: %s\n", name, name, name, p.name)
		}
		// the version moves with the package: dep11 churns with the archive
		vh := fnv.New32a()
		vh.Write([]byte(p.version))
		fmt.Fprintf(&b, "Releases:\n- version: %s\n  type: stable\n  unix-timestamp: %d\n", p.version, 1500000000+vh.Sum32()%200000000)
		if kind == "desktop-application" {
			b.WriteString("Screenshots:\n")
			pre := p.source[:1]
			if strings.HasPrefix(p.source, "lib") && len(p.source) > 3 {
				pre = p.source[:4]
			}
			for i := range 1 + r.IntN(3) {
				base := fmt.Sprintf("%s/%s/%s/%x/screenshots", pre, p.source, id, r.Uint32())
				if i == 0 {
					b.WriteString("- default: true\n  thumbnails:\n")
				} else {
					b.WriteString("- thumbnails:\n")
				}
				for _, wh := range [][2]int{{1248, 702}, {752, 423}, {624, 351}, {224, 126}} {
					fmt.Fprintf(&b, "  - url: %s/image-%d_%dx%d@1.png\n    width: %d\n    height: %d\n", base, i+1, wh[0], wh[1], wh[0], wh[1])
				}
				fmt.Fprintf(&b, "  source-image:\n    url: %s/image-%d_orig.png\n    width: 1920\n    height: 1080\n", base, i+1)
			}
		}
	}
	return []byte(b.String()), icons
}

// yamlStr quotes s where a plain YAML scalar could not hold it.
func yamlStr(s string) string {
	if s == "" || strings.ContainsAny(s[:1], "-?:,[]{}#&*!|>'\"%@`") || strings.Contains(s, ": ") || strings.Contains(s, " #") || strings.HasSuffix(s, ":") {
		return "'" + strings.ReplaceAll(s, "'", "''") + "'"
	}
	return s
}

// iconsTar is a tarball of one size of the icons: a PNG signature and
// random bytes (PNG data does not compress), about as large as Debian's.
func iconsTar(icons []icon, size string) ([]byte, error) {
	mean := map[string]int{"48x48": 2000, "64x64": 4400, "128x128": 6200}[size]
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, ic := range icons {
		r := rng("icon/" + size + "/" + ic.pkg)
		n := mean/2 + r.IntN(mean)
		data := make([]byte, n)
		copy(data, "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
		for i := 16; i < n; i += 8 {
			v := r.Uint64()
			for j := 0; j < 8 && i+j < n; j++ {
				data[i+j] = byte(v >> (8 * j))
			}
		}
		if err := tw.WriteHeader(&tar.Header{Name: ic.name, Mode: 0o644, Size: int64(n), ModTime: time.Unix(0, 0), Format: tar.FormatGNU}); err != nil {
			return nil, err
		}
		tw.Write(data)
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ---- debian-installer -----------------------------------------------------------

type udeb struct {
	pkg
	stanza string
}

// udebs writes the udebs of a suite's component to the pool (where not
// there yet) and returns their stanzas, sorted by name.
func (s *suite) udebs(comp string, pkgs []pkg) ([]udeb, error) {
	share, ok := udebShare[s.name]
	if !ok {
		share = 0.01
	}
	var out []udeb
	for _, p := range pkgs {
		h := fnv.New32a()
		h.Write([]byte("udeb/" + p.name))
		if float64(h.Sum32()%100000) >= share*100000 {
			continue
		}
		u := p
		u.name = p.name + "-udeb"
		u.section = "debian-installer"
		deb, err := makeDeb(u)
		if err != nil {
			return nil, err
		}
		prefix := u.source[:1]
		if strings.HasPrefix(u.source, "lib") && len(u.source) > 3 {
			prefix = u.source[:4]
		}
		ver := u.version
		if _, after, ok := strings.Cut(ver, ":"); ok {
			ver = after
		}
		rel := path.Join("pool", comp, prefix, u.source, fmt.Sprintf("%s_%s_%s.udeb", u.name, ver, u.arch))
		dest := filepath.Join(s.root, rel)
		if _, err := os.Stat(dest); err != nil {
			if err := writeFile(dest, deb); err != nil {
				return nil, err
			}
		}
		m, sh := md5.Sum(deb), sha256.Sum256(deb)
		st := fmt.Sprintf("Package: %s\nSource: %s\nVersion: %s\nInstalled-Size: %d\nMaintainer: %s\nArchitecture: %s\nDepends: libc6-udeb\nDescription: %s\nSection: debian-installer\nPriority: optional\nFilename: %s\nSize: %d\nMD5sum: %x\nSHA256: %x\n",
			u.name, u.source, u.version, 8+len(u.name), u.maint, u.arch, u.short, rel, len(deb), m, sh)
		out = append(out, udeb{u, st})
	}
	slices.SortFunc(out, func(a, b udeb) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// makeDeb is a tiny valid (u)deb, as make-upstream's stand-ins.
func makeDeb(p pkg) ([]byte, error) {
	ctl := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: %s\nSection: debian-installer\nPriority: optional\nDescription: %s\n", p.name, p.version, p.arch, p.maint, p.short)
	control, err := tarGz("./control", []byte(ctl))
	if err != nil {
		return nil, err
	}
	data, err := tarGz("./usr/share/doc/"+p.name+"/stand-in", []byte(p.name+" "+p.version+" "+p.arch+"\n"))
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("!<arch>\n")
	for _, m := range []struct {
		name string
		data []byte
	}{{"debian-binary", []byte("2.0\n")}, {"control.tar.gz", control}, {"data.tar.gz", data}} {
		fmt.Fprintf(&b, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", m.name, 0, 0, 0, "100644", len(m.data))
		b.Write(m.data)
		if len(m.data)%2 == 1 {
			b.WriteByte('\n')
		}
	}
	return b.Bytes(), nil
}

func tarGz(name string, data []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: time.Unix(0, 0), Format: tar.FormatGNU}); err != nil {
		return nil, err
	}
	if _, err := io.Copy(tw, bytes.NewReader(data)); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
