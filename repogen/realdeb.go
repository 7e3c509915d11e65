package repogen

import (
	"bytes"
	"cmp"
	"fmt"

	"github.com/aptsnap/aptsnap/deb822"
	"github.com/aptsnap/aptsnap/debpkg"
)

// resolve returns p with Name, Version, Arch and Source read from the
// control file of its Deb, and that control file; a generated package (no
// Deb) is returned as is, with no control file.
func (p Package) resolve() (Package, []byte, error) {
	if p.Deb == nil {
		return p, nil, nil
	}
	what := cmp.Or(p.Name, "given as a .deb")
	control, err := debpkg.ReadControl(bytes.NewReader(p.Deb), int64(len(p.Deb)))
	if err != nil {
		return p, nil, fmt.Errorf("package %s: %w", what, err)
	}
	c, err := debpkg.ParseControl(control)
	if err != nil {
		return p, nil, fmt.Errorf("package %s: %w", what, err)
	}
	for _, f := range []struct{ field, given, read string }{
		{"name", p.Name, c.Package}, {"version", p.Version, c.Version},
		{"architecture", p.Arch, c.Architecture}, {"source", p.Source, c.Source},
	} {
		if f.given != "" && f.given != f.read {
			return p, nil, fmt.Errorf("package %s: %s %q, but its .deb says %q", what, f.field, f.given, f.read)
		}
	}
	if p.Depends != "" || p.Description != "" || len(p.Files) > 0 {
		return p, nil, fmt.Errorf("package %s: Depends, Description and Files come from its .deb: leave them empty", c.Package)
	}
	p.Name, p.Version, p.Arch, p.Source = c.Package, c.Version, c.Architecture, ""
	if c.Source != c.Package {
		p.Source = c.Source
	}
	return p, control, nil
}

// makeBinary returns p as a binary of component comp whose pool file name
// ends in ext (".deb" or ".udeb"): a generated package is built; a Deb is
// taken as is, with its Packages stanza made from its own control file.
func (r *Repo) makeBinary(comp string, p Package, ext string) (binary, error) {
	if p.Deb == nil {
		deb, control, err := buildDeb(p)
		if err != nil {
			return binary{}, err
		}
		name := r.PoolPath(comp, p)
		if ext != ".deb" {
			name = name[:len(name)-len(".deb")] + ext
		}
		return binary{Package: p, filename: name, control: control, deb: deb, size: int64(len(deb))}, nil
	}
	q, control, err := p.resolve()
	if err != nil {
		return binary{}, fmt.Errorf("repogen: %w", err)
	}
	if err := q.validate(); err != nil {
		return binary{}, fmt.Errorf("repogen: %w", err)
	}
	if control, err = overrideFields(control, q.Section, q.Priority); err != nil {
		return binary{}, fmt.Errorf("repogen: package %s: %w", q.Name, err)
	}
	name := poolPath(comp, q)
	if ext != ".deb" {
		name = name[:len(name)-len(".deb")] + ext
	}
	stanza, err := debpkg.BinaryStanza(control, name, int64(len(q.Deb)), md5Hex(q.Deb), sha1Hex(q.Deb), sha256Hex(q.Deb))
	if err != nil {
		return binary{}, fmt.Errorf("repogen: package %s: %w", q.Name, err)
	}
	return binary{Package: q, filename: name, control: string(control), deb: q.Deb, size: int64(len(q.Deb)), fixed: string(stanza)}, nil
}

// overrideFields returns control with its Section and Priority replaced by
// section and priority where they are set.
func overrideFields(control []byte, section, priority string) ([]byte, error) {
	if section == "" && priority == "" {
		return control, nil
	}
	para, err := deb822.NewReader(bytes.NewReader(control)).Next()
	if err != nil {
		return nil, fmt.Errorf("control file: %w", err)
	}
	if section != "" {
		para.Set("Section", section)
	}
	if priority != "" {
		para.Set("Priority", priority)
	}
	var out bytes.Buffer
	if err := deb822.NewWriter(&out).Write(para); err != nil {
		return nil, fmt.Errorf("control file: %w", err)
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}
