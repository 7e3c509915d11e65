// Package repogen generates signed sample upstream APT repositories laid out
// and formatted the way Debian's archive software (dak) writes them, for
// tests and for an offline demo.
//
// A Repo holds suites; each suite has components of binary packages (and,
// optionally, their source packages). Write builds the .debs (and sources)
// into pool/ and writes dists/<suite>/ with Packages{,.gz,.xz} (and
// Sources{,.gz,.xz}), per-directory Release files, by-hash copies, and a
// Release signed as InRelease and Release.gpg.
package repogen

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aptsnap/aptsnap/pgp"
)

// Package is one binary package to put in a sample repository.
type Package struct {
	Name, Version, Arch string // Arch "all" or "amd64" etc.
	// Source is the source package name; empty means Name. The Packages
	// stanza carries a Source field only when it differs from Name.
	Source      string
	Depends     string            // optional
	Description string            // optional, one line
	Files       map[string][]byte // optional data files (path inside the package -> contents); default one doc file
	// Section and Priority, when set, are the package's in its Packages
	// stanza: for a generated package they are written in its control
	// file; for a Deb they replace the control file's, as the archive's
	// override file does in Debian (dak takes them from there, not from
	// the .deb).
	Section, Priority string
	// Deb, when set, is a real binary package (the bytes of a .deb, as
	// `apt-get download` saves it), served as is instead of one generated
	// from the fields above. Its Packages stanza is made from its own
	// control file (debpkg.ReadControl and debpkg.BinaryStanza: what
	// dpkg-scanpackages writes, with Filename, Size, MD5sum, SHA1 and
	// SHA256 of these bytes), and it goes where Debian puts it:
	// pool/<comp>/<prefix>/<source>/<name>_<version without epoch>_<arch>.deb
	// (see PoolPath). Name, Version, Arch and Source are read from the
	// control file (any set here must agree with it); Depends, Description
	// and Files must be empty. A suite with such packages cannot have
	// Sources, Translations, Contents or Dep11 (they would need the
	// package's source and data). Installer udebs may be given so too
	// (then the suite cannot have Contents).
	Deb []byte
}

// Suite is one distribution (dists/<Name>) of a sample repository.
type Suite struct {
	// Name is the suite's directory under dists/, and its Suite and
	// Codename unless set below: "bookworm", or "buster/updates" for
	// Debian's old security layout (Codename "buster").
	Name       string
	Codename   string               // the Release's Codename, if not Name
	SuiteField string               // the Release's Suite, if not Name
	Components map[string][]Package // component -> packages
	// Architectures lists the binary architectures, e.g. ["amd64"]; packages
	// with Arch "all" are listed in every binary-<arch>/Packages.
	Architectures []string
	Date          time.Time // Release Date; zero means now
	ValidUntil    time.Time // optional (zero: no Valid-Until field)
	// Sources also writes <comp>/source/Sources{,.gz,.xz} with a .dsc +
	// .orig.tar.gz + .debian.tar.xz per source package (a .tar.xz alone,
	// format "3.0 (native)", when the version has no Debian revision).
	Sources bool
	// Translations moves long descriptions out of Packages into
	// <comp>/i18n/Translation-en, as Debian does: Packages keep the short
	// description and a Description-md5. The Release lists the plain
	// Translation-en without it being served (as Debian's), .gz and .xz,
	// and <comp>/i18n/Index names them.
	Translations bool
	// Contents writes <comp>/Contents-<arch>.gz (and, with Installer,
	// Contents-udeb-<arch>.gz), listing the plain file without serving it.
	Contents bool
	// Dep11 writes <comp>/dep11/Components-<arch>.yml{,.gz,.xz} and
	// icons-48x48.tar.gz, the AppStream metadata of software centres.
	Dep11 bool
	// Installer are udebs by component, listed in
	// <comp>/debian-installer/binary-<arch>/Packages.
	Installer map[string][]Package
	// Description is the Release Description; empty means
	// "<Label> <Name>" (or just the suite name without a Label).
	Description string
}

// Repo is a sample repository to write.
type Repo struct {
	Dir           string      // output root: Dir/dists/..., Dir/pool/...
	Origin, Label string      // e.g. "Debian"
	Signer        *pgp.Signer // signs InRelease and Release.gpg
	ByHash        bool        // write by-hash copies and "Acquire-By-Hash: yes"
	Suites        []Suite
}

var (
	reName    = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	reVersion = regexp.MustCompile(`^([0-9]+:)?[0-9][A-Za-z0-9.+~-]*$`)
	reArch    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	reComp    = regexp.MustCompile(`^[a-z0-9][a-z0-9._/-]*$`)
	reSection = regexp.MustCompile(`^[a-z0-9][a-z0-9+._/-]*$`)
	reSuite   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*(/[A-Za-z0-9][A-Za-z0-9._+-]*)*$`)
)

func (p Package) source() string {
	if p.Source != "" {
		return p.Source
	}
	return p.Name
}

func (p Package) description() string {
	if p.Description != "" {
		return p.Description
	}
	return "sample package " + p.Name
}

func (p Package) validate() error {
	switch {
	case !reName.MatchString(p.Name):
		return fmt.Errorf("invalid package name %q", p.Name)
	case !reVersion.MatchString(p.Version):
		return fmt.Errorf("package %s: invalid version %q", p.Name, p.Version)
	case !reArch.MatchString(p.Arch):
		return fmt.Errorf("package %s: invalid architecture %q", p.Name, p.Arch)
	case p.Source != "" && !reName.MatchString(p.Source):
		return fmt.Errorf("package %s: invalid source name %q", p.Name, p.Source)
	case strings.ContainsAny(p.Depends+p.Description, "\r\n"):
		return fmt.Errorf("package %s: Depends and Description must be one line", p.Name)
	case p.Section != "" && !reSection.MatchString(p.Section):
		return fmt.Errorf("package %s: invalid section %q", p.Name, p.Section)
	case p.Priority != "" && !reName.MatchString(p.Priority):
		return fmt.Errorf("package %s: invalid priority %q", p.Name, p.Priority)
	}
	return nil
}

// poolPrefix returns the pool subdirectory of a source: its first letter,
// or its first four letters for lib* sources.
func poolPrefix(source string) string {
	if strings.HasPrefix(source, "lib") && len(source) > 3 {
		return source[:4]
	}
	return source[:1]
}

// poolDir returns "pool/<comp>/<prefix>/<source>".
func poolDir(comp, source string) string {
	return path.Join("pool", comp, poolPrefix(source), source)
}

// PoolPath returns where Write puts p's .deb in component comp, relative to
// Dir with slashes (the Filename field of its Packages stanza):
// pool/<comp>/<prefix>/<source>/<name>_<version without epoch>_<arch>.deb.
//
// For a package given as a Deb, the name, version, architecture and source
// are its control file's.
func (r *Repo) PoolPath(comp string, p Package) string {
	if q, _, err := p.resolve(); err == nil {
		p = q
	}
	return poolPath(comp, p)
}

// poolPath is PoolPath for a package whose fields are set.
func poolPath(comp string, p Package) string {
	return path.Join(poolDir(comp, p.source()), p.Name+"_"+noEpoch(p.Version)+"_"+p.Arch+".deb")
}

func (r *Repo) validate() error {
	if r.Dir == "" {
		return errors.New("no output directory (Dir)")
	}
	if r.Signer == nil {
		return errors.New("no Signer")
	}
	if len(r.Suites) == 0 {
		return errors.New("no suite")
	}
	if strings.ContainsAny(r.Origin+r.Label, "\r\n") {
		return errors.New("origin and label must be one line")
	}
	seen := map[string]bool{}
	for _, s := range r.Suites {
		if !reSuite.MatchString(s.Name) {
			return fmt.Errorf("invalid suite name %q", s.Name)
		}
		if seen[s.Name] {
			return fmt.Errorf("suite %s listed twice", s.Name)
		}
		seen[s.Name] = true
		if len(s.Architectures) == 0 {
			return fmt.Errorf("suite %s: no architecture", s.Name)
		}
		for _, a := range s.Architectures {
			if !reArch.MatchString(a) || a == "all" || a == "source" {
				return fmt.Errorf("suite %s: invalid architecture %q", s.Name, a)
			}
		}
		if len(s.Components) == 0 {
			return fmt.Errorf("suite %s: no component", s.Name)
		}
		if strings.ContainsAny(s.Description, "\r\n") {
			return fmt.Errorf("suite %s: Description must be one line", s.Name)
		}
		for comp, pkgs := range s.Installer {
			for _, p := range pkgs {
				if p.Deb != nil && s.Contents {
					return fmt.Errorf("suite %s/%s: udeb %s is given as a .deb: the suite cannot have Contents", s.Name, comp, cmp.Or(p.Name, "(unnamed)"))
				}
			}
		}
		for comp, pkgs := range s.Components {
			if !reComp.MatchString(comp) || slices.Contains(strings.Split(comp, "/"), "..") {
				return fmt.Errorf("suite %s: invalid component %q", s.Name, comp)
			}
			ids := map[string]bool{}
			for _, p := range pkgs {
				p, _, err := p.resolve()
				if err != nil {
					return fmt.Errorf("suite %s/%s: %w", s.Name, comp, err)
				}
				if p.Deb != nil && (s.Sources || s.Translations || s.Contents || s.Dep11) {
					return fmt.Errorf("suite %s/%s: package %s is given as a .deb: the suite cannot have Sources, Translations, Contents or Dep11", s.Name, comp, p.Name)
				}
				if err := p.validate(); err != nil {
					return fmt.Errorf("suite %s/%s: %w", s.Name, comp, err)
				}
				if p.Arch != "all" && !slices.Contains(s.Architectures, p.Arch) {
					return fmt.Errorf("suite %s/%s: package %s is for %s, not among the suite's architectures %v", s.Name, comp, p.Name, p.Arch, s.Architectures)
				}
				id := p.Name + "_" + p.Version + "_" + p.Arch
				if ids[id] {
					return fmt.Errorf("suite %s/%s: package %s listed twice", s.Name, comp, id)
				}
				ids[id] = true
			}
		}
	}
	return nil
}

// components returns the suite's components, "main" first, then sorted.
func (s *Suite) components() []string {
	var out []string
	for c := range s.Components {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == "main":
			return -1
		case b == "main":
			return 1
		}
		return strings.Compare(a, b)
	})
	return out
}

// Write writes the whole repository: pool files first, then, per suite,
// the index files (and by-hash copies), Release, Release.gpg and InRelease
// last, each file atomically (temporary file + rename). dists/ is rewritten:
// files and suites a previous Write left that this one does not produce are
// removed, except by-hash copies, which are kept (as dak does) so that a
// client holding the previous InRelease can still fetch its indices. Pool
// files are added, never rewritten: a pool file that exists with different
// content is an error, reported before anything is written.
//
// Output is deterministic given the same inputs (except signatures, and the
// Date when Suite.Date is zero).
func (r *Repo) Write() error {
	if err := r.validate(); err != nil {
		return fmt.Errorf("repogen: %w", err)
	}
	pool := map[string][]byte{}
	addPool := func(rel string, data []byte) error {
		if old, ok := pool[rel]; ok && !bytes.Equal(old, data) {
			return fmt.Errorf("repogen: two different files for %s (same name, version and architecture with different contents?)", rel)
		}
		pool[rel] = data
		return nil
	}
	var suites []*suiteFiles
	for i := range r.Suites {
		sf, err := r.buildSuite(&r.Suites[i], addPool)
		if err != nil {
			return err
		}
		suites = append(suites, sf)
	}

	// Check the pool before writing anything.
	var poolNames []string
	for rel, data := range pool {
		old, err := os.ReadFile(filepath.Join(r.Dir, filepath.FromSlash(rel)))
		switch {
		case err == nil && !bytes.Equal(old, data):
			return fmt.Errorf("repogen: pool file %s already exists with different content", rel)
		case err == nil:
		case errors.Is(err, fs.ErrNotExist):
			poolNames = append(poolNames, rel)
		default:
			return fmt.Errorf("repogen: check pool: %w", err)
		}
	}
	slices.Sort(poolNames)
	for _, rel := range poolNames {
		if err := writeFileAtomic(filepath.Join(r.Dir, filepath.FromSlash(rel)), pool[rel]); err != nil {
			return fmt.Errorf("repogen: write pool: %w", err)
		}
	}

	var dirs []string
	for _, sf := range suites {
		dirs = append(dirs, filepath.Join(r.Dir, "dists", filepath.FromSlash(sf.name)))
	}
	for i, sf := range suites {
		// A suite's directory may hold another's ("buster" and "buster/updates").
		if err := sf.write(dirs[i], slices.Delete(slices.Clone(dirs), i, i+1)); err != nil {
			return fmt.Errorf("repogen: write dists/%s: %w", sf.name, err)
		}
	}
	return r.removeOtherSuites()
}

// removeOtherSuites deletes dists/<name> directories of suites not in r.
func (r *Repo) removeOtherSuites() error {
	entries, err := os.ReadDir(filepath.Join(r.Dir, "dists"))
	if err != nil {
		return fmt.Errorf("repogen: %w", err)
	}
	for _, e := range entries {
		keep := false
		for _, s := range r.Suites {
			first, _, _ := strings.Cut(s.Name, "/")
			keep = keep || first == e.Name()
		}
		if !keep {
			if err := os.RemoveAll(filepath.Join(r.Dir, "dists", e.Name())); err != nil {
				return fmt.Errorf("repogen: remove old suite: %w", err)
			}
		}
	}
	return nil
}
