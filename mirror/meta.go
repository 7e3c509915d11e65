package mirror

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/config"
	"github.com/aptsnap/aptsnap/deb822"
	"github.com/aptsnap/aptsnap/index"
	"github.com/aptsnap/aptsnap/release"
)

// A suite's metadata are its index files besides the pool indices
// (Packages, Sources): translations (i18n/), Contents-<arch> for apt-file,
// AppStream metadata and icons (dep11/). They are mirrored byte for byte,
// every variant upstream serves, and nothing in them is parsed but
// i18n/Index, checked against the translations it names.

// metaBase returns the path of a Release-listed file without its
// compression extension, and whether archive a mirrors it. upstreamArchs
// are the architectures the Release lists.
func metaBase(a *config.Archive, upstreamArchs []string, p string) (string, bool) {
	if strings.Contains(p, ".diff/") || strings.Contains(p, "/by-hash/") {
		return "", false // pdiffs: APT falls back to the full index
	}
	base := p
	for _, ext := range compressions[1:] {
		if b, ok := strings.CutSuffix(p, ext); ok {
			base = b
			break
		}
	}
	rest, top := base, true
	for _, c := range a.Components {
		if r, ok := strings.CutPrefix(base, c+"/"); ok {
			rest, top = r, false
			break
		}
	}
	arch := func(x string) bool { return x == "all" || slices.Contains(a.Architectures, x) }
	if x, ok := strings.CutPrefix(rest, "Contents-"); ok {
		// Debian has them per component, Ubuntu at the top of the suite.
		if !a.Contents {
			return "", false
		}
		switch udeb, isUdeb := strings.CutPrefix(x, "udeb-"); {
		case x == "source":
			return base, a.Sources
		case isUdeb:
			return base, a.Installer && arch(udeb)
		default:
			return base, arch(x)
		}
	}
	if top {
		return "", false
	}
	if lang, ok := strings.CutPrefix(rest, "i18n/Translation-"); ok {
		return base, a.Language(lang)
	}
	if rest == "i18n/Index" {
		// It names every language: kept only when every one is.
		return base, a.AllLanguages()
	}
	if name, ok := strings.CutPrefix(rest, "dep11/"); ok && a.DEP11 {
		for _, x := range upstreamArchs {
			if !arch(x) && strings.Contains(name, "-"+x+".") {
				return "", false
			}
		}
		return base, !strings.Contains(name, "/")
	}
	return "", false
}

// fetchMeta fetches every compressed variant upstream serves of the
// metadata archive a mirrors, and returns them, sorted, with the plain
// files the Release lists, derived from a compressed variant (see
// index.DerivedFrom) rather than fetched: APT only fetches an index whose
// plain name the Release lists, Debian serves few, and they are the
// largest. A plain file is fetched only when no variant we can read is
// served. A file none of whose variants is served fails the pulse. prev
// are the files of the suite in the archive's newest snapshot: a plain
// file checked there already is not decompressed again.
func (m *Mirror) fetchMeta(ctx context.Context, a *config.Archive, base string, rel *release.Release, prev map[string]catalog.IndexFile) (files, derived []release.File, err error) {
	upstreamArchs := strings.Fields(rel.Get("Architectures"))
	groups := map[string][]release.File{}
	for p, f := range rel.Files {
		if b, ok := metaBase(a, upstreamArchs, p); ok {
			groups[b] = append(groups[b], f)
		}
	}
	for _, b := range slices.Sorted(maps.Keys(groups)) {
		vs := groups[b]
		slices.SortFunc(vs, func(x, y release.File) int { return strings.Compare(x.Path, y.Path) })
		var plain *release.File
		served := map[string]catalog.IndexFile{}
		for _, f := range vs {
			if f.Path == b {
				plain = &f // last: made from a compressed variant if one is served
				continue
			}
			err := m.fetchListed(ctx, base, rel, f)
			if errors.Is(err, errNotFound) {
				continue
			}
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", f.Path, err)
			}
			files = append(files, f)
			served[f.Path] = indexFile(f)
		}
		from, derivable := index.DerivedFrom(served, b)
		if plain != nil && !derivable {
			// No variant we can read: the plain file if upstream serves it.
			err := m.fetchListed(ctx, base, rel, *plain)
			switch {
			case err == nil:
				files = append(files, *plain)
				served[plain.Path] = indexFile(*plain)
			case !errors.Is(err, errNotFound):
				return nil, nil, fmt.Errorf("%s: %w", plain.Path, err)
			}
			plain = nil
		}
		if len(served) == 0 {
			return nil, nil, fmt.Errorf("%w: upstream Release lists %s, but serves none of its variants", errNotFound, b)
		}
		if plain == nil {
			continue
		}
		// The plain file is never fetched (Debian does not serve most, and
		// it is the largest variant): it is served decompressed from one,
		// once checked to be what the Release says.
		if p := indexFile(*plain); prev[b] != p || prev[from.Path] != from {
			rc, err := index.OpenDerived(ctx, m.store, p, from)
			if err == nil {
				_, err = io.Copy(io.Discard, rc)
				rc.Close()
			}
			if err != nil {
				return nil, nil, fmt.Errorf("%s (listed, not served, made from %s): %w", b, path.Base(from.Path), err)
			}
		}
		derived = append(derived, *plain)
	}
	for _, f := range files {
		if path.Base(f.Path) == "Index" && path.Base(path.Dir(f.Path)) == "i18n" {
			if err := m.checkI18nIndex(ctx, f, files); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", f.Path, err)
			}
		}
	}
	return files, derived, nil
}

func indexFile(f release.File) catalog.IndexFile {
	return catalog.IndexFile{Path: f.Path, SHA256: f.SHA256, Size: f.Size}
}

// maxI18nIndex bounds an i18n/Index: a few lines per language.
const maxI18nIndex = 1 << 20

// checkI18nIndex checks that every translation an i18n/Index names is
// served, with the size and SHA1 the Index gives it: APT trusts the Index
// to say which translations exist.
func (m *Mirror) checkI18nIndex(ctx context.Context, idx release.File, served []release.File) error {
	if idx.Size > maxI18nIndex {
		return fmt.Errorf("%d bytes: an i18n/Index is a few lines per language", idx.Size)
	}
	data, err := m.store.ReadFile(ctx, idx.SHA256, nil)
	if err != nil {
		return err
	}
	dir := path.Dir(idx.Path)
	sc := deb822.NewScanner(data)
	for sc.Scan() {
		for line := range strings.Lines(string(sc.Field("SHA1"))) {
			fields := strings.Fields(line)
			if len(fields) == 0 {
				continue
			}
			if len(fields) != 3 {
				return fmt.Errorf("malformed SHA1 line %q", strings.TrimSpace(line))
			}
			size, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return fmt.Errorf("malformed size in %q", strings.TrimSpace(line))
			}
			i := slices.IndexFunc(served, func(f release.File) bool { return f.Path == dir+"/"+fields[2] })
			if i < 0 {
				return fmt.Errorf("%w: it names %s, which upstream does not serve", errNotFound, fields[2])
			}
			if served[i].Size != size {
				return fmt.Errorf("it gives %s %d bytes, the Release %d", fields[2], size, served[i].Size)
			}
			rc, _, err := m.store.Open(ctx, served[i].SHA256)
			if err != nil {
				return err
			}
			h := sha1.New()
			_, err = io.Copy(h, rc)
			rc.Close()
			if err != nil {
				return err
			}
			if fmt.Sprintf("%x", h.Sum(nil)) != strings.ToLower(fields[0]) {
				return fmt.Errorf("the SHA1 it gives %s does not match the file", fields[2])
			}
		}
	}
	return sc.Err()
}
