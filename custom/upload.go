package custom

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/aptsnap/aptsnap/blob"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/deb822"
	"github.com/aptsnap/aptsnap/debpkg"
	"github.com/aptsnap/aptsnap/errdefs"
	"github.com/aptsnap/aptsnap/pgp"
	"github.com/aptsnap/aptsnap/repo"
)

// Add imports .deb and .udeb files (control read from the package), .dsc
// files with the files they list, and .changes files with theirs
// (signature checked against the archive's keyring when one is
// configured), then makes the archive's next snapshot. Any refusal (a bad
// checksum or signature, a file missing, a same-version upload with other
// content) changes nothing.
func (x *Archives) Add(ctx context.Context, req AddRequest) (Result, error) {
	res := Result{Archive: req.Archive, Suite: req.Suite}
	cu, err := x.custom(req.Archive)
	if err != nil {
		return res, err
	}
	if err := guard(cu, "repo add", req.Suite, req.Update); err != nil {
		return res, err
	}
	comp := req.Component
	if comp == "" {
		comp = cu.Components[0]
	}
	if !slices.Contains(cu.Components, comp) {
		return res, errdefs.Errorf(errdefs.ErrInvalid, "repo add: component %q is not one of %s", comp, strings.Join(cu.Components, ", "))
	}
	up, err := planUpload(cu, req.Files)
	if err != nil {
		return res, fmt.Errorf("repo add: %w", err)
	}
	snap, err := x.edit(ctx, req.Archive, &res, func(suites map[string]*repo.Suite) error {
		s, err := suiteOf(suites, req.Archive, req.Suite)
		if err != nil {
			return err
		}
		entries, err := x.storeUpload(ctx, up, comp)
		if err != nil {
			return fmt.Errorf("repo add: %w", err)
		}
		for _, e := range entries {
			if err := addEntry(s, e, cu.MultipleVersions, &res); err != nil {
				return fmt.Errorf("repo add: %w", err)
			}
		}
		return nil
	}, nil, req.Publish)
	x.created(ctx, snap)
	return res, err
}

// UploadFiles returns the given files and those the .dsc and .changes
// among them list (a .changes may list a .dsc, which lists more), taken
// from the listing file's directory: everything an import of the given
// files needs, for a client to send. Signatures are checked by the import.
func UploadFiles(files []string) ([]string, error) {
	out := append([]string(nil), files...)
	seen := map[string]bool{}
	for _, f := range files {
		seen[filepath.Clean(f)] = true
	}
	for i := 0; i < len(out); i++ {
		f := out[i]
		var listed []debpkg.File
		switch filepath.Ext(f) {
		case ".dsc":
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			d, err := debpkg.ParseDSC(data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			listed = d.Files
		case ".changes":
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			c, err := debpkg.ParseChanges(data, nil)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			listed = c.Files
		}
		for _, l := range listed {
			p := filepath.Clean(filepath.Join(filepath.Dir(f), l.Name))
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// upload is the checked plan of an import: the binary packages and the
// source packages (each .dsc with the files it lists), by path.
type upload struct {
	debs []string
	dscs []string
	// srcs are the .dsc files read and checked, in the order of dscs.
	srcs []source
	// files are the given files by base name.
	files map[string]string
}

// source is one .dsc of an upload.
type source struct {
	name string // base name
	data []byte
	dsc  *debpkg.DSC
}

// planUpload sorts the given files, expands .changes files into the
// packages they list and checks every listed file's size and checksums.
func planUpload(cu *config.Custom, paths []string) (*upload, error) {
	if len(paths) == 0 {
		return nil, errdefs.Errorf(errdefs.ErrInvalid, "no file given")
	}
	up := &upload{files: map[string]string{}}
	for _, p := range paths {
		base := filepath.Base(p)
		if _, dup := up.files[base]; dup {
			return nil, errdefs.Errorf(errdefs.ErrInvalid, "%s given twice", base)
		}
		up.files[base] = p
	}
	listed := map[string]bool{}
	addPkg := func(p string) {
		switch filepath.Ext(p) {
		case ".deb", ".udeb":
			if !slices.Contains(up.debs, p) {
				up.debs = append(up.debs, p)
			}
		case ".dsc":
			if !slices.Contains(up.dscs, p) {
				up.dscs = append(up.dscs, p)
			}
		}
	}
	var kr *pgp.Keyring
	for _, p := range paths {
		switch filepath.Ext(p) {
		case ".changes":
			if kr == nil && cu.Keyring != "" {
				var err error
				if kr, err = pgp.LoadKeyring(cu.Keyring); err != nil {
					return nil, err
				}
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return nil, err
			}
			ch, err := debpkg.ParseChanges(data, kr)
			if err != nil {
				return nil, errdefs.Errorf(errdefs.ErrInvalid, "%s: %w", filepath.Base(p), err)
			}
			for _, f := range ch.Files {
				if err := up.check(filepath.Base(p), f); err != nil {
					return nil, err
				}
				listed[f.Name] = true
				addPkg(up.files[f.Name])
			}
			listed[filepath.Base(p)] = true
		case ".deb", ".udeb", ".dsc":
			addPkg(p)
		}
	}
	for _, p := range up.dscs {
		src, err := readDSC(p)
		if err != nil {
			return nil, err
		}
		for _, f := range src.dsc.Files {
			if err := up.check(src.name, f); err != nil {
				return nil, err
			}
			listed[f.Name] = true
		}
		up.srcs = append(up.srcs, src)
	}
	for base, p := range up.files {
		switch filepath.Ext(p) {
		case ".deb", ".udeb", ".dsc", ".changes":
		default:
			if !listed[base] {
				return nil, errdefs.Errorf(errdefs.ErrInvalid, "%s is not a package (.deb, .udeb, .dsc, .changes) nor listed by one", base)
			}
		}
	}
	return up, nil
}

// check verifies that a file a .changes or .dsc lists was given, with the
// listed size and checksums.
func (up *upload) check(by string, f debpkg.File) error {
	p, ok := up.files[f.Name]
	if !ok {
		return errdefs.Errorf(errdefs.ErrInvalid, "%s lists %s, which was not given", by, f.Name)
	}
	in, err := os.Open(p)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := f.Verify(in); err != nil {
		return errdefs.Errorf(errdefs.ErrInvalid, "%s: %w", by, err)
	}
	return nil
}

func readDSC(p string) (source, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return source{}, err
	}
	dsc, err := debpkg.ParseDSC(data)
	if err != nil {
		return source{}, errdefs.Errorf(errdefs.ErrInvalid, "%s: %w", filepath.Base(p), err)
	}
	return source{name: filepath.Base(p), data: data, dsc: dsc}, nil
}

// storeUpload stores the upload's files and returns their index entries.
func (x *Archives) storeUpload(ctx context.Context, up *upload, comp string) ([]repo.Entry, error) {
	var out []repo.Entry
	for _, p := range up.debs {
		e, err := x.storeDeb(ctx, p, comp)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(p), err)
		}
		out = append(out, e)
	}
	for _, src := range up.srcs {
		for _, f := range src.dsc.Files {
			if _, err := x.storeFile(ctx, up.files[f.Name]); err != nil {
				return nil, err
			}
		}
		if _, err := x.o.Store.Put(ctx, bytes.NewReader(src.data), blob.Digest{}, int64(len(src.data))); err != nil {
			return nil, err
		}
		stanza, err := debpkg.SourceStanza(src.dsc, src.name, src.data, debpkg.PoolDir(comp, src.dsc.Source))
		if err != nil {
			return nil, errdefs.Errorf(errdefs.ErrInvalid, "%s: %w", src.name, err)
		}
		e, err := repo.NewEntry(repo.Source, comp, stanza)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// storeDeb stores one binary package under its pool path and returns its
// Packages entry.
func (x *Archives) storeDeb(ctx context.Context, p, comp string) (repo.Entry, error) {
	f, err := os.Open(p)
	if err != nil {
		return repo.Entry{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return repo.Entry{}, err
	}
	control, err := debpkg.ReadControl(f, st.Size())
	if err != nil {
		return repo.Entry{}, errdefs.Errorf(errdefs.ErrInvalid, "%w", err)
	}
	sc := deb822.NewScanner(control)
	if !sc.Scan() {
		return repo.Entry{}, errdefs.Errorf(errdefs.ErrInvalid, "empty control file")
	}
	pkg, ver, arch := string(sc.Field("Package")), string(sc.Field("Version")), string(sc.Field("Architecture"))
	src, _, _ := strings.Cut(strings.TrimSpace(string(sc.Field("Source"))), " ")
	if src == "" {
		src = pkg
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return repo.Entry{}, err
	}
	m5, s1 := md5.New(), sha1.New()
	info, err := x.o.Store.Put(ctx, io.TeeReader(f, io.MultiWriter(m5, s1)), blob.Digest{}, st.Size())
	if err != nil {
		return repo.Entry{}, err
	}
	kind := repo.Deb
	if filepath.Ext(p) == ".udeb" {
		kind = repo.Udeb
	}
	_, noEpoch, ok := strings.Cut(ver, ":")
	if !ok {
		noEpoch = ver
	}
	name := fmt.Sprintf("%s/%s_%s_%s.%s", debpkg.PoolDir(comp, src), pkg, noEpoch, arch, kind)
	stanza, err := debpkg.BinaryStanza(control, name, info.Size, hex.EncodeToString(m5.Sum(nil)),
		hex.EncodeToString(s1.Sum(nil)), info.Digest.String())
	if err != nil {
		return repo.Entry{}, errdefs.Errorf(errdefs.ErrInvalid, "%w", err)
	}
	return repo.NewEntry(kind, comp, stanza)
}

func (x *Archives) storeFile(ctx context.Context, p string) (blob.Info, error) {
	f, err := os.Open(p)
	if err != nil {
		return blob.Info{}, err
	}
	defer f.Close()
	return x.o.Store.Put(ctx, f, blob.Digest{}, -1)
}
