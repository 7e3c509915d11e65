// Package branch manages a frozen branch: the serials a consumer's source
// tree builds from.
//
// The tree records, per archive, the serial it builds from in
// config/APT_snapshots.d/<archive>/serial: a serial YYYYMMDDNN, the word
// latest (the archive follows the server's newest snapshot), or
// tagged/<tag>, a tagged snapshot (a stable branch builds from the tagged
// snapshots of its last release; they never expire). The
// archives are the subdirectories of config/APT_snapshots.d; the optional
// config/APT_snapshots.d/aptsnap.toml holds the tree's settings:
//
//	server = "http://127.0.0.1:8080"          # the aptsnap server (a --server flag overrides)
//	freeze_exceptions = ["debian-security"]   # archives that stay latest on freeze
//	exceptions_archive = "mycustom"           # custom archive that receives freeze exceptions
//
// Freeze writes the server's latest serials, thaw writes latest (both
// leave an archive on a tag alone unless it is named), and
// prepare-build resolves the set one build uses and writes it to
// tmp/APT_snapshots.resolved.json (ResolvedPath), where the build reads it.
package branch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/aptsnap/aptsnap/api"
	"github.com/aptsnap/aptsnap/catalog"
	"github.com/aptsnap/aptsnap/names"
)

// Latest is the serial file value of an archive that follows the newest snapshot.
const Latest = "latest"

// TagPrefix starts the serial file value of an archive that builds from a
// tagged snapshot: "tagged/6.1", as in its URL /tagged/6.1/<archive>/.
const TagPrefix = "tagged/"

// Tag returns the tag a serial file value names, if it names one.
func Tag(value string) (string, bool) {
	tag, ok := strings.CutPrefix(value, TagPrefix)
	return tag, ok && names.Tag(tag)
}

// validValue reports whether v may be in a serial file (latest allowed)
// or in a resolved set (not).
func validValue(v string, latestOK bool) bool {
	_, tagged := Tag(v)
	return names.Serial(v) || tagged || (latestOK && v == Latest)
}

// ServerSerial is how the server names the snapshot of a resolved value:
// the serial, or "@" and the tag.
func ServerSerial(value string) string {
	if tag, ok := Tag(value); ok {
		return "@" + tag
	}
	return value
}

// Dir is where a tree keeps its serials, relative to the tree root.
const Dir = "config/APT_snapshots.d"

// SettingsFile is the tree's settings file, relative to the tree root.
const SettingsFile = Dir + "/aptsnap.toml"

// Server is what the branch operations need from an aptsnap server; the
// CLI implements it over the admin API.
type Server interface {
	// Latest returns the archive's newest serial.
	Latest(ctx context.Context, archive string) (string, error)
	// Snapshot describes one snapshot; an error wrapping
	// catalog.ErrNotFound when the server has no such snapshot.
	Snapshot(ctx context.Context, archive, serial string) (api.Snapshot, error)
	// Bump sets the snapshot's Valid-Until to now + days.
	Bump(ctx context.Context, archive, serial string, days int, allowShorten bool) (api.BumpResult, error)
}

// Settings are the contents of aptsnap.toml.
type Settings struct {
	// Server is the aptsnap server's URL.
	Server string `toml:"server"`
	// FreezeExceptions are archives that stay latest on freeze.
	FreezeExceptions []string `toml:"freeze_exceptions"`
	// ExceptionsArchive is the custom archive that receives freeze exceptions.
	ExceptionsArchive string `toml:"exceptions_archive"`
}

// Tree is a source tree's serials, as read by Open and kept up to date by
// the operations that write them. It is not safe for concurrent use.
type Tree struct {
	// Root is the source tree's directory.
	Root string
	// Settings are read from aptsnap.toml (zero when there is none).
	Settings Settings
	serials  map[string]string
}

// Change is what an operation did to one archive's serial file; Old ==
// New when the file was left as it was.
type Change struct {
	Archive string `json:"archive"`
	Old     string `json:"old"`
	New     string `json:"new"`
}

// Changed reports whether the serial file was rewritten.
func (c Change) Changed() bool { return c.Old != c.New }

// Problem is a frozen serial that expires too soon, or is gone.
type Problem struct {
	Archive string `json:"archive"`
	Serial  string `json:"serial"`
	What    string `json:"what"`
}

// Open reads the serials and settings of the source tree at root.
func Open(root string) (*Tree, error) {
	dir := filepath.Join(root, filepath.FromSlash(Dir))
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: no such directory: not a source tree with APT snapshots", dir)
		}
		return nil, err
	}
	t := &Tree{Root: root, serials: map[string]string{}}
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, e.Name(), "serial")
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		v := strings.TrimSpace(string(b))
		if !validValue(v, true) {
			return nil, fmt.Errorf("%s: %q is neither a serial (YYYYMMDDNN), %q nor %s<tag>", p, v, Latest, TagPrefix)
		}
		t.serials[e.Name()] = v
	}

	sp := filepath.Join(root, filepath.FromSlash(SettingsFile))
	md, err := toml.DecodeFile(sp, &t.Settings)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("%s: %w", sp, err)
	default:
		if u := md.Undecoded(); len(u) > 0 {
			keys := make([]string, len(u))
			for i, k := range u {
				keys[i] = k.String()
			}
			return nil, fmt.Errorf("%s: unknown keys: %s", sp, strings.Join(keys, ", "))
		}
	}
	for _, a := range t.Settings.FreezeExceptions {
		if _, ok := t.serials[a]; !ok {
			return nil, fmt.Errorf("%s: freeze_exceptions names %q, which has no %s/%s/serial", sp, a, Dir, a)
		}
	}
	return t, nil
}

// Archives returns the tree's archives, sorted.
func (t *Tree) Archives() []string {
	out := make([]string, 0, len(t.serials))
	for a := range t.serials {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// Serials returns a copy of archive -> serial file value (a serial,
// "latest" or "tagged/<tag>").
func (t *Tree) Serials() map[string]string {
	out := make(map[string]string, len(t.serials))
	for a, s := range t.serials {
		out[a] = s
	}
	return out
}

// SerialPath is the serial file of an archive in the tree at root.
func SerialPath(root, archive string) string {
	return filepath.Join(root, filepath.FromSlash(Dir), archive, "serial")
}

// ResolvedPath is where PrepareBuild writes the resolved serials of the
// tree at root, and where a build reads them:
// <root>/tmp/APT_snapshots.resolved.json, a JSON object archive -> serial.
func ResolvedPath(root string) string {
	return filepath.Join(root, "tmp", "APT_snapshots.resolved.json")
}

// Cat writes "archive: value" lines, sorted by archive.
func (t *Tree) Cat(w io.Writer) error {
	var b bytes.Buffer
	for _, a := range t.Archives() {
		fmt.Fprintf(&b, "%s: %s\n", a, t.serials[a])
	}
	_, err := w.Write(b.Bytes())
	return err
}

// CatJSON writes the serials as one line of JSON, {"archive":"value",...}
// with sorted keys, and a newline.
func (t *Tree) CatJSON(w io.Writer) error {
	_, err := w.Write(marshal(t.serials))
	return err
}

func marshal(m map[string]string) []byte {
	b, err := json.Marshal(m) // sorts keys
	if err != nil {
		panic(err) // cannot happen with a map of strings
	}
	return append(b, '\n')
}

// pick returns the named archives, sorted and without duplicates, or all
// of them when none is named; an unknown archive is an error.
func (t *Tree) pick(archives []string) ([]string, error) {
	if len(archives) == 0 {
		return t.Archives(), nil
	}
	out := slices.Clone(archives)
	sort.Strings(out)
	out = slices.Compact(out)
	for _, a := range out {
		if _, ok := t.serials[a]; !ok {
			return nil, fmt.Errorf("%s: no such archive in %s (archives: %s)", a, Dir, strings.Join(t.Archives(), ", "))
		}
	}
	return out, nil
}

// latest asks the server for an archive's newest serial and checks it.
func latest(ctx context.Context, srv Server, archive string) (string, error) {
	if srv == nil {
		return "", fmt.Errorf("latest serial of %s: no server to ask", archive)
	}
	s, err := srv.Latest(ctx, archive)
	if err != nil {
		return "", fmt.Errorf("latest serial of %s: %w", archive, err)
	}
	if !names.Serial(s) {
		return "", fmt.Errorf("latest serial of %s: server answered %q, not a serial", archive, s)
	}
	return s, nil
}

// GetLatest returns the server's latest serial of the named archives (all
// of the tree's if none is named). It writes nothing.
func (t *Tree) GetLatest(ctx context.Context, srv Server, archives ...string) (map[string]string, error) {
	as, err := t.pick(archives)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(as))
	for _, a := range as {
		s, err := latest(ctx, srv, a)
		if err != nil {
			return nil, err
		}
		out[a] = s
	}
	return out, nil
}

// Freeze writes the server's latest serial for the named archives (all if
// none is named), except that archives listed in freeze_exceptions get
// latest unless exceptionsToo. Every serial is fetched before any file is
// written. It returns one Change per archive, sorted.
func (t *Tree) Freeze(ctx context.Context, srv Server, archives []string, exceptionsToo bool) ([]Change, error) {
	as, err := t.pick(archives)
	if err != nil {
		return nil, err
	}
	want := make(map[string]string, len(as))
	for _, a := range as {
		if _, tagged := Tag(t.serials[a]); tagged && len(archives) == 0 {
			want[a] = t.serials[a] // a tag is frozen already: named, it moves
			continue
		}
		if !exceptionsToo && slices.Contains(t.Settings.FreezeExceptions, a) {
			want[a] = Latest
			continue
		}
		if want[a], err = latest(ctx, srv, a); err != nil {
			return nil, err
		}
	}
	return t.write(as, want)
}

// Thaw writes latest for the named archives (all if none is named).
func (t *Tree) Thaw(archives []string) ([]Change, error) {
	as, err := t.pick(archives)
	if err != nil {
		return nil, err
	}
	want := make(map[string]string, len(as))
	for _, a := range as {
		want[a] = Latest
		if _, tagged := Tag(t.serials[a]); tagged && len(archives) == 0 {
			want[a] = t.serials[a] // a tag stays unless its archive is named
		}
	}
	return t.write(as, want)
}

// write sets the serial files of archives as, in order, rewriting only
// those that change.
func (t *Tree) write(as []string, want map[string]string) ([]Change, error) {
	var out []Change
	for _, a := range as {
		c := Change{Archive: a, Old: t.serials[a], New: want[a]}
		if c.Changed() {
			if err := writeAtomic(SerialPath(t.Root, a), []byte(c.New+"\n")); err != nil {
				return out, err
			}
			t.serials[a] = c.New
		}
		out = append(out, c)
	}
	return out, nil
}

// writeAtomic replaces path's contents by data through a temporary file in
// the same directory and a rename, keeping the file's mode (0644 if new).
func writeAtomic(path string, data []byte) error {
	mode := fs.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		if !renamed {
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	renamed = true
	if d, err := os.Open(dir); err == nil { // best effort: make the rename durable
		d.Sync()
		d.Close()
	}
	return nil
}

// PrepareBuild resolves the serials one build uses and writes them to
// ResolvedPath(t.Root) (creating tmp/), as CatJSON would print them.
//
// Without fromJSON (nil or empty), every latest is resolved to the
// server's latest serial, frozen serials are kept, and a tag is kept once
// the server says it has it. With fromJSON, a JSON object archive ->
// serial (what CatJSON prints, say, at freeze time), the serials are taken
// from it instead and srv is not used: it must name every archive of the
// tree and no other, each with a serial or a tag (latest is refused).
func (t *Tree) PrepareBuild(ctx context.Context, srv Server, fromJSON []byte) (map[string]string, error) {
	var res map[string]string
	if len(bytes.TrimSpace(fromJSON)) > 0 {
		m, err := parseResolved(fromJSON)
		if err != nil {
			return nil, err
		}
		var missing, unknown []string
		for _, a := range t.Archives() {
			if _, ok := m[a]; !ok {
				missing = append(missing, a)
			}
		}
		for a := range m {
			if _, ok := t.serials[a]; !ok {
				unknown = append(unknown, a)
			}
		}
		sort.Strings(unknown)
		switch {
		case len(missing) > 0:
			return nil, fmt.Errorf("serials JSON lacks archives of the tree: %s", strings.Join(missing, ", "))
		case len(unknown) > 0:
			return nil, fmt.Errorf("serials JSON names archives the tree does not have: %s", strings.Join(unknown, ", "))
		}
		res = m
	} else {
		res = make(map[string]string, len(t.serials))
		for _, a := range t.Archives() {
			s := t.serials[a]
			if s == Latest {
				var err error
				if s, err = latest(ctx, srv, a); err != nil {
					return nil, err
				}
			}
			res[a] = s
		}
	}
	if srv != nil {
		if err := Check(ctx, srv, res); err != nil {
			return nil, err
		}
	}
	p := ResolvedPath(t.Root)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	if err := writeAtomic(p, marshal(res)); err != nil {
		return nil, err
	}
	return res, nil
}

// Check asks the server for every snapshot set names (archive -> serial
// or tagged/<tag>), and says which it does not have: a build would fail
// on it, or a source line would name nothing.
func Check(ctx context.Context, srv Server, set map[string]string) error {
	for _, a := range slices.Sorted(maps.Keys(set)) {
		s := set[a]
		_, err := srv.Snapshot(ctx, a, ServerSerial(s))
		switch {
		case err == nil:
		case !errors.Is(err, catalog.ErrNotFound):
			return fmt.Errorf("snapshot %s/%s: %w", a, s, err)
		case strings.HasPrefix(s, TagPrefix):
			return fmt.Errorf("%s builds from %s, which the server does not have (aptsnap tag list shows the tags)", a, s)
		default:
			return fmt.Errorf("%s builds from %s, which the server does not have (collected, or never made): freeze again, or name a serial it has", a, s)
		}
	}
	return nil
}

// parseResolved reads a JSON object archive -> serial, every value a serial.
func parseResolved(data []byte) (map[string]string, error) {
	var m map[string]string
	d := json.NewDecoder(bytes.NewReader(data))
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("serials JSON: %w", err)
	}
	if d.More() {
		return nil, errors.New("serials JSON: more than one value")
	}
	if m == nil {
		return nil, errors.New("serials JSON: not an object")
	}
	for _, a := range slices.Sorted(maps.Keys(m)) {
		if s := m[a]; !validValue(s, false) {
			return nil, fmt.Errorf("serials JSON: %s: %q is neither a serial (YYYYMMDDNN) nor %s<tag>", a, s, TagPrefix)
		}
	}
	return m, nil
}

// LoadResolved reads what PrepareBuild wrote for the tree at root.
func LoadResolved(root string) (map[string]string, error) {
	p := ResolvedPath(root)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("%w (run prepare-build first)", err)
	}
	m, err := parseResolved(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return m, nil
}

// frozen returns the archives whose serial file holds a serial (not
// latest, not a tag), sorted.
func (t *Tree) frozen() []string {
	var out []string
	for _, a := range t.Archives() {
		if names.Serial(t.serials[a]) {
			out = append(out, a)
		}
	}
	return out
}

// tagged returns the archives whose serial file names a tag, sorted.
func (t *Tree) tagged() []string {
	var out []string
	for _, a := range t.Archives() {
		if _, ok := Tag(t.serials[a]); ok {
			out = append(out, a)
		}
	}
	return out
}

// Bump bumps every frozen serial on the server: Valid-Until = now + days.
// Tagged snapshots never expire: there is nothing to bump.
// It stops at the first error, returning the bumps done so far.
func (t *Tree) Bump(ctx context.Context, srv Server, days int, allowShorten bool) ([]api.BumpResult, error) {
	var out []api.BumpResult
	for _, a := range t.frozen() {
		r, err := srv.Bump(ctx, a, t.serials[a], days, allowShorten)
		if err != nil {
			return out, fmt.Errorf("bump %s/%s: %w", a, t.serials[a], err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Expiry checks every frozen serial: a Problem for each snapshot whose
// Valid-Until is before now + minDays days ("expires 2026-12-03T10:00:00Z,
// in 2.5 days", or "expired ..., 1.0 days ago" when the server still has
// it) and for each the server does not have ("gone"). A snapshot without
// Valid-Until never expires: a tagged one, which is only checked to exist.
// Other server errors are returned as errors.
func (t *Tree) Expiry(ctx context.Context, srv Server, minDays int, now time.Time) ([]Problem, error) {
	limit := now.Add(time.Duration(minDays) * 24 * time.Hour)
	var out []Problem
	for _, a := range slices.Concat(t.frozen(), t.tagged()) {
		s := t.serials[a]
		snap, err := srv.Snapshot(ctx, a, ServerSerial(s))
		if errors.Is(err, catalog.ErrNotFound) {
			out = append(out, Problem{Archive: a, Serial: s, What: "gone"})
			continue
		}
		if err != nil {
			return out, fmt.Errorf("snapshot %s/%s: %w", a, s, err)
		}
		vu := snap.ValidUntil
		if vu.IsZero() || !vu.Before(limit) {
			continue
		}
		days := vu.Sub(now).Hours() / 24
		what := fmt.Sprintf("expires %s, in %.1f days", vu.UTC().Format(time.RFC3339), days)
		if !vu.After(now) {
			what = fmt.Sprintf("expired %s, %.1f days ago", vu.UTC().Format(time.RFC3339), -days)
		}
		out = append(out, Problem{Archive: a, Serial: s, What: what})
	}
	return out, nil
}
